"""OR-Tools CP-SAT baseline: interval variables, one cumulative constraint per resource.

Optional: ``ortools`` comes with the ``bench`` extra; without it ``solve`` raises ``SchedulerError``.
It uses every core (``num_workers = os.cpu_count()``) and the budget's milliseconds as its time limit.
"""

from __future__ import annotations

import os
import time

import torch

from engine.errors import SchedulerError
from engine.scheduler.base import Budget, Solver, register
from engine.scheduler.models import Objective, Problem, Schedule
from engine.scheduler.check import objective_value
from engine.scheduler.sgs import WEIGHT_SCALE

DEFAULT_SECONDS = 10.0


@register
class CpSatSolver(Solver):
    """Constraint programming with CP-SAT, for comparison."""

    name = "cpsat"

    def __init__(self, *, seed: int = 0, objective: Objective | str = Objective.makespan,
                 workers: int | None = None) -> None:
        super().__init__(seed=seed, objective=objective)
        self.workers = workers or os.cpu_count() or 1

    def solve(self, problem: Problem, *, budget: Budget, device: torch.device) -> Schedule:
        try:
            from ortools.sat.python import cp_model
        except ImportError as err:
            raise SchedulerError("Scheduler.cpsat: OR-Tools is not installed. Install the extra: "
                                 "pip install 'rpa-bots[bench]'.") from err
        t0 = time.perf_counter()
        model = cp_model.CpModel()
        horizon = max((a.release for a in problem.activities), default=0) + sum(a.duration for a in problem.activities)
        starts, ends, intervals = {}, {}, {}
        for a in problem.activities:
            starts[a.id] = model.new_int_var(a.release, horizon, f"s_{a.id}")
            ends[a.id] = model.new_int_var(a.release + a.duration, horizon, f"e_{a.id}")
            intervals[a.id] = model.new_interval_var(starts[a.id], a.duration, ends[a.id], f"i_{a.id}")
        for a in problem.activities:
            for p in a.predecessors:
                model.add(starts[a.id] >= ends[p])
        for r in problem.resources:
            users = [a for a in problem.activities if a.demands.get(r.id, 0) > 0 and a.duration > 0]
            if sum(a.demands[r.id] for a in users) > r.capacity:
                model.add_cumulative([intervals[a.id] for a in users], [a.demands[r.id] for a in users], r.capacity)
        self._objective(model, problem, ends, horizon)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = (budget.ms / 1000) if budget.ms else DEFAULT_SECONDS
        solver.parameters.num_workers = self.workers
        solver.parameters.random_seed = self.seed
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            raise SchedulerError(f"Scheduler.cpsat: no schedule found ({solver.status_name(status)}) within the "
                                 "time limit. Give it more time.")
        start = {a.id: int(solver.value(starts[a.id])) for a in problem.activities}
        makespan = max((start[a.id] + a.duration for a in problem.activities), default=0)
        return Schedule(start=start, makespan=makespan, objective=self.objective,
                        value=objective_value(problem, start, self.objective), solver=self.name, seed=self.seed,
                        schedules=0, seconds=round(time.perf_counter() - t0, 6), device="cpu")

    def _objective(self, model: object, problem: Problem, ends: dict, horizon: int) -> None:
        acts = problem.activities
        if self.objective == Objective.makespan:
            span = model.new_int_var(0, horizon, "makespan")  # type: ignore[attr-defined]
            model.add_max_equality(span, list(ends.values()) or [0])  # type: ignore[attr-defined]
            model.minimize(span)  # type: ignore[attr-defined]
        elif self.objective == Objective.weighted_completion:
            model.minimize(sum(round(a.weight * WEIGHT_SCALE) * ends[a.id] for a in acts))  # type: ignore[attr-defined]
        else:
            late = []
            for a in acts:
                if a.deadline is None:
                    continue
                t = model.new_int_var(0, horizon, f"late_{a.id}")  # type: ignore[attr-defined]
                model.add(t >= ends[a.id] - a.deadline)  # type: ignore[attr-defined]
                late.append(round(a.weight * WEIGHT_SCALE) * t)
            model.minimize(sum(late))  # type: ignore[attr-defined]
