"""One coroutine per plan verb, each doing what a person would write by hand in Playwright.

A handler gets the step and a ``StepScope`` (the live page, the deadline, the renderer of
templates, the run's outputs) and raises ``BusinessError``/``ApplicationError`` subclasses with
one-line messages; the runner times, retries, screenshots and records.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ApplicationError, BusinessError, ExpectationError
from engine.plan.models import Action, Expect, Step, Target

from bots.locate import Resolved, resolve, to_playwright

_TABLE_JS = """t => {
  const out = []; let head = null;
  for (const r of t.querySelectorAll('tr')) {
    const cells = [...r.children].filter(c => c.tagName === 'TD' || c.tagName === 'TH')
      .map(c => c.innerText.trim());
    if (!cells.length) continue;
    if (!head && r.querySelector('th') && !r.querySelector('td')) { head = cells; continue; }
    out.push(head ? Object.fromEntries(head.map((h, i) => [h || ('col' + (i + 1)), cells[i] ?? ''])) : cells);
  }
  return out;
}"""


@dataclass
class StepScope:
    """What a handler may touch for one attempt of one step."""

    page: Any
    step: Step
    timeout_ms: int
    render: Callable[[str], str]
    outputs: dict[str, Any]
    downloads_dir: Path
    downloads: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    last_navigation: dict[str, Any] = field(default_factory=dict)  # {"status": int, "url": str}
    adapt: bool = False  # planning: a click that cannot reach its element becomes a DOM event (step.dispatch)

    def left_ms(self) -> int:
        """Milliseconds left of this attempt's budget (at least 1: Playwright reads 0 as 'no limit')."""
        return max(1, int(self.timeout_ms - (time.monotonic() - self.started) * 1000))

    async def resolve(self, target: Target) -> Resolved:
        return await resolve(self.page, target, step_id=self.step.id, timeout_ms=self.left_ms(),
                             render=self.render)


Handler = Callable[[StepScope], Awaitable["Resolved | None"]]


async def _goto(s: StepScope) -> None:
    url = s.render(s.step.value or "")
    response = await s.page.goto(url, timeout=s.left_ms(), wait_until="load")
    if response is not None:
        _check_status(s.step.id, response.status, response.url)


def _check_status(step_id: str, status: int, url: str) -> None:
    if status >= 500:
        raise ApplicationError(step_id, f"HTTP {status} from {url} (server error)")
    if status in (404, 410):
        raise BusinessError(step_id, f"HTTP {status} from {url}: the page does not exist")
    if status in (401, 403):
        raise BusinessError(step_id, f"HTTP {status} from {url}: access denied")


# Notes whether the next click event lands on the element (or inside it).
_WATCH_CLICK_JS = """e => {
  window.__rpaClicked = false;
  document.addEventListener('click', ev => {
    if (ev.target instanceof Node && e.contains(ev.target)) window.__rpaClicked = true;
  }, {capture: true, once: true});
}"""
_NATIVE_TAGS = {"input", "select", "textarea", "label", "option"}
ADAPT_CLICK_MS = 3000  # while planning, a covered element is not waited for as long as in a replay


async def _click(s: StepScope) -> Resolved:
    r = await s.resolve(s.step.target)  # type: ignore[arg-type]
    if s.step.dispatch:
        await r.locator.dispatch_event("click", timeout=s.left_ms())
    elif s.adapt:
        await _adaptive_click(s, r)
    else:
        await r.locator.click(timeout=s.left_ms())
    return r


async def _adaptive_click(s: StepScope, r: Resolved) -> None:
    """A mouse click; where it cannot reach the element (covered, or a page that swaps the element
    under the pointer so no click event fires), a DOM click event, recorded as ``dispatch: true``."""
    try:
        await r.locator.evaluate(_WATCH_CLICK_JS, timeout=s.left_ms())
        watching = True
    except Exception:  # noqa: BLE001 - the page is navigating: a plain click decides
        watching = False
    url = s.page.url
    try:
        await r.locator.click(timeout=min(s.left_ms(), ADAPT_CLICK_MS))
    except Exception as err:  # noqa: BLE001 - only a covered or animating element earns the fallback
        if "intercepts pointer events" not in str(err) and "not stable" not in str(err) \
                and "Timeout" not in type(err).__name__:
            raise
        await r.locator.dispatch_event("click", timeout=s.left_ms())
        s.step = s.step.model_copy(update={"dispatch": True})
        return
    if not watching:
        return
    try:
        reached = s.page.url != url or await s.page.evaluate("window.__rpaClicked === true")
        if not reached and await r.locator.evaluate("e => e.tagName.toLowerCase()", timeout=500) not in _NATIVE_TAGS:
            await r.locator.dispatch_event("click", timeout=500)
            s.step = s.step.model_copy(update={"dispatch": True})
    except Exception:  # noqa: BLE001 - the page navigated meanwhile: the click did something
        pass


async def _fill(s: StepScope) -> Resolved:
    r = await s.resolve(s.step.target)  # type: ignore[arg-type]
    text = s.render(s.step.value or "")
    if s.step.keys and text:
        # The last character as a real key press: suggestion lists (autocomplete) listen for keys.
        await r.locator.fill(text[:-1], timeout=s.left_ms())
        await r.locator.press_sequentially(text[-1], timeout=s.left_ms())
    else:
        await r.locator.fill(text, timeout=s.left_ms())
    return r


async def _back(s: StepScope) -> None:
    await s.page.go_back(timeout=s.left_ms(), wait_until="load")


async def _select(s: StepScope) -> Resolved:
    r = await s.resolve(s.step.target)  # type: ignore[arg-type]
    value = s.render(s.step.value or "")
    try:  # a string matches an option's value or its label, as in Playwright
        await r.locator.select_option(value, timeout=min(s.left_ms(), 2000))
    except Exception as err:  # noqa: BLE001 - reworded below with the options the page offers
        if "Timeout" not in type(err).__name__ and "did not find some options" not in str(err):
            raise
        options = await r.locator.locator("option").all_inner_texts()
        raise BusinessError(s.step.id, f"option '{value}' is not offered; the list has: "
                            f"{', '.join(o.strip() for o in options[:12]) or 'no options'}") from None
    return r


def _simple(method: str) -> Handler:
    """A verb that is one Playwright call on the resolved element (check, uncheck, hover)."""

    async def handle(s: StepScope) -> Resolved:
        r = await s.resolve(s.step.target)  # type: ignore[arg-type]
        await getattr(r.locator, method)(timeout=s.left_ms())
        return r

    return handle


async def _press(s: StepScope) -> Resolved | None:
    key = s.render(s.step.value or "")
    if s.step.target is None:
        await s.page.keyboard.press(key)
        return None
    r = await s.resolve(s.step.target)
    await r.locator.press(key, timeout=s.left_ms())
    return r


async def _upload(s: StepScope) -> Resolved:
    paths = [Path(p.strip()).expanduser() for p in s.render(s.step.value or "").split("|") if p.strip()]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise BusinessError(s.step.id, f"file to upload not found: {missing[0]}")
    r = await s.resolve(s.step.target)  # type: ignore[arg-type]
    await r.locator.set_input_files([str(p) for p in paths], timeout=s.left_ms())
    return r


def _unique(folder: Path, name: str) -> Path:
    name = Path(name).name or "download"
    path = folder / name
    stem, suffix, n = path.stem, path.suffix, 2
    while path.exists():
        path = folder / f"{stem}-{n}{suffix}"
        n += 1
    return path


async def _download(s: StepScope) -> Resolved:
    r = await s.resolve(s.step.target)  # type: ignore[arg-type]
    async with s.page.expect_download(timeout=s.left_ms()) as info:
        await r.locator.click(timeout=s.left_ms())
    download = await info.value
    failure = await download.failure()
    if failure:
        raise ApplicationError(s.step.id, f"download of {download.url} failed ({failure})")
    s.downloads_dir.mkdir(parents=True, exist_ok=True)
    dest = _unique(s.downloads_dir, download.suggested_filename)
    await download.save_as(dest)
    s.downloads.append(str(dest))
    s.outputs[s.step.output or s.step.id] = str(dest)
    return r


async def _wait_for(s: StepScope) -> Resolved | None:
    step = s.step
    if step.target is None:
        pattern = re.compile(s.render(step.value or ""))
        await s.page.wait_for_url(pattern, timeout=s.left_ms())
        return None
    state = (s.render(step.value) if step.value else "visible").strip().lower()
    if state not in ("visible", "hidden", "attached", "detached"):
        raise BusinessError(step.id, f"wait_for state '{state}' is not one of visible, hidden, attached, detached")
    if state in ("visible", "attached"):
        r = await s.resolve(step.target)
        await r.locator.wait_for(state=state, timeout=s.left_ms())
        return r
    primary = to_playwright(s.page, step.target.locators[0], s.render)
    await primary.first.wait_for(state=state, timeout=s.left_ms())
    return None


async def _extract(s: StepScope) -> Resolved | None:
    step, name = s.step, s.step.output or s.step.id
    if step.extract == "url":
        s.outputs[name] = s.page.url
        return None
    if step.extract == "count":
        deadline = time.monotonic() + s.left_ms() / 1000
        while True:
            for spec in step.target.locators:  # type: ignore[union-attr]
                n = await to_playwright(s.page, spec, s.render).count()
                if n:
                    s.outputs[name] = n
                    return None
            if time.monotonic() >= deadline:
                s.outputs[name] = 0
                return None
            await s.page.wait_for_timeout(100)
    r = await s.resolve(step.target)  # type: ignore[arg-type]
    loc, t = r.locator, s.left_ms()
    if step.extract == "text":
        s.outputs[name] = (await loc.inner_text(timeout=t)).strip()
    elif step.extract == "value":
        s.outputs[name] = await loc.input_value(timeout=t)
    elif step.extract == "attribute":
        s.outputs[name] = await loc.get_attribute(step.attribute or "", timeout=t)
    elif step.extract == "table":
        s.outputs[name] = await loc.evaluate(_TABLE_JS)
    return r


async def _assert(s: StepScope) -> Resolved | None:
    step = s.step
    resolved: Resolved | None = None
    try:
        if step.target is not None:
            resolved = await s.resolve(step.target)
            if step.value is not None:
                want = s.render(step.value)
                found = ""
                while True:
                    found = (await resolved.locator.inner_text(timeout=s.left_ms())).strip()
                    if want.lower() in found.lower() or s.left_ms() <= 1:
                        break
                    await s.page.wait_for_timeout(100)
                if want.lower() not in found.lower():
                    raise BusinessError(step.id, f"assert failed: expected '{want}' in {resolved.describe()}, "
                                        f"found '{found[:80]}'")
        elif step.value is not None:
            want = s.render(step.value)
            if not await _wait_text(s, want):
                raise BusinessError(step.id, f"assert failed: text '{want}' is not on {s.page.url}")
        if step.expect is not None:
            await check_expect(s, step.expect)
    except BusinessError:
        raise
    except ApplicationError as err:  # an assert that cannot see what it wants has failed, not hiccupped
        raise BusinessError(step.id, f"assert failed: {err.reason}") from None
    return resolved


async def _wait_text(s: StepScope, text: str) -> bool:
    while True:
        if await s.page.get_by_text(text).filter(visible=True).count():
            return True
        if s.left_ms() <= 1:
            return False
        await s.page.wait_for_timeout(100)


async def check_expect(s: StepScope, expect: Expect) -> None:
    """Poll the postcondition until it holds or the step's time is up, then say what was found."""
    page, step_id = s.page, s.step.id
    problems: list[str] = []
    while True:
        problems = []
        if expect.url is not None:
            pattern = s.render(expect.url)
            if not re.search(pattern, page.url):
                problems.append(f"URL {page.url} does not match /{pattern}/")
        if expect.visible is not None and not await _any_visible(s, expect.visible):
            problems.append(f"{expect.visible.describe()} is not visible")
        if expect.hidden is not None and await _any_visible(s, expect.hidden):
            problems.append(f"{expect.hidden.describe()} is visible")
        if expect.text is not None:
            text = s.render(expect.text)
            if not await page.get_by_text(text).filter(visible=True).count():
                problems.append(f"text '{text}' is not on the page")
        if not problems or s.left_ms() <= 1:
            break
        await page.wait_for_timeout(100)
    if not problems:
        return
    nav = s.last_navigation
    if nav.get("status", 0) >= 500:
        raise ApplicationError(step_id, f"HTTP {nav['status']} from {nav.get('url')} (server error)")
    alert = page.get_by_role("alert").filter(visible=True)
    if await alert.count():
        said = " ".join((await alert.first.inner_text()).split())[:160]
        raise BusinessError(step_id, f"the site says \"{said}\" ({'; '.join(problems)})")
    if expect.hidden is not None and any("is visible" in p for p in problems):
        raise BusinessError(step_id, f"expectation failed: {'; '.join(problems)}")
    raise ExpectationError(step_id, f"expectation not met after {s.timeout_ms} ms: {'; '.join(problems)}")


async def _any_visible(s: StepScope, target: Target) -> bool:
    for spec in target.locators:
        loc = to_playwright(s.page, spec, s.render)
        if spec.nth is not None:
            loc = loc.nth(spec.nth)
        if await loc.filter(visible=True).count():
            return True
    return False


HANDLERS: dict[Action, Handler] = {
    Action.goto: _goto,  # type: ignore[dict-item]
    Action.click: _click,
    Action.fill: _fill,
    Action.select: _select,
    Action.check: _simple("check"),
    Action.uncheck: _simple("uncheck"),
    Action.press: _press,
    Action.hover: _simple("hover"),
    Action.upload: _upload,
    Action.download: _download,
    Action.wait_for: _wait_for,
    Action.extract: _extract,
    Action.assert_: _assert,
    Action.back: _back,  # type: ignore[dict-item]
}
