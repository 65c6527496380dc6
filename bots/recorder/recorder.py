"""Recorder: capture a user's work in a Playwright context and turn it into a plan."""
from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from importlib import resources
from typing import Any

from loguru import logger
from playwright.async_api import BrowserContext, Dialog, Download, Frame, Page

from bots.recorder.locators import choose
from bots.recorder.postprocess import RecordedAction, build_plan, snake
from engine.errors import SecretError
from engine.plan.models import Plan

BINDING = "__rpaRecord"
USER_KINDS = {"click", "fill", "select", "check", "uncheck", "press", "upload", "click_nothing"}


def _script() -> str:
    return resources.files("bots.recorder").joinpath("capture.js").read_text(encoding="utf-8")


def _sensitive_script(selectors: list[str]) -> str:
    # Marks user-named sensitive fields so the capture script treats them like passwords.
    import json

    return (
        "(() => { const sels = %s; const mark = () => sels.forEach(s => { try {"
        " document.querySelectorAll(s).forEach(e => e.setAttribute('data-rpa-sensitive', '')); } catch (e) {} });"
        " mark(); document.addEventListener('focusin', mark, true); })();" % json.dumps(selectors)
    )


class Recorder:
    """``recorder = await Recorder.attach(page)`` ... ``plan = await recorder.stop()``."""

    def __init__(self, page: Page, *, name: str, sensitive: list[str],
                 store_secret: Callable[[str, str], str] | None) -> None:
        self.page = page
        self.context: BrowserContext = page.context
        self.name = name
        self.sensitive = sensitive
        self._store_secret = store_secret
        self._seq = itertools.count()
        self._actions: list[RecordedAction] = []
        self._loaded: set[tuple[int, str]] = set()  # (frame id, url) where the script reported in
        self._navigated: list[tuple[Frame, str, bool]] = []
        self._notes: list[str] = []
        self._pages: list[Page] = []
        self._stopped = False
        self._secret_values: dict[str, str] = {}
        self.unstored: list[str] = []  # secrets the plan names but no store could keep (no key here)
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    async def attach(cls, page: Page, *, name: str = "recording", sensitive: list[str] | None = None,
                     store_secret: Callable[[str, str], str] | None = None) -> Recorder:
        """Start capturing on ``page`` and every page, popup and frame of its context.

        ``store_secret(suggested_name, value) -> name`` stores sensitive values; by default they go to
        the encrypted SecretStore."""
        rec = cls(page, name=name, sensitive=list(sensitive or []), store_secret=store_secret)
        await rec._install()
        return rec

    async def _install(self) -> None:
        await self.context.expose_binding(BINDING, self._on_binding)
        if self.sensitive:
            await self.context.add_init_script(script=_sensitive_script(self.sensitive))
        await self.context.add_init_script(script=_script())
        self.context.on("page", self._on_page)
        for page in self.context.pages:
            self._watch(page)
            for frame in page.frames:
                await self._inject(frame)
        if self.page.url and self.page.url != "about:blank":
            self._add(RecordedAction(seq=next(self._seq), kind="goto", url=self.page.url, value=self.page.url))

    async def _inject(self, frame: Frame) -> None:
        try:
            if self.sensitive:
                await frame.evaluate(_sensitive_script(self.sensitive))
            await frame.evaluate(_script())
        except Exception as err:  # a frame mid-navigation gets the init script on its next document
            logger.debug("recorder: inject into {} failed: {}", frame.url, type(err).__name__)

    def _watch(self, page: Page) -> None:
        if page in self._pages:
            return
        self._pages.append(page)
        page.on("framenavigated", self._on_navigated)
        page.on("download", self._on_download)
        page.on("dialog", self._on_dialog)

    async def stop(self) -> Plan:
        """Flush typed-but-unreported text, stop listening and return the plan."""
        if not self._stopped:
            for page in list(self._pages):
                if page.is_closed():
                    continue
                for frame in page.frames:
                    try:
                        await frame.evaluate("window.__rpaFlush && window.__rpaFlush()")
                    except Exception:  # closed or navigating: nothing left to flush there
                        pass
            await self._drain()
            self._stopped = True
            self._check_coverage()
        return build_plan(self._actions, name=self.name, store_secret=self._secret, notes=self._notes)

    # -- events ----------------------------------------------------------------------------
    def _add(self, action: RecordedAction) -> None:
        if not self._stopped:
            self._actions.append(action)

    def _on_page(self, page: Page) -> None:
        self._watch(page)
        if page.opener is not None:
            self._notes.append(f"a popup window opened ({page.url or 'about:blank'}); its actions are marked")

    def _on_navigated(self, frame: Frame) -> None:
        if frame.url in ("", "about:blank") or self._stopped:
            return
        is_main = frame.parent_frame is None
        self._navigated.append((frame, frame.url, is_main))
        if is_main and frame.page == self.page:
            self._add(RecordedAction(seq=next(self._seq), kind="nav", url=frame.url))

    def _on_download(self, download: Download) -> None:
        self._add(RecordedAction(seq=next(self._seq), kind="download", url=download.page.url,
                                 value=download.suggested_filename))

    async def _on_dialog(self, dialog: Dialog) -> None:
        # Accept so the recorded flow goes on; a replaying bot needs the same choice.
        note = f"a {dialog.type} dialog ('{dialog.message[:60]}') was accepted"
        self._add(RecordedAction(seq=next(self._seq), kind="dialog", url=dialog.page.url if dialog.page else "", note=note))
        try:
            await dialog.accept()
        except Exception:  # already handled by someone else
            pass

    async def _drain(self) -> None:
        """Let events already sent by the pages finish their locator checks."""
        for _ in range(3):
            await asyncio.sleep(0.05)
            try:
                await asyncio.wait_for(self._idle.wait(), timeout=5)
            except TimeoutError:
                logger.warning("recorder: {} events still being processed at stop", self._in_flight)
                return

    async def _on_binding(self, source: dict[str, Any], event: dict[str, Any]) -> None:
        seq = next(self._seq)  # ordering is fixed on arrival, before any await
        self._in_flight += 1
        self._idle.clear()
        try:
            await self._handle(seq, source, event)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _handle(self, seq: int, source: dict[str, Any], event: dict[str, Any]) -> None:
        frame: Frame | None = source.get("frame")
        kind = event.get("kind")
        url = str(event.get("url") or "")
        if kind == "loaded":
            if frame is not None:
                self._loaded.add((id(frame), url.split("#")[0]))
            return
        if kind not in USER_KINDS or self._stopped:
            return
        el = dict(event.get("el") or {})
        target, verified = await choose(frame, el, url)
        page = source.get("page")
        action = RecordedAction(
            seq=seq, kind=str(kind), url=url, target=target, verified=verified, el=el,
            popup=page is not None and page != self.page,
            frame=frame is not None and frame.parent_frame is not None,
        )
        if kind in {"fill", "select"}:
            action.value = str(event.get("value") or "")
        elif kind == "press":
            action.value = str(event.get("key") or "Enter")
            if event.get("key") == "Tab":
                return  # moving focus is not part of the work
        elif kind == "upload":
            files = event.get("files") or []
            action.value = ", ".join(files)
            if len(files) != 1:
                action.note = f"{len(files)} files chosen; a plan uploads one"
        self._add(action)

    # -- helpers ---------------------------------------------------------------------------
    def _check_coverage(self) -> None:
        """A page where the capture script never reported (strict CSP, crash) is a gap: say so."""
        for frame, url, is_main in self._navigated:
            if (id(frame), url.split("#")[0]) in self._loaded:
                continue
            if not url.startswith(("http://", "https://")):
                continue
            where = "page" if is_main else "frame"
            note = f"the recorder could not run on {where} {url} (blocked script, e.g. strict CSP); actions there were not captured"
            if note not in self._notes:
                self._notes.append(note)

    def _secret(self, suggested: str, value: str) -> str:
        """Store a sensitive value and return the name the plan uses."""
        for known, v in self._secret_values.items():
            if v == value:
                return known
        name = suggested if suggested[0].isalpha() else f"SECRET_{suggested}"
        if self._store_secret is not None:
            name = self._store_secret(name, value)
        else:
            try:
                name = _store_in_secret_store(name, value)
            except SecretError as err:
                # No keyring and no RPA_SECRET_KEY: the recording is kept, the value goes nowhere.
                logger.warning("recorder: secret {} not stored: {}", name, err.message)
                self.unstored.append(name)
        self._secret_values[name] = value
        return name


def _store_in_secret_store(name: str, value: str) -> str:
    from engine.secrets import NO_KEY_HINT, SecretStore, key_available

    if not key_available():
        raise SecretError(f"SecretStore.key: {NO_KEY_HINT}")
    store = SecretStore()
    existing = set(store.list())
    candidate, n = name, 2
    while candidate in existing and store.get(candidate) != value:
        candidate, n = f"{name}_{n}", n + 1
    if candidate != name:
        logger.warning("recorder: secret {} already holds another value; using {}", name, candidate)
    store.set(candidate, value)
    return candidate


__all__ = ["Recorder", "snake"]
