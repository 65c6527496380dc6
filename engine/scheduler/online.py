"""Re-optimization while a batch runs: what has started stays put, the rest is searched again.

Called when a job finishes early or late, fails, or a new one arrives. The current schedule seeds
the search, so the answer is never worse than carrying on with the current order.
"""

from __future__ import annotations

import torch

from engine.errors import SchedulerError
from engine.scheduler.base import Budget, resolve_device
from engine.scheduler.ga import GASolver
from engine.scheduler.models import Objective, Problem, Schedule


def reoptimize(problem: Problem, current: Schedule, now: int, *, budget_ms: float = 30,
               budget_schedules: int | None = None, seed: int = 0, device: str | torch.device | None = "cpu",
               objective: Objective | str | None = None) -> Schedule:
    """A new schedule of ``problem`` in which activities that started before ``now`` keep their start
    (give them their updated durations in ``problem``) and the others start at ``now`` or later.

    Activities of ``problem`` missing from ``current`` are new arrivals; ids of ``current`` that are
    no longer in ``problem`` are ignored."""
    ids = problem.index()
    started = {k: s for k, s in current.start.items() if k in ids and s < now}
    for a in problem.activities:
        if a.id in started:
            late = [p for p in a.predecessors if p not in started]
            if late:
                raise SchedulerError(f"Scheduler.reoptimize: activity '{a.id}' has started but its predecessor "
                                     f"'{late[0]}' has not. Pass the schedule that is actually running.")
    pending = [a if a.id in started else a.model_copy(update={"release": max(a.release, now)})
               for a in problem.activities]
    shifted = problem.model_copy(update={"activities": pending})
    solver = GASolver(seed=seed, objective=objective or current.objective, fixed=started,
                      initial=[current.start])
    budget = Budget(schedules=budget_schedules, ms=budget_ms if budget_schedules is None else None)
    result = solver.solve(shifted, budget=budget, device=resolve_device(device))
    return result.model_copy(update={"solver": "ga-online"})
