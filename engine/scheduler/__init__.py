"""Scheduler: decide what runs when, under precedence and renewable resources.

``solve(problem)`` runs a registered solver (``ga`` by default: a batched-SGS genetic algorithm in
torch; ``lft``/``minslack``/``wspt`` priority rules; ``cpsat`` with OR-Tools when installed).
Every returned schedule passes ``check_feasible``.
"""

from __future__ import annotations

import torch

from engine.scheduler import cpsat as _cpsat  # noqa: F401  (registers "cpsat")
from engine.scheduler import ga as _ga  # noqa: F401  (registers "ga")
from engine.scheduler import rules as _rules  # noqa: F401  (registers the rules)
from engine.scheduler.base import Budget, Solver, get_solver, register, resolve_device, solver_names
from engine.scheduler.check import check_feasible, objective_value, violations
from engine.scheduler.jobs import JobActivity, from_jobs, from_plans
from engine.scheduler.models import Activity, Objective, Problem, Resource, Schedule
from engine.scheduler.online import reoptimize
from engine.scheduler.psplib import load_sm, load_solutions, parse_sm

__all__ = [
    "Activity", "Budget", "JobActivity", "Objective", "Problem", "Resource", "Schedule", "Solver",
    "check_feasible", "from_jobs", "from_plans", "get_solver", "load_sm", "load_solutions", "objective_value",
    "parse_sm", "register", "reoptimize", "solve", "solver_names", "violations",
]


def solve(problem: Problem, *, solver: str = "ga", budget_schedules: int | None = None,
          budget_ms: float | None = None, device: str | torch.device | None = "cpu", seed: int = 0,
          objective: Objective | str = Objective.makespan) -> Schedule:
    """Best schedule found by ``solver`` within the budget (2,000 schedules when none is given).

    ``device=None`` or ``"auto"`` uses CUDA when present; a seed with a budget in schedules gives
    the same schedule on every device."""
    impl = get_solver(solver, seed=seed, objective=objective)
    return impl.solve(problem, budget=Budget(schedules=budget_schedules, ms=budget_ms),
                      device=resolve_device(device))
