"""``rpa bench models``: every planner backend on the same decisions, side by side.

The decisions are real: the bundled sandbox is observed in Chromium (log-in page, home, invoice
list, invoice detail, form, notes), and each control on those pages becomes one decision in the
planner's own format (``decision_messages``) among six candidate action lines. Every backend
answers the same decisions in the same order, so their choices can be compared one to one.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from engine.planner.prompts import decision_messages, format_action

PAGES = ("/login", "/", "/invoices", "/invoices?q=Globex", "/invoices/INV-1007", "/form", "/notes")
CANDIDATES = 6
PAGE_TOKENS = 400


@dataclass(frozen=True)
class DecisionCase:
    """One decision: the prompt messages, the candidate answers and the one the goal names."""

    page: str
    messages: list[dict[str, str]]
    answers: list[str]
    expected: int


def _action(el: Any) -> tuple[str, str, str | None, str]:
    """(verb, goal, value, instruction) for one control."""
    name = el.name or el.label or el.placeholder or el.near
    if el.editable:
        return "fill", f'fill "{name}"', "test", f"Enter test as {name}"
    if el.selectable and el.options:
        return "select", f'select "{name}"', el.options[-1], f"Choose {el.options[-1]} as {name}"
    if el.checkable:
        return "check", f'check "{name}"', None, f"Tick {name}"
    return "click", f'click "{name}"', None, f"Open {name}"


def cases_from(obs: Any, page: str, rng: random.Random, per_page: int) -> list[DecisionCase]:
    """Decisions over one observation: each named control is the goal once, among its neighbours."""
    controls = [el for el in obs.controls if (el.name or el.label or el.placeholder or el.near).strip()]
    text = obs.to_prompt(PAGE_TOKENS)
    out: list[DecisionCase] = []
    for i, target in enumerate(controls[:per_page]):
        verb, goal, value, instruction = _action(target)
        lo = max(0, min(i - CANDIDATES // 2, len(controls) - CANDIDATES))
        shown = controls[lo:lo + CANDIDATES]
        rng.shuffle(shown)
        answers = []
        for el in shown:
            v, _, val, _ = _action(el)
            answers.append(format_action(v, el.ref, el.name or el.label or el.placeholder or el.near, val))
        if len(answers) < 2:
            continue
        expected = [el.ref for el in shown].index(target.ref)
        out.append(DecisionCase(page, decision_messages(instruction, text, goal), answers, expected))
    return out


async def _observe_sandbox(per_page: int, seed: int) -> list[DecisionCase]:
    from bots.browser import BrowserConfig, launch, new_context
    from bots.observe import observe
    from bots.sandbox import start_sandbox

    rng = random.Random(seed)
    cases: list[DecisionCase] = []
    with start_sandbox(port=0) as site:
        async with launch(BrowserConfig()) as browser:
            context = await new_context(browser)
            page = await context.new_page()
            await page.goto(site.url + "/login")
            cases += cases_from(await observe(page), "/login", rng, per_page)
            await page.get_by_label("Username").fill("alice")
            await page.get_by_label("Password").fill("wonderland")
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_role("link", name="Sign out").wait_for()
            for path in PAGES[1:]:
                await page.goto(site.url + path)
                cases += cases_from(await observe(page), path, rng, per_page)
            await context.close()
    return cases


def sandbox_decisions(per_page: int = 6, seed: int = 0) -> list[DecisionCase]:
    """Decisions over the sandbox's pages, the same ones for the same ``seed``."""
    return asyncio.run(_observe_sandbox(per_page, seed))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def summarize_times(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 1) if ms else 0.0, "p95_ms": round(percentile(ms, 0.95), 1)}


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
