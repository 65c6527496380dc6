"""Turning a plan ``Target`` into one Playwright ``Locator``, with fallbacks and strictness.

The locators of a target are tried in order on every poll until the step's deadline: the first
that matches exactly one element wins (several matches are narrowed to the visible ones; ``nth``
picks one on purpose). Several visible matches is an error, as in Playwright's strict mode,
because clicking the wrong "Delete" is worse than stopping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import AmbiguousTargetError, ElementNotFoundError
from engine.plan.models import Locator, Target

POLL_S = (0.0, 0.05, 0.1, 0.25, 0.5)  # Playwright's own back-off between retries of a locator


@dataclass
class Resolved:
    locator: Any  # playwright Locator that matches exactly one element
    spec: Locator  # the plan locator that matched (primary or a fallback)
    fallback: int  # 0 = primary
    text: str = ""  # the spec with its templates filled in, for reports

    def describe(self) -> str:
        return self.text or self.spec.describe()


def to_playwright(scope: Any, spec: Locator, render: Callable[[str], str] = str) -> Any:
    """The Playwright locator for one plan locator; ``scope`` is a Page, Frame or Locator."""
    exact = spec.exact or None
    if spec.test_id is not None:
        loc = scope.get_by_test_id(render(spec.test_id))
    elif spec.role is not None:
        kw: dict[str, Any] = {}
        if spec.name is not None:
            kw["name"] = render(spec.name)
            kw["exact"] = exact
        loc = scope.get_by_role(spec.role, **kw)
    elif spec.label is not None:
        loc = scope.get_by_label(render(spec.label), exact=exact)
    elif spec.placeholder is not None:
        loc = scope.get_by_placeholder(render(spec.placeholder), exact=exact)
    elif spec.alt_text is not None:
        loc = scope.get_by_alt_text(render(spec.alt_text), exact=exact)
    elif spec.text is not None:
        loc = scope.get_by_text(render(spec.text), exact=exact)
    elif spec.title is not None:
        loc = scope.get_by_title(render(spec.title), exact=exact)
    else:
        loc = scope.locator(render(spec.css or ""))
    return loc


async def _try(page: Any, spec: Locator, render: Callable[[str], str]) -> tuple[Any | None, int]:
    """(locator matching exactly one element or None, number of matches)."""
    loc = to_playwright(page, spec, render)
    count = await loc.count()
    if spec.nth is not None:
        return (loc.nth(spec.nth), count) if count > spec.nth else (None, count)
    if count == 1:
        return loc, 1
    if count > 1:
        visible = loc.filter(visible=True)
        if await visible.count() == 1:
            return visible, count
    return None, count


async def resolve(page: Any, target: Target, *, step_id: str, timeout_ms: int,
                  render: Callable[[str], str] = str) -> Resolved:
    """Wait until one locator of ``target`` matches one element; raise a one-line error otherwise."""
    deadline = time.monotonic() + timeout_ms / 1000
    attempt = 0
    counts: list[int] = []
    while True:
        counts = []
        for i, spec in enumerate(target.locators):
            loc, count = await _try(page, spec, render)
            counts.append(count)
            if loc is not None:
                return Resolved(loc, spec, i, render(spec.describe()))
        if any(n > 1 for n in counts):  # as Playwright's strict mode: never guess between elements
            break
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_S[min(attempt, len(POLL_S) - 1)])
        attempt += 1
    tried = "; ".join(f"{spec.describe()} matched {n}" for spec, n in zip(target.locators, counts))
    if any(n > 1 for n in counts):
        raise AmbiguousTargetError(
            step_id, f"target matches several elements ({tried}). Add exact: true, nth, or a narrower locator.")
    raise ElementNotFoundError(
        step_id, f"no element matches {target.describe()} after {timeout_ms} ms. "
        "The page may have changed: run with repair, or re-record the step.")
