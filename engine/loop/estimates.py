"""Duration estimates per (site, action), read from history and fed to the scheduler.

A step's site is the host of the last ``goto`` before it (its own URL for a ``goto``). Measured
step durations go back into history after every run, so estimates improve with each batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from engine.errors import RpaError
from engine.outcome import RunOutcome, StepStatus
from engine.plan import Action, Plan
from engine.plan.template import render

# Seconds a step takes before anything was measured: navigation and waits cost more than a click.
DEFAULT_STEP_S: dict[Action, float] = {Action.goto: 0.5, Action.download: 0.6, Action.wait_for: 0.4,
                                       Action.upload: 0.4}
FALLBACK_STEP_S = 0.15


class DurationStore(Protocol):
    def duration_estimate(self, site: str, action: str) -> float | None: ...
    def update_duration(self, site: str, action: str, seconds: float) -> None: ...


def site_of(url: str | None) -> str:
    """``http://127.0.0.1:8000/x`` -> ``127.0.0.1:8000``; template or relative URLs -> ``''``."""
    netloc = urlsplit(url or "").netloc
    return "" if "{{" in netloc else netloc.lower()


def step_sites(plan: Plan, params: Mapping[str, str] | None = None) -> dict[str, str]:
    """Site of each step, in file order; ``{{ params.X }}`` in URLs is filled from ``params``."""
    out: dict[str, str] = {}
    current = ""
    for step in plan.steps:
        if step.action is Action.goto and step.value:
            current = site_of(_fill(step.value, params or {})) or current
        out[step.id] = current
    return out


def _fill(text: str, params: Mapping[str, str]) -> str:
    try:
        return render(text, params, {}, lambda _name: "")
    except RpaError:
        return text


def plan_sites(plan: Plan, params: Mapping[str, str] | None = None) -> list[str]:
    return sorted({s for s in step_sites(plan, params).values() if s})


def estimate_plan(plan: Plan, store: DurationStore | None, params: Mapping[str, str] | None = None) -> float:
    """Expected seconds for one run of ``plan``."""
    sites = step_sites(plan, params)
    total = 0.0
    for step in plan.steps:
        known = None
        if store is not None:
            try:
                known = store.duration_estimate(sites[step.id], step.action.value)
            except Exception:  # an estimate is a hint; a broken store must not stop the batch
                known = None
        total += known if known is not None else DEFAULT_STEP_S.get(step.action, FALLBACK_STEP_S)
    return max(total, 0.01)


def record_durations(plan: Plan, outcome: RunOutcome, store: Any, params: Mapping[str, str] | None = None) -> int:
    """Feed the succeeded steps' durations back; returns how many were recorded."""
    sites = step_sites(plan, params)
    n = 0
    for step in outcome.steps:
        if step.status is not StepStatus.succeeded or step.id not in sites:
            continue
        store.update_duration(sites[step.id], step.action, float(step.seconds))
        n += 1
    return n
