"""Per-step screenshots at almost no cost, from Chromium's screencast.

``page.screenshot`` costs 50-450 ms per call on a loaded 2-core machine, which doubled the time of a
30-step run. Chromium's screencast (the stream Playwright's video recording uses) pushes a JPEG
frame whenever the page repaints; a step's picture is the first frame painted after the step
ended (its own effect arrives 10-50 ms later), else the last frame before it. Files are written
once, when the run ends, off the event loop. Failed steps still get a real ``page.screenshot``.
Password fields would paint one bullet per character, so every page of the context gets a style
that paints their text, caret and shadow transparent (``HIDE_PASSWORDS_JS``): a filled password field
looks empty in every frame. The style is an adopted style sheet (not in the DOM, so observation and
``innerHTML`` rewrites do not see or drop it) whose selector outweighs any page rule.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

SETTLE_S = 0.05  # a step's own repaint arrives within this after it ends
MAX_FRAMES = 600

# :not() of an impossible id list weighs 10 ids: more than any page selector short of an inline style.
_HIDE_CSS = ("input[type=password]:not(#a#b#c#d#e#f#g#h#i#j), input[data-rpa-sensitive]:not(#a#b#c#d#e#f#g#h#i#j)"
             " { color: transparent !important; -webkit-text-fill-color: transparent !important;"
             " text-shadow: none !important; caret-color: transparent !important; }")
HIDE_PASSWORDS_JS = """(() => {
  if (window.__rpaHidePasswords) return;
  window.__rpaHidePasswords = true;
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(__CSS__);
  const adopt = () => {
    if (!document.adoptedStyleSheets.includes(sheet)) document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  };
  adopt();
  document.addEventListener('DOMContentLoaded', adopt);
})();""".replace("__CSS__", json.dumps(_HIDE_CSS))


async def hide_passwords(context: Any) -> None:
    """Paint password fields' text transparent in every page and frame of ``context``, from now on
    (new documents) and in the documents already open."""
    await context.add_init_script(script=HIDE_PASSWORDS_JS)
    for page in context.pages:
        for frame in page.frames:
            try:
                await frame.evaluate(HIDE_PASSWORDS_JS)
            except Exception as err:  # noqa: BLE001 - a frame mid-navigation gets the init script
                logger.debug("screens: style not added to {}: {}", frame.url, type(err).__name__)


@dataclass
class _Slot:
    path: Path
    ended: float
    after: float = 0.0  # a step that opened a new document: its first frame painted after this time


class Screencast:
    """Frames of the bot's current page; ``mark(path)`` books the picture of the step that just ended."""

    def __init__(self, context: Any, *, hide_passwords: bool = True) -> None:
        self.context = context
        self.frames: deque[tuple[float, str]] = deque(maxlen=MAX_FRAMES)
        self.slots: list[_Slot] = []
        self._cdp: Any = None
        self._page: Any = None
        self._hidden = not hide_passwords  # True once the style is on the context (or not wanted)
        self._waiters: list[asyncio.Future[None]] = []
        self.navigations: list[float] = []  # when the page committed a new document

    async def follow(self, page: Any) -> bool:
        """(Re)start on ``page``; False where the browser offers no screencast (not Chromium)."""
        if page is self._page:
            return self._cdp is not None
        if not self._hidden:
            self._hidden = True
            await hide_passwords(self.context)
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
        for waiter in list(self._waiters):
            if not waiter.done():
                waiter.set_result(None)
        asyncio.ensure_future(self._ack(cdp, params["sessionId"]))

    async def frame_after(self, t: float, timeout_s: float) -> float:
        """The time of the first frame painted after ``t`` (waiting up to ``timeout_s``), or 0."""
        deadline = time.perf_counter() + timeout_s
        while True:
            later = next((ft for ft, _ in self.frames if ft > t), 0.0)
            left = deadline - time.perf_counter()
            if later or left <= 0 or self._cdp is None:
                return later
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, left)
            except asyncio.TimeoutError:
                pass
            finally:
                self._waiters.remove(waiter)

    @staticmethod
    async def _ack(cdp: Any, session_id: int) -> None:
        try:
            await cdp.send("Page.screencastFrameAck", {"sessionId": session_id})
        except Exception:  # noqa: BLE001 - the page closed between the frame and its ack
            pass

    @property
    def active(self) -> bool:
        return self._cdp is not None

    def mark(self, path: Path, after: float = 0.0) -> str:
        """Book the picture painted when the step ended; for a step that opened a new document
        (``after``: when it committed), the first frame painted after that, chosen when the run ends
        so that no step waits for a paint."""
        self.slots.append(_Slot(path, time.perf_counter(), after=after))
        return str(path)

    def _pick(self, ended: float, until: float) -> str | None:
        # The step's own repaint is the first frame after it ended; on a busy machine it may come only
        # while the next step runs, so the window reaches to the next step's end.
        after = next((data for t, data in self.frames if ended < t <= max(until, ended + SETTLE_S)), None)
        if after is not None:
            return after
        before = [data for t, data in self.frames if t <= ended]
        return before[-1] if before else (self.frames[-1][1] if self.frames else None)

    def navigated(self) -> None:
        self.navigations.append(time.perf_counter())

    def _opened_late(self, ended: float, until: float) -> str | None:
        """A click whose page committed only after the step ended (a link's navigation is not awaited):
        the new document's first frame, if one was painted before the next step ended."""
        t = next((n for n in self.navigations if ended < n <= until), None)
        return self._first_after(t) if t is not None else None

    def _first_after(self, t: float) -> str | None:
        return next((data for ft, data in self.frames if ft > t), None)

    async def flush(self, wait_s: float = 1.0) -> list[str]:
        """Write the booked pictures; returns the paths that could not be written (no frame of that
        page was ever painted)."""
        if self.slots and self.slots[-1].after:  # the last step opened a page: let it paint once
            await self.frame_after(self.slots[-1].after, wait_s)
        elif self.slots and time.perf_counter() - self.slots[-1].ended < SETTLE_S:
            await self.frame_after(self.slots[-1].ended, SETTLE_S)  # its own repaint, if one comes
        cdp, self._cdp = self._cdp, None
        if cdp is not None:  # stopped in the background: the run need not wait for the browser's answer
            asyncio.ensure_future(self._stop(cdp))
        ends = [slot.ended for slot in self.slots[1:]] + [0.0]
        jobs, shown = [], None
        for slot, until in zip(self.slots, ends):
            data = self._first_after(slot.after) if slot.after else self._pick(slot.ended, until)
            if not slot.after and data is not None and data == shown:  # the page before the step again
                data = self._opened_late(slot.ended, max(until, slot.ended + SETTLE_S)) or data
            jobs.append((slot.path, data))
            shown = data
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

    @staticmethod
    async def _stop(cdp: Any) -> None:
        try:
            await cdp.send("Page.stopScreencast")
            await cdp.detach()
        except Exception:  # noqa: BLE001 - the page is gone already
            pass

    async def _detach(self) -> None:
        cdp, self._cdp = self._cdp, None
        if cdp is not None:
            try:
                await cdp.send("Page.stopScreencast")
                await cdp.detach()
            except Exception:  # noqa: BLE001 - the page is gone already
                pass
