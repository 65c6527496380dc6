"""What the loop needs from the rest of the framework, passed in as one dataclass.

``LoopDeps.default(settings)`` wires the real planner, scheduler, history and Playwright bots; tests
and benchmarks may swap a part (another history, no planner). Imports of the bots (and so of
Playwright) happen here, lazily, never in ``engine.loop.loop``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from loguru import logger

from bots.runner import RunContext
from engine.config import Settings, get_settings
from engine.outcome import RunOutcome
from engine.plan import Plan


class Runtime(Protocol):
    """A pool of bots over one browser: each ``run`` gets a fresh isolated context."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def restart(self) -> None: ...
    def alive(self) -> bool: ...
    async def run(self, plan: Plan, ctx: Any, *, observe_on_failure: bool) -> tuple[RunOutcome, Any]: ...


# What a bot needs for one run: the bots' own RunContext (plain data; importing it starts nothing).
RunSpec = RunContext


def secret_resolver(settings: Settings, given: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """Given values, then the secret store, then ``RPA_SECRET_<NAME>`` (engine.runs' rules)."""
    from engine.runs import secret_resolver as resolver

    return resolver(settings, given)


class PlaywrightRuntime:
    """The real bots: one Chromium, ``size`` concurrent contexts (bots.browser.BotPool)."""

    def __init__(self, settings: Settings, size: int, *, headed: bool = False) -> None:
        self.settings, self.size, self.headed = settings, size, headed
        self._cm: Any = None
        self.browser: Any = None
        self.pool: Any = None
        self._lock = asyncio.Lock()
        self.launches = 0

    def _config(self) -> Any:
        from bots.browser import BrowserConfig

        kw: dict[str, Any] = {"headless": not self.headed and self.settings.headless,
                              "default_timeout_ms": self.settings.step_timeout_ms}
        if self.settings.chromium:
            kw["executable_path"] = self.settings.chromium
        try:
            return BrowserConfig(**kw)
        except TypeError:
            return BrowserConfig(headless=kw["headless"])

    async def start(self) -> None:
        from bots import browser as b

        self._cm = b.launch(self._config())
        self.browser = await self._cm.__aenter__()
        pool_cls = getattr(b, "BotPool", None)
        self.pool = pool_cls(self.browser, self.size) if pool_cls is not None else None
        self.launches += 1

    async def close(self) -> None:
        cm, self._cm = self._cm, None
        if cm is not None:
            try:
                await cm.__aexit__(None, None, None)
            except Exception as err:  # a crashed browser cannot be closed cleanly; it is gone anyway
                logger.debug("loop: closing the browser: {}", err)

    def alive(self) -> bool:
        return self.browser is not None and bool(self.browser.is_connected())

    async def restart(self) -> None:
        async with self._lock:
            if self.alive():
                return
            logger.warning("loop: the browser is gone; relaunching it")
            await self.close()
            await self.start()

    async def run(self, plan: Plan, spec: RunSpec, *, observe_on_failure: bool) -> tuple[RunOutcome, Any]:
        from bots.runner import Bot

        ctx = spec
        context = await self._new_context()
        try:
            bot = Bot(context)
            outcome = await bot.run(plan, ctx)
            observation = None
            if observe_on_failure and not outcome.ok and self.alive():
                observation = await _observe(getattr(bot, "page", None))
            return outcome, observation
        finally:
            try:
                await context.close()
            except Exception:  # a crashed browser cannot close its contexts; nothing to keep
                pass

    async def _new_context(self) -> Any:
        # One isolated context per run; the pool (when bots.browser offers one) sets its defaults.
        maker = getattr(self.pool, "new_context", None)
        if callable(maker):
            return await maker()
        return await self.browser.new_context(accept_downloads=True)


async def _observe(page: Any) -> Any:
    if page is None:
        return None
    try:
        from bots.observe import observe
    except ImportError:
        return None
    try:
        return await observe(page)
    except Exception as err:  # the page may be gone; repair then has nothing to look at
        logger.warning("loop: cannot observe the page for repair: {}", err)
        return None


def _default_planner_factory(settings: Settings) -> Callable[[], Any]:
    def make() -> Any:
        try:
            from engine.planner import get_planner
        except ImportError:
            return None
        return get_planner(settings)

    return make


def _default_solve() -> Callable[..., Any] | None:
    try:
        from engine.scheduler import solve
    except ImportError:
        return None
    return solve


@dataclass
class LoopDeps:
    settings: Settings
    history: Any
    planner_factory: Callable[[], Any]
    solve: Callable[..., Any] | None
    runtime_factory: Callable[[int, bool], Runtime]
    secret: Callable[[str], str]
    write_report: Callable[..., Any] | None = None
    write_batch_report: Callable[..., Any] | None = None
    repair_with_planner: bool = True
    backoff_base_s: float = 0.25
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def default(cls, settings: Settings | None = None, *, secrets: Mapping[str, str] | None = None) -> LoopDeps:
        from engine.history import History

        settings = (settings or get_settings()).ensure()
        try:
            from engine.report import write_batch_report, write_report
        except ImportError:
            write_report = write_batch_report = None  # type: ignore[assignment]
        return cls(
            settings=settings,
            history=History(settings),
            planner_factory=_default_planner_factory(settings),
            solve=_default_solve(),
            runtime_factory=lambda size, headed: PlaywrightRuntime(settings, size, headed=headed),
            secret=secret_resolver(settings, secrets),
            write_report=write_report,
            write_batch_report=write_batch_report,
        )
