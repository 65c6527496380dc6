"""Data of the loop: what a caller asks for (``JobSpec``) and what a batch gives back."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.errors import FailureKind
from engine.loop.schedule import BatchSchedule
from engine.outcome import RunOutcome
from engine.plan import Plan


class JobSpec(BaseModel):
    """One piece of pending work: a plan, a plan file, or an instruction to plan at ``url``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    plan: Plan | None = None
    plan_path: str | None = None
    instruction: str | None = None
    url: str | None = None
    skills: bool = Field(True, description="Route an instruction to a recorded bot when one fits (engine.skills).")
    params: dict[str, str] = Field(default_factory=dict)
    job_id: str | None = None
    scheduled_for: datetime | None = None
    attempt: int = Field(1, ge=1)
    retries: int = Field(3, ge=0, le=20, description="Extra attempts after an application error.")
    timeout_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _some_work(self) -> JobSpec:
        if self.plan is None and self.plan_path is None and self.instruction is None:
            raise ValueError("a job needs a plan, a plan_path or an instruction")
        return self

    def label(self) -> str:
        if self.plan is not None:
            return self.plan.name
        if self.plan_path:
            return self.plan_path
        return f'"{self.instruction}"'


class EntryStatus(str, Enum):
    succeeded = "succeeded"
    repaired = "repaired"  # succeeded after a repair of the plan
    failed_business = "failed_business"
    failed_application = "failed_application"
    unschedulable = "unschedulable"
    not_planned = "not_planned"
    repair_failed = "repair_failed"
    skipped_duplicate = "skipped_duplicate"
    timeout = "timeout"


class Repair(BaseModel):
    """One accepted change to a plan, as shown in the report."""

    step_id: str
    source: str = Field(description="'planner' or 'observation' (the deterministic fallback).")
    old: str
    new: str


class JobEntry(BaseModel):
    """The report line for one job of a batch."""

    job_id: str
    label: str
    status: EntryStatus
    attempts: int = 0
    retries: int = 0
    error: str | None = None
    error_kind: FailureKind | None = None
    run_ids: list[str] = Field(default_factory=list)
    repairs: list[Repair] = Field(default_factory=list)
    repaired_path: str | None = None
    diff: str | None = None
    llm_calls: int = 0
    planned: bool = Field(False, description="Planned from its instruction in this batch (by doing the work).")
    planning_seconds: float = Field(0.0, description="Seconds spent choosing steps (the planning run, or routing).")
    replay_seconds: float = Field(0.0, description="Seconds of the replays of a stored plan.")
    decision_seconds: list[float] = Field(default_factory=list, description="Each planning decision's seconds.")
    plan: Plan | None = Field(None, description="The plan the job ended with (planned, repaired or as given).")
    from_cache: bool = False
    crashes: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in (EntryStatus.succeeded, EntryStatus.repaired)


class BatchOutcome(BaseModel):
    """Everything a batch did: one final run per executed job, the report, the schedule."""

    runs: list[RunOutcome] = Field(default_factory=list)
    entries: list[JobEntry] = Field(default_factory=list)
    report: str | None = None
    llm_calls: int = 0
    seconds: float = 0.0
    planning_seconds: float = 0.0
    run_seconds: float = Field(0.0, description="Wall time of the dispatch phase (browser launch excluded).")
    retries: int = 0
    schedule: BatchSchedule = Field(default_factory=BatchSchedule)
    solver: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.entries) and all(e.ok for e in self.entries)

    @property
    def succeeded(self) -> int:
        return sum(1 for e in self.entries if e.ok)

    def summary_json(self) -> dict[str, Any]:
        return {
            "status": "succeeded" if self.ok else "failed",
            "jobs": len(self.entries),
            "succeeded": self.succeeded,
            "repaired": sum(1 for e in self.entries if e.status is EntryStatus.repaired),
            "retries": self.retries,
            "llm_calls": self.llm_calls,
            "planning_seconds": round(self.planning_seconds, 3),
            "run_seconds": round(self.run_seconds, 3),
            "seconds": round(self.seconds, 3),
            "report": self.report,
            "entries": [
                {
                    "job_id": e.job_id,
                    "job": e.label,
                    "status": e.status.value,
                    "attempts": e.attempts,
                    "error": e.error,
                    "error_kind": e.error_kind.value if e.error_kind else None,
                    "llm_calls": e.llm_calls,
                    "from_cache": e.from_cache,
                    "planning_seconds": round(e.planning_seconds, 3),
                    "replay_seconds": round(e.replay_seconds, 3),
                    "repaired_path": e.repaired_path,
                    "run_ids": e.run_ids,
                }
                for e in self.entries
            ],
            "runs": [r.summary_json() for r in self.runs],
        }
