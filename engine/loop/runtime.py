"""Where the loop's bots run: the ``Runtime`` protocol and the bots of this process.

Every run of a plan, whatever started it (``rpa run``, ``rpa demo``, the daemon's worker, a Dask
worker), goes through ``Batch`` in ``engine.loop.loop`` and one ``Runtime``: ``LocalRuntime`` here
(one Chromium, an isolated context per run) or ``engine.cluster.ClusterRuntime`` (Dask workers,
which call the same ``bots.runner.run_in_context``). The choice is made where the loop is composed
(``LoopDeps.default``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from loguru import logger

from bots.runner import RunContext, RunResult, Session
from engine.config import Settings
from engine.plan import Plan


class Runtime(Protocol):
    """Bots that replay plans: each ``run`` gets a fresh isolated browser context."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def restart(self) -> None: ...
    def alive(self) -> bool: ...
    def slots(self, requested: int) -> int: ...
    async def run(self, plan: Plan, ctx: RunContext) -> RunResult: ...


class LocalRuntime:
    """One Chromium in this process; ``session`` lends the planner a live page to act on."""

    def __init__(self, settings: Settings, *, headed: bool = False) -> None:
        self.settings, self.headed = settings, headed
        self._cm: Any = None
        self.browser: Any = None
        self.config: Any = None
        self._lock = asyncio.Lock()
        self.launches = 0

    async def start(self) -> None:
        from bots.browser import BrowserConfig, launch

        kw: dict[str, Any] = {"headless": not self.headed and self.settings.headless,
                              "default_timeout_ms": self.settings.step_timeout_ms}
        if self.settings.chromium:
            kw["executable_path"] = self.settings.chromium
        self.config = BrowserConfig(**kw)
        self._cm = launch(self.config)
        self.browser = await self._cm.__aenter__()
        self.launches += 1

    async def close(self) -> None:
        cm, self._cm, self.browser = self._cm, None, None
        if cm is not None:
            try:
                await cm.__aexit__(None, None, None)
            except Exception as err:  # noqa: BLE001 - a crashed browser cannot be closed cleanly; it is gone
                logger.debug("loop: closing the browser: {}", err)

    def alive(self) -> bool:
        return self.browser is not None and bool(self.browser.is_connected())

    def slots(self, requested: int) -> int:
        """Bots that may run at once: as many contexts as asked for."""
        return requested

    async def restart(self) -> None:
        async with self._lock:
            if self.alive():
                return
            logger.warning("loop: the browser is gone; relaunching it")
            await self.close()
            await self.start()

    async def run(self, plan: Plan, ctx: RunContext) -> RunResult:
        from bots.runner import run_in_context

        async with self._context() as context:
            return await run_in_context(context, plan, ctx)

    @asynccontextmanager
    async def session(self, plan: Plan, ctx: RunContext) -> AsyncIterator[Session]:
        """A bot session the planner performs steps through; the caller calls ``finish``."""
        from bots.runner import Bot

        async with self._context() as context:
            yield await Bot(context).start(plan, ctx)

    @asynccontextmanager
    async def _context(self) -> AsyncIterator[Any]:
        from bots.browser import new_context

        if not self.alive():
            await self.restart()
        context = await new_context(self.browser, self.config)
        try:
            yield context
        finally:
            try:
                await context.close()
            except Exception:  # noqa: BLE001 - a crashed browser cannot close its contexts; nothing to keep
                pass
