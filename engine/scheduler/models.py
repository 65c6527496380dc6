"""Data of the scheduler: a ``Problem`` (activities, resources) and the ``Schedule`` a solver returns.

Time is in integer units (the caller picks the unit: PSPLIB periods, or 10 ms for the engine loop).
Validation raises ``SchedulerError`` naming the activity, so a bad batch never reaches a solver.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.errors import SchedulerError


class Objective(str, Enum):
    makespan = "makespan"
    weighted_completion = "weighted_completion"  # sum of w_i * C_i
    tardiness = "tardiness"  # sum of w_i * max(0, C_i - deadline_i)


class Resource(BaseModel):
    """A renewable resource: browser slots, a per-site cap, an account, a GPU."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    capacity: int

    @model_validator(mode="after")
    def _non_negative(self) -> Resource:
        if self.capacity < 0:
            raise SchedulerError(f"Problem.validate: resource '{self.id}' has capacity {self.capacity} < 0. "
                                 "Give a capacity of 0 or more.")
        return self


class Activity(BaseModel):
    """One unit of work: a whole plan or a group of steps."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    duration: int
    predecessors: list[str] = Field(default_factory=list)
    demands: dict[str, int] = Field(default_factory=dict)
    weight: float = 1.0
    release: int = 0
    deadline: int | None = None

    @model_validator(mode="after")
    def _sane(self) -> Activity:
        if self.duration < 0:
            raise SchedulerError(f"Problem.validate: activity '{self.id}' has negative duration {self.duration}. "
                                 "Durations must be 0 or more.")
        if self.release < 0:
            raise SchedulerError(f"Problem.validate: activity '{self.id}' has negative release {self.release}. "
                                 "Releases must be 0 or more.")
        if self.weight < 0:
            raise SchedulerError(f"Problem.validate: activity '{self.id}' has negative weight {self.weight}. "
                                 "Weights must be 0 or more.")
        for r, q in self.demands.items():
            if q < 0:
                raise SchedulerError(f"Problem.validate: activity '{self.id}' demands {q} < 0 of '{r}'. "
                                     "Demands must be 0 or more.")
        return self


class Problem(BaseModel):
    """Activities with precedence and renewable-resource demands; validated on construction."""

    model_config = ConfigDict(frozen=True)

    activities: list[Activity]
    resources: list[Resource] = Field(default_factory=list)
    name: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Problem:
        ids = [a.id for a in self.activities]
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                raise SchedulerError(f"Problem.validate: activity id '{i}' appears twice. Give each activity "
                                     "a unique id.")
            seen.add(i)
        capacity = {r.id: r.capacity for r in self.resources}
        if len(capacity) != len(self.resources):
            raise SchedulerError("Problem.validate: a resource id appears twice. Give each resource a unique id.")
        for a in self.activities:
            for p in a.predecessors:
                if p not in seen:
                    raise SchedulerError(f"Problem.validate: activity '{a.id}' has unknown predecessor '{p}'. "
                                         "Add that activity or drop the dependency.")
            for r, q in a.demands.items():
                if r not in capacity:
                    raise SchedulerError(f"Problem.validate: activity '{a.id}' demands unknown resource '{r}'. "
                                         "Declare the resource with its capacity.")
                if q > capacity[r]:
                    raise SchedulerError(f"Problem.validate: activity '{a.id}' demands {q} of '{r}' but its "
                                         f"capacity is {capacity[r]}. Lower the demand or raise the capacity.")
        _check_acyclic(self.activities)
        return self

    def index(self) -> dict[str, int]:
        return {a.id: i for i, a in enumerate(self.activities)}

    def capacity(self) -> dict[str, int]:
        return {r.id: r.capacity for r in self.resources}


def _check_acyclic(activities: list[Activity]) -> None:
    """Kahn's algorithm; what is left over lies on or behind a cycle, and we name one on the cycle."""
    indeg = {a.id: len(set(a.predecessors)) for a in activities}
    succs: dict[str, list[str]] = {a.id: [] for a in activities}
    for a in activities:
        for p in set(a.predecessors):
            succs[p].append(a.id)
    ready = [i for i, d in indeg.items() if d == 0]
    while ready:
        i = ready.pop()
        for s in succs[i]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    left = {i for i, d in indeg.items() if d > 0}
    if not left:
        return
    preds = {a.id: [p for p in a.predecessors if p in left] for a in activities if a.id in left}
    node = sorted(left)[0]
    path: list[str] = []
    while node not in path:  # walk predecessors inside the leftover set until a node repeats
        path.append(node)
        node = preds[node][0]
    cycle = path[path.index(node):][::-1] + [node]
    raise SchedulerError(f"Problem.validate: precedence cycle {' -> '.join(cycle)} (at activity '{node}'). "
                         "Remove one of these dependencies.")


class Schedule(BaseModel):
    """A start time per activity id, and what it scores."""

    start: dict[str, int]
    makespan: int
    objective: Objective = Objective.makespan
    value: float = 0.0
    solver: str = ""
    seed: int | None = None
    schedules: int = Field(0, description="How many schedules the solver decoded to find this one.")
    seconds: float = 0.0
    device: str = "cpu"

    def finish(self, problem: Problem) -> dict[str, int]:
        return {a.id: self.start[a.id] + a.duration for a in problem.activities}

    def order(self) -> list[str]:
        return sorted(self.start, key=lambda k: (self.start[k], k))
