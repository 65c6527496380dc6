"""Turn planned jobs into a scheduling problem, solve it, and read back the start order.

The torch scheduler (``engine.scheduler``) decides when it exists; otherwise a serial schedule
generation scheme with the weighted-shortest-processing-time rule gives a feasible order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field


class Activity(BaseModel):
    id: str
    duration: float
    demands: dict[str, int] = Field(default_factory=dict)
    weight: float = 1.0
    release: float = 0.0
    deadline: float | None = None


class LoopSchedule(BaseModel):
    """Planned start (seconds from the batch start) per job id, and what produced it."""

    start: dict[str, float]
    makespan: float
    solver: str

    def order(self) -> list[str]:
        return sorted(self.start, key=lambda k: (self.start[k], k))


def serial_sgs(activities: list[Activity], capacity: dict[str, int]) -> LoopSchedule:
    """Place each activity, highest weight/duration first, at the earliest time its demands fit."""
    order = sorted(activities, key=lambda a: (-a.weight / max(a.duration, 1e-6), a.id))
    placed: list[tuple[float, float, dict[str, int]]] = []
    start: dict[str, float] = {}

    def fits(t: float, a: Activity) -> bool:
        end = t + a.duration
        points = [t] + [s for s, _, _ in placed if t < s < end]
        for p in points:
            for r, q in a.demands.items():
                used = sum(d.get(r, 0) for s, e, d in placed if s <= p < e)
                if used + q > capacity.get(r, 0):
                    return False
        return True

    for a in order:
        candidates = sorted({a.release} | {e for _, e, _ in placed if e > a.release})
        t = next(c for c in candidates if fits(c, a)) if candidates else a.release
        start[a.id] = t
        placed.append((t, t + a.duration, a.demands))
    makespan = max((s + a.duration for a in activities for s in [start[a.id]]), default=0.0)
    return LoopSchedule(start=start, makespan=makespan, solver="sgs-wspt")


def _torch_schedule(solve: Callable[..., Any], activities: list[Activity], capacity: dict[str, int],
                    budget_ms: int) -> LoopSchedule:
    from engine import scheduler as sch

    scale = 100  # the scheduler works in integer time units: 10 ms each
    ids = [a.id for a in activities]
    problem = sch.Problem(
        activities=[sch.Activity(id=a.id, duration=max(1, round(a.duration * scale)), demands=a.demands,
                                 weight=a.weight, release=round(a.release * scale)) for a in activities],
        resources=[sch.Resource(id=r, capacity=c) for r, c in capacity.items()],
    )
    result = solve(problem, budget_ms=budget_ms, objective="weighted_completion")
    starts = _starts_of(result, ids)
    return LoopSchedule(start={k: v / scale for k, v in starts.items()},
                        makespan=float(getattr(result, "makespan", 0)) / scale,
                        solver=str(getattr(result, "solver", "torch-ga")))


def _starts_of(result: Any, ids: list[str]) -> dict[str, float]:
    raw = getattr(result, "start", None) or getattr(result, "starts", None)
    if isinstance(raw, dict):
        return {str(k): float(v) for k, v in raw.items()}
    return {i: float(v) for i, v in zip(ids, list(raw))}


def make_schedule(activities: list[Activity], capacity: dict[str, int], solve: Callable[..., Any] | None,
                  *, budget_ms: int = 200) -> LoopSchedule:
    if not activities:
        return LoopSchedule(start={}, makespan=0.0, solver="none")
    if solve is not None:
        try:
            return _torch_schedule(solve, activities, capacity, budget_ms)
        except Exception as err:  # the order is an optimisation: a feasible fallback keeps the batch going
            logger.warning("loop: scheduler failed ({}: {}); using the WSPT rule", type(err).__name__, err)
    return serial_sgs(activities, capacity)
