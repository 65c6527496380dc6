"""Duration estimates per (site, action) come from history and improve with every run."""

from __future__ import annotations

from engine.config import get_settings
from engine.history import History
from engine.loop.estimates import DEFAULT_STEP_S, estimate_plan, plan_sites, record_durations, site_of, step_sites
from engine.outcome import RunOutcome, RunStatus, StepOutcome, StepStatus
from engine.plan import Action, parse_plan

PLAN = parse_plan("""
name: p
params: {base_url: "http://127.0.0.1:9000"}
steps:
  - {id: open, action: goto, value: "{{ params.base_url }}/login"}
  - {id: user, action: fill, target: {label: User}, value: alice}
  - {id: go, action: click, target: {role: button, name: Sign in}}
""")


def test_sites_follow_gotos_and_params() -> None:
    assert site_of("http://127.0.0.1:8000/x?y=1") == "127.0.0.1:8000"
    assert site_of("{{ params.base_url }}/x") == ""
    sites = step_sites(PLAN, {"base_url": "http://127.0.0.1:9000"})
    assert set(sites.values()) == {"127.0.0.1:9000"}
    assert plan_sites(PLAN, {"base_url": "http://h:1"}) == ["h:1"]


def test_estimates_use_history_after_a_run() -> None:
    history = History(get_settings().ensure())
    params = {"base_url": "http://127.0.0.1:9000"}
    before = estimate_plan(PLAN, history, params)
    assert before == DEFAULT_STEP_S[Action.goto] + 2 * 0.15
    outcome = RunOutcome(run_id="r", plan_name="p", status=RunStatus.succeeded, steps=[
        StepOutcome(id="open", action="goto", status=StepStatus.succeeded, seconds=2.0),
        StepOutcome(id="user", action="fill", status=StepStatus.succeeded, seconds=1.0),
        StepOutcome(id="go", action="click", status=StepStatus.failed, seconds=9.0)])
    assert record_durations(PLAN, outcome, history, params) == 2
    after = estimate_plan(PLAN, history, params)
    assert after == 2.0 + 1.0 + 0.15
