"""Feasibility checker and exact objective values, independent of the tensor code it checks."""

from __future__ import annotations

from engine.errors import SchedulerError
from engine.scheduler.models import Objective, Problem, Schedule


def violations(problem: Problem, start: dict[str, int] | Schedule) -> list[str]:
    """Every broken constraint, one line each: missing starts, releases, precedence, capacities."""
    if isinstance(start, Schedule):
        start = start.start
    out: list[str] = []
    acts = {a.id: a for a in problem.activities}
    missing = [k for k in acts if k not in start]
    if missing:
        return [f"no start for activities {missing}"]
    for a in problem.activities:
        s = start[a.id]
        if s < a.release:
            out.append(f"'{a.id}' starts at {s} before its release {a.release}")
        for p in a.predecessors:
            if s < start[p] + acts[p].duration:
                out.append(f"'{a.id}' starts at {s} before predecessor '{p}' ends at {start[p] + acts[p].duration}")
    out.extend(_capacity_violations(problem, start))
    return out


def _capacity_violations(problem: Problem, start: dict[str, int]) -> list[str]:
    """Usage only rises at a start time, so checking every start time checks every time."""
    out: list[str] = []
    running = [a for a in problem.activities if a.duration > 0]
    for t in sorted({start[a.id] for a in running}):
        live = [a for a in running if start[a.id] <= t < start[a.id] + a.duration]
        for r in problem.resources:
            used = sum(a.demands.get(r.id, 0) for a in live)
            if used > r.capacity:
                out.append(f"resource '{r.id}' uses {used} > capacity {r.capacity} at time {t} "
                           f"({', '.join(a.id for a in live if a.demands.get(r.id, 0))})")
    return out


def check_feasible(problem: Problem, schedule: Schedule | dict[str, int]) -> None:
    """Raise ``SchedulerError`` naming the first broken constraint; also checks the stated makespan."""
    found = violations(problem, schedule)
    if isinstance(schedule, Schedule) and not found:
        real = max((schedule.start[a.id] + a.duration for a in problem.activities), default=0)
        if real != schedule.makespan:
            found.append(f"stated makespan {schedule.makespan} but activities end at {real}")
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise SchedulerError(f"Schedule.check: {found[0]}{more}. The schedule is infeasible; report this as a bug.")


def objective_value(problem: Problem, start: dict[str, int], objective: Objective | str) -> float:
    objective = Objective(objective)
    ends = [(a, start[a.id] + a.duration) for a in problem.activities]
    if objective == Objective.makespan:
        return float(max((e for _, e in ends), default=0))
    if objective == Objective.weighted_completion:
        return float(sum(a.weight * e for a, e in ends))
    return float(sum(a.weight * max(0, e - a.deadline) for a, e in ends if a.deadline is not None))
