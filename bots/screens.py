"""Per-step screenshots at almost no cost, from Chromium's screencast.

``page.screenshot`` costs 50-450 ms per call on a loaded 2-core machine, which doubled the time of a
30-step run. Chromium's screencast (the stream Playwright's video recording uses) pushes a JPEG
frame whenever the page repaints; a step's picture is the first frame painted after the step
ended (its own effect arrives 10-50 ms later), else the last frame before it. Files are written
once, when the run ends, off the event loop. Failed steps still get a real ``page.screenshot``.
Password fields paint bullets, so a frame never shows a secret.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

SETTLE_S = 0.05  # a step's own repaint arrives within this after it ends
MAX_FRAMES = 600


@dataclass
class _Slot:
    path: Path
    ended: float


class Screencast:
    """Frames of the bot's current page; ``mark(path)`` books the picture of the step that just ended."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.frames: deque[tuple[float, str]] = deque(maxlen=MAX_FRAMES)
        self.slots: list[_Slot] = []
        self._cdp: Any = None
        self._page: Any = None

    async def follow(self, page: Any) -> bool:
        """(Re)start on ``page``; False where the browser offers no screencast (not Chromium)."""
        if page is self._page:
            return self._cdp is not None
        await self._detach()
        self._page = page
        try:
            cdp = await self.context.new_cdp_session(page)
            cdp.on("Page.screencastFrame", lambda p: self._frame(cdp, p))
            await cdp.send("Page.startScreencast", {"format": "jpeg", "quality": 30, "maxWidth": 640, "maxHeight": 400, "everyNthFrame": 1})
            self._cdp = cdp
            return True
        except Exception as err:  # noqa: BLE001 - Firefox/WebKit, or a page that closed at once
            logger.debug("screens: no screencast ({}); using page.screenshot", err)
            self._cdp = None
            return False

    def _frame(self, cdp: Any, params: dict[str, Any]) -> None:
        self.frames.append((time.perf_counter(), params["data"]))
        asyncio.ensure_future(self._ack(cdp, params["sessionId"]))

    @staticmethod
    async def _ack(cdp: Any, session_id: int) -> None:
        try:
            await cdp.send("Page.screencastFrameAck", {"sessionId": session_id})
        except Exception:  # noqa: BLE001 - the page closed between the frame and its ack
            pass

    @property
    def active(self) -> bool:
        return self._cdp is not None

    def mark(self, path: Path) -> str:
        self.slots.append(_Slot(path, time.perf_counter()))
        return str(path)

    def _pick(self, ended: float) -> str | None:
        after = next((data for t, data in self.frames if ended < t <= ended + SETTLE_S), None)
        if after is not None:
            return after
        before = [data for t, data in self.frames if t <= ended]
        return before[-1] if before else (self.frames[-1][1] if self.frames else None)

    async def flush(self) -> list[str]:
        """Write the booked pictures; returns the paths that could not be written (no frame yet)."""
        if self.slots and time.perf_counter() - self.slots[-1].ended < SETTLE_S:
            await asyncio.sleep(SETTLE_S)
        await self._detach()
        jobs = [(slot.path, self._pick(slot.ended)) for slot in self.slots]
        self.slots = []

        def write() -> list[str]:
            missing = []
            for path, data in jobs:
                if data is None:
                    missing.append(str(path))
                    continue
                path.write_bytes(base64.b64decode(data))
            return missing

        return await asyncio.to_thread(write)

    async def _detach(self) -> None:
        cdp, self._cdp = self._cdp, None
        if cdp is not None:
            try:
                await cdp.send("Page.stopScreencast")
                await cdp.detach()
            except Exception:  # noqa: BLE001 - the page is gone already
                pass
