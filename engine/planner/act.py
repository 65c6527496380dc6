"""Carry out one chosen step on a live page (step-wise mode).

Uses the bots' own handlers when ``bots.runner`` offers them; otherwise a small Playwright path:
the first locator of the target that matches exactly one element wins (the same strict rule the
runner applies), values are rendered from parameters and secrets only at this moment.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from loguru import logger

from engine.errors import ElementNotFoundError, MissingInputError
from engine.plan import Action, Locator, Step, Target
from engine.plan.models import TEMPLATE_RE

ACT_TIMEOUT_MS = 3000
# Notes whether the next click event reaches the element (or comes from inside it).
_WATCH_JS = """(e) => {
  window.__rpaClicked = false;
  document.addEventListener('click', (ev) => {
    if (ev.target instanceof Node && e.contains(ev.target)) window.__rpaClicked = true;
  }, {capture: true, once: true});
}"""
_NATIVE_TAGS = {"input", "select", "textarea", "label", "option"}


def render_value(value: str | None, params: dict[str, str], secret: Callable[[str], str]) -> str | None:
    """Replace ``{{ params.X }}`` / ``{{ secrets.X }}`` for execution; the plan keeps the reference."""
    if value is None:
        return None

    def sub(m: re.Match[str]) -> str:
        kind, name = m.group(1), m.group(2)
        if kind == "params":
            if name not in params:
                raise MissingInputError("parameter", name, f"Pass it with --param {name}=VALUE.")
            return params[name]
        if kind == "secrets":
            return secret(name)
        return m.group(0)

    return TEMPLATE_RE.sub(sub, value)


def pw_locator(page: Any, loc: Locator) -> Any:
    kind = loc.kind
    if kind == "role":
        found = page.get_by_role(loc.role, name=loc.name, exact=loc.exact) if loc.name else page.get_by_role(loc.role)
    elif kind == "test_id":
        found = page.get_by_test_id(loc.test_id)
    elif kind in ("label", "placeholder", "alt_text", "text", "title"):
        found = getattr(page, f"get_by_{kind}")(getattr(loc, kind), exact=loc.exact)
    else:
        found = page.locator(loc.css)
    return found.nth(loc.nth) if loc.nth is not None else found


async def resolve(page: Any, target: Target, step_id: str) -> Any:
    """The Playwright locator of the first fallback that matches exactly one element."""
    for loc in target.locators:
        try:
            found = pw_locator(page, loc)
            if await found.count() == 1:
                return found
        except Exception as err:  # a malformed selector: try the next fallback
            logger.debug("planner: locator {} failed: {}", loc.describe(), err)
    raise ElementNotFoundError(step_id, f"no unique element for {target.describe()}. "
                               "The page changed; observe it again.")


async def perform(page: Any, step: Step, params: dict[str, str], secret: Callable[[str], str]) -> None:
    """Execute ``step`` on ``page``; raises ``RpaError`` subclasses on failure."""
    value = render_value(step.value, params, secret)
    if step.action is Action.goto:
        await page.goto(value or "")
        return
    if step.action is Action.press and step.target is None:
        await page.keyboard.press(value or "Enter")
        return
    assert step.target is not None
    el = await resolve(page, step.target, step.id)
    if step.action is Action.click:
        await _click(page, el)
    elif step.action is Action.fill:
        text = value or ""
        # The last character as a real key press: suggestion lists (autocomplete) listen for keys.
        await el.fill(text[:-1], timeout=ACT_TIMEOUT_MS)
        if text:
            await el.press_sequentially(text[-1], timeout=ACT_TIMEOUT_MS)
    elif step.action is Action.select:
        await el.select_option(label=value, timeout=ACT_TIMEOUT_MS)
    elif step.action in (Action.check, Action.uncheck):
        try:
            await (el.check if step.action is Action.check else el.uncheck)(timeout=ACT_TIMEOUT_MS)
        except Exception:  # a custom widget that does not report its state: a click toggles it
            await el.click(timeout=ACT_TIMEOUT_MS, force=True)
    elif step.action is Action.press:
        await el.press(value or "Enter", timeout=ACT_TIMEOUT_MS)
    elif step.action is Action.hover:
        await el.hover(timeout=ACT_TIMEOUT_MS)
    else:
        raise ElementNotFoundError(step.id, f"step-wise mode cannot perform '{step.action.value}'")


async def _click(page: Any, el: Any) -> None:
    """A real mouse click; a click event straight on the element if the mouse one never reached it.

    Some pages swap an icon's image on hover, so the mouse-up lands elsewhere and no click fires.
    """
    try:
        await el.evaluate(_WATCH_JS, timeout=ACT_TIMEOUT_MS)
        watching = True
    except Exception:  # the page is navigating: just click
        watching = False
    url = page.url
    try:
        await el.click(timeout=ACT_TIMEOUT_MS)
    except Exception:  # covered by an overlay or animating: a direct click event still works
        await el.dispatch_event("click")
        return
    if not watching:
        return
    try:
        if page.url == url and not await page.evaluate("window.__rpaClicked === true"):
            tag = await el.evaluate("e => e.tagName.toLowerCase()", timeout=500)
            if tag not in _NATIVE_TAGS:
                await el.dispatch_event("click", timeout=500)
    except Exception:  # navigated meanwhile: the click did something
        pass
