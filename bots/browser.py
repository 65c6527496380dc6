"""Launching Chromium and handing out isolated browser contexts to bots.

One browser process serves every bot of a machine; each bot gets its own ``BrowserContext``
(cookies, storage and downloads are not shared), which is how Playwright isolates tests too.
System Chromium (Debian's ``/usr/bin/chromium``) is preferred; without it Playwright's own build
is used (``playwright install chromium``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from engine.config import find_chromium
from engine.errors import ConfigError

# Containers have no user namespaces, no GPU and a small /dev/shm; background networking would
# reach out to Google even offline.
DEFAULT_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    # WebRTC may send UDP only through the proxy, and the fence proxy carries no UDP (bots/fence.py).
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)


@dataclass(frozen=True)
class BrowserConfig:
    """How to start Chromium. Defaults work offline on a Debian machine with ``chromium`` installed."""

    headless: bool = True
    executable_path: str | None = field(default_factory=find_chromium)
    args: tuple[str, ...] = DEFAULT_ARGS
    default_timeout_ms: int = 10_000
    slow_mo_ms: int = 0
    viewport: tuple[int, int] = (1280, 800)
    locale: str = "en-US"
    # Every connection of a context goes through its own SOCKS5 fence (bots/fence.py), which a plan's
    # allowed_domains close; service workers are blocked (their requests escape request routing).
    socks_fence: bool = True
    service_workers: str = "block"  # or "allow"


@asynccontextmanager
async def launch(config: BrowserConfig | None = None) -> AsyncIterator[Any]:
    """Start Playwright and Chromium; yields a Playwright ``Browser`` and closes both on exit."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    config = config or BrowserConfig()
    if config.executable_path and not os.path.exists(config.executable_path):
        raise ConfigError(
            f"Browser.launch: Chromium not found at {config.executable_path}. "
            "Install it (apt-get install chromium) or unset RPA_CHROMIUM to use Playwright's build."
        )
    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(
                headless=config.headless,
                executable_path=config.executable_path,
                args=list(config.args),
                slow_mo=config.slow_mo_ms or None,
            )
        except PlaywrightError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            hint = ("Run `playwright install chromium`." if not config.executable_path
                    else "Check that this Chromium starts: run it with --headless --version.")
            raise ConfigError(f"Browser.launch: Chromium did not start ({first}). {hint}") from None
        logger.debug("browser: Chromium {} started (headless={})", browser.version, config.headless)
        try:
            yield browser
        finally:
            try:
                await browser.close()
            except PlaywrightError:  # already gone (crashed or killed): nothing left to close
                pass


async def new_context(browser: Any, config: BrowserConfig | None = None) -> Any:
    """One isolated context with the framework's defaults (downloads on, fixed viewport and locale,
    no service workers, its connections through a ``SocksFence`` that ``DomainFence`` closes)."""
    from bots.fence import SocksFence, bind_socks

    config = config or BrowserConfig()
    width, height = config.viewport
    socks = await SocksFence.start() if config.socks_fence else None
    try:
        context = await browser.new_context(
            accept_downloads=True, viewport={"width": width, "height": height}, locale=config.locale,
            service_workers=config.service_workers, proxy=socks.playwright_proxy if socks else None,
        )
    except BaseException:
        if socks is not None:
            socks.close()
        raise
    if socks is not None:
        bind_socks(context, socks)
    context.set_default_timeout(config.default_timeout_ms)
    return context


class BotPool:
    """At most ``size`` concurrent contexts in one browser; ``async with pool.slot() as context``.

    ``new_context()`` makes a context without waiting for a slot (the caller limits concurrency).
    """

    def __init__(self, browser: Any, size: int, config: BrowserConfig | None = None) -> None:
        if size < 1:
            raise ConfigError(f"BotPool: size must be at least 1, got {size}.")
        self.browser, self.size, self.config = browser, size, config or BrowserConfig()
        self._slots = asyncio.Semaphore(size)
        self.active = 0

    async def new_context(self) -> Any:
        return await new_context(self.browser, self.config)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Any]:
        async with self._slots:
            context = await self.new_context()
            self.active += 1
            try:
                yield context
            finally:
                self.active -= 1
                try:
                    await context.close()
                except Exception:  # noqa: BLE001 - a crashed browser cannot close contexts
                    pass
