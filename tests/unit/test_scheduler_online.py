"""Re-optimization from a running schedule, and problems built from jobs and plans."""

from __future__ import annotations

import random

import pytest

from engine.errors import SchedulerError
from engine.plan import Plan
from engine.scheduler import (JobActivity, Objective, check_feasible, from_jobs, from_plans, reoptimize, solve)


def _jobs(n: int, seed: int = 0) -> list[JobActivity]:
    rng = random.Random(seed)
    sites = ["a.test", "b.test", "c.test"]
    jobs = []
    for i in range(n):
        deps = [f"j{k}" for k in range(max(0, i - 5), i) if rng.random() < 0.1]
        extra = {"account": 1} if rng.random() < 0.2 else {}
        jobs.append(JobActivity(id=f"j{i}", duration_s=round(rng.uniform(0.5, 8.0), 2), depends_on=deps,
                                weight=rng.choice([1.0, 2.0, 5.0]), resources=extra, site=rng.choice(sites)))
    return jobs


def test_from_jobs_builds_slots_site_caps_and_extras():
    problem = from_jobs(_jobs(10), {"account": 1}, slots=4, site_caps={"a.test": 1}, unit_s=0.01)
    caps = problem.capacity()
    assert caps == {"account": 1, "browser": 4, "site:a.test": 1}
    acts = {a.id: a for a in problem.activities}
    assert all(a.demands["browser"] == 1 for a in acts.values())
    on_a = [a for a in acts.values() if "site:a.test" in a.demands]
    assert on_a and all(a.demands["site:a.test"] == 1 for a in on_a)
    assert acts["j0"].duration == round(_jobs(10)[0].duration_s * 100)
    result = solve(problem, budget_schedules=400, objective=Objective.weighted_completion)
    check_feasible(problem, result)


def test_from_plans_uses_priority_resources_site_and_estimates():
    def plan(name: str, url: str, priority: float = 1.0, resources: dict | None = None) -> Plan:
        return Plan(name=name, priority=priority, resources=resources or {},
                    steps=[{"id": "open", "action": "goto", "value": url}])

    plans = [plan("inv", "http://127.0.0.1:8000/invoices", 3.0), plan("inv", "http://127.0.0.1:8000/x"),
             plan("gpu", "http://localhost/train", resources={"gpu": 1})]
    problem = from_plans(plans, slots=2, site_caps={"127.0.0.1": 1}, capacity={"gpu": 1},
                         estimates={"inv": 2.0, "gpu": 5.0}, depends_on={"gpu": ["inv"]})
    acts = {a.id: a for a in problem.activities}
    assert set(acts) == {"inv", "inv#2", "gpu"}
    assert acts["inv"].weight == 3.0 and acts["inv"].duration == 200
    assert acts["inv#2"].demands == {"browser": 1, "site:127.0.0.1": 1}
    assert acts["gpu"].demands == {"gpu": 1, "browser": 1} and acts["gpu"].predecessors == ["inv"]
    result = solve(problem, budget_schedules=100)
    check_feasible(problem, result)
    assert result.start["inv#2"] >= result.start["inv"] + 200 or result.start["inv"] >= result.start["inv#2"] + 200


def test_reoptimize_keeps_started_work_and_moves_the_rest_after_now():
    problem = from_jobs(_jobs(50, seed=1), {"account": 1}, slots=4, site_caps={"a.test": 2})
    first = solve(problem, budget_schedules=500, objective=Objective.weighted_completion)
    now = first.makespan // 3
    started = {k: s for k, s in first.start.items() if s < now}
    # one running job turns out to take twice as long
    late = max(started, key=lambda k: started[k])
    acts = [a.model_copy(update={"duration": a.duration * 2}) if a.id == late else a for a in problem.activities]
    changed = problem.model_copy(update={"activities": acts})
    again = reoptimize(changed, first, now, budget_ms=30)
    check_feasible(changed, again)
    assert all(again.start[k] == s for k, s in started.items())
    assert all(again.start[k] >= now for k in again.start if k not in started)
    assert again.solver == "ga-online"


def test_reoptimize_takes_new_arrivals_and_drops_gone_jobs():
    jobs = _jobs(12, seed=2)
    problem = from_jobs(jobs, {"account": 1}, slots=3)
    first = solve(problem, budget_schedules=300)
    now = first.makespan // 2
    keep = [j for j in jobs if j.id != "j11" and not any(d == "j11" for d in j.depends_on)]
    arrived = keep + [JobActivity(id="new", duration_s=1.0, weight=10.0)]
    problem2 = from_jobs(arrived, {"account": 1}, slots=3)
    again = reoptimize(problem2, first, now, budget_schedules=300, objective=Objective.weighted_completion)
    check_feasible(problem2, again)
    assert again.start["new"] >= now and "j11" not in again.start


def test_reoptimize_refuses_a_started_job_whose_predecessor_has_not():
    problem = from_jobs([JobActivity(id="a", duration_s=1), JobActivity(id="b", duration_s=1, depends_on=["a"])],
                        slots=1)
    wrong = solve(problem, budget_schedules=10).model_copy(update={"start": {"a": 500, "b": 0}})
    with pytest.raises(SchedulerError, match=r"activity 'b' has started but its predecessor 'a' has not"):
        reoptimize(problem, wrong, now=10)


def test_reoptimize_is_deterministic_with_a_schedule_budget():
    problem = from_jobs(_jobs(30, seed=3), {"account": 1}, slots=4)
    first = solve(problem, budget_schedules=200)
    a = reoptimize(problem, first, first.makespan // 4, budget_schedules=200, seed=5)
    b = reoptimize(problem, first, first.makespan // 4, budget_schedules=200, seed=5)
    assert a.start == b.start
