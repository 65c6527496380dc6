"""A batch's jobs as an ``engine.scheduler.Problem``, solved, read back in seconds.

The scheduler works in integer time units (``UNIT_S`` each). The GA decides; when it fails the
WSPT priority rule of the same package gives a feasible order, so a batch never waits on it.
"""

from __future__ import annotations

from loguru import logger
from pydantic import BaseModel, Field

from engine.scheduler import Activity, Objective, Problem, Resource, Schedule, solve

UNIT_S = 0.01  # one scheduler time unit: 10 ms


class JobWork(BaseModel):
    """What the loop knows about one job before it runs: expected seconds and resource demands."""

    id: str
    seconds: float
    demands: dict[str, int] = Field(default_factory=dict)
    weight: float = 1.0


class BatchSchedule(BaseModel):
    """The solved schedule of a batch, with its start times in seconds."""

    schedule: Schedule | None = None

    @property
    def solver(self) -> str:
        return self.schedule.solver if self.schedule is not None else "none"

    @property
    def start_s(self) -> dict[str, float]:
        return {k: v * UNIT_S for k, v in (self.schedule.start if self.schedule else {}).items()}

    @property
    def makespan_s(self) -> float:
        return self.schedule.makespan * UNIT_S if self.schedule is not None else 0.0

    def order(self) -> list[str]:
        return self.schedule.order() if self.schedule is not None else []


def problem_of(work: list[JobWork], capacity: dict[str, int]) -> Problem:
    return Problem(
        activities=[Activity(id=w.id, duration=max(1, round(w.seconds / UNIT_S)), demands=w.demands,
                             weight=w.weight) for w in work],
        resources=[Resource(id=r, capacity=c) for r, c in capacity.items()],
    )


def schedule_batch(work: list[JobWork], capacity: dict[str, int], *, solver: str = "ga",
                   budget_ms: int = 200) -> BatchSchedule:
    """Order the jobs to minimise weighted completion; one job needs no search."""
    if not work:
        return BatchSchedule()
    problem = problem_of(work, capacity)
    if len(work) == 1:
        solver = "wspt"
    try:
        return BatchSchedule(schedule=solve(problem, solver=solver, budget_ms=budget_ms,
                                            objective=Objective.weighted_completion))
    except Exception as err:  # noqa: BLE001 - the order is an optimisation: the rule keeps the batch going
        logger.warning("loop: scheduler '{}' failed ({}: {}); using the WSPT rule", solver, type(err).__name__, err)
        return BatchSchedule(schedule=solve(problem, solver="wspt", objective=Objective.weighted_completion))
