"""Locator choice at record time, in Playwright's order of preference, each checked for uniqueness."""
from __future__ import annotations

from typing import Any

from loguru import logger
from playwright.async_api import Frame
from playwright.async_api import Locator as PwLocator

from engine.plan.models import Locator, Target

ROLES = {
    "button", "link", "checkbox", "radio", "combobox", "listbox", "textbox", "searchbox",
    "heading", "tab", "menuitem", "option", "switch", "row", "cell",
}


def candidates(el: dict[str, Any]) -> list[Locator]:
    """Every locator the element description supports, best first."""
    out: list[Locator] = []
    if el.get("test_id"):
        out.append(Locator(test_id=el["test_id"]))
    if el.get("role") in ROLES and el.get("name"):
        out.append(Locator(role=el["role"], name=el["name"], exact=True))
    if el.get("label"):
        out.append(Locator(label=el["label"], exact=True))
    if el.get("placeholder"):
        out.append(Locator(placeholder=el["placeholder"], exact=True))
    if el.get("alt"):
        out.append(Locator(alt_text=el["alt"], exact=True))
    if el.get("text") and el.get("tag") not in {"input", "select", "textarea"}:
        out.append(Locator(text=el["text"], exact=True))
    if el.get("title"):
        out.append(Locator(title=el["title"], exact=True))
    if el.get("css"):
        out.append(Locator(css=el["css"]))
    return out


def to_playwright(frame: Frame, loc: Locator) -> PwLocator:
    kind = loc.kind
    if kind == "test_id":
        return frame.get_by_test_id(loc.test_id or "")
    if kind == "role":
        return frame.get_by_role(loc.role, name=loc.name, exact=loc.exact)  # type: ignore[arg-type]
    if kind == "label":
        return frame.get_by_label(loc.label or "", exact=loc.exact)
    if kind == "placeholder":
        return frame.get_by_placeholder(loc.placeholder or "", exact=loc.exact)
    if kind == "alt_text":
        return frame.get_by_alt_text(loc.alt_text or "", exact=loc.exact)
    if kind == "text":
        return frame.get_by_text(loc.text or "", exact=loc.exact)
    if kind == "title":
        return frame.get_by_title(loc.title or "", exact=loc.exact)
    return frame.locator(loc.css or "")


_COUNT_KEY = {"alt_text": "alt"}


def _js_count(el: dict[str, Any], loc: Locator) -> int | None:
    return (el.get("counts") or {}).get(_COUNT_KEY.get(loc.kind, loc.kind))


async def _pw_count(frame: Frame | None, url: str | None, loc: Locator) -> int | None:
    """Playwright's own count, only while the frame still shows the document the event came from."""
    if frame is None or frame.is_detached() or (url and frame.url != url):
        return None
    try:
        count = await to_playwright(frame, loc).count()
        # A count taken while the page navigated away describes the next document, and 0 for the
        # element just used means the same race: fall back to the count taken in the page.
        if count == 0 or frame.is_detached() or (url and frame.url != url):
            return None
        return count
    except Exception as err:  # the page navigated during the check
        logger.debug("locator check failed for {}: {}", loc.describe(), type(err).__name__)
        return None


async def choose(
    frame: Frame | None, el: dict[str, Any], url: str | None = None, max_fallbacks: int = 2
) -> tuple[Target, bool]:
    """(target, verified). Candidates that matched exactly one element when the event fired (counted
    in the page, re-checked by Playwright while the page is unchanged), best first. When none is
    unique the candidates are kept unverified so the step can be flagged for attention."""
    cands = candidates(el) or [Locator(css=el.get("tag") or "body")]
    unique: list[Locator] = []
    for loc in cands:
        count = await _pw_count(frame, url, loc)
        if count is None:
            count = _js_count(el, loc)
        if count == 1:
            unique.append(loc)
        if len(unique) > max_fallbacks:
            break
    if not unique:
        return Target(cands[: max_fallbacks + 1]), False
    return Target(unique), True
