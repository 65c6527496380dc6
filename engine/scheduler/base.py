"""The solver plug-in contract: one abstract ``solve``, solvers registered by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from pydantic import BaseModel, Field

from engine.errors import SchedulerError
from engine.scheduler.models import Objective, Problem, Schedule


class Budget(BaseModel):
    """Stop after ``schedules`` decoded schedules or ``ms`` milliseconds, whichever comes first.

    A budget in schedules is deterministic per seed; one in milliseconds depends on the machine."""

    schedules: int | None = Field(None, ge=1)
    ms: float | None = Field(None, gt=0)


class Solver(ABC):
    """A scheduling algorithm; ``seed`` and ``objective`` are fixed at construction."""

    name: ClassVar[str]

    def __init__(self, *, seed: int = 0, objective: Objective | str = Objective.makespan) -> None:
        self.seed = seed
        self.objective = Objective(objective)

    @abstractmethod
    def solve(self, problem: Problem, *, budget: Budget, device: torch.device) -> Schedule:
        """A feasible schedule of ``problem`` found within ``budget`` on ``device``."""


_REGISTRY: dict[str, type[Solver]] = {}


def register(cls: type[Solver]) -> type[Solver]:
    _REGISTRY[cls.name] = cls
    return cls


def solver_names() -> list[str]:
    return sorted(_REGISTRY)


def get_solver(name: str, **options: object) -> Solver:
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise SchedulerError(f'Scheduler.get_solver: No solver by the name "{name}" was found. '
                             f"Use one of: {', '.join(solver_names())}.") from None
    return cls(**options)  # type: ignore[arg-type]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` picks CUDA when present; asking for CUDA without one is an error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SchedulerError("Scheduler.solve: device 'cuda' was asked for but no CUDA GPU is available. "
                             "Use --device cpu.")
    return dev
