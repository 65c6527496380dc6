"""What comes back from a bot: typed step and run outcomes that flow into history and reports."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from engine.errors import FailureKind, RpaError
from engine.logs import mask


class StepStatus(str, Enum):
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"


class RunStatus(str, Enum):
    succeeded = "succeeded"
    failed = "failed"  # the CLI's two values; history refines failures with error_kind
    interrupted = "interrupted"


class StepOutcome(BaseModel):
    id: str
    action: str
    status: StepStatus
    seconds: float = 0.0
    attempts: int = 1
    error: str | None = None
    error_kind: FailureKind | None = None
    locator: str | None = Field(None, description="The locator that matched (primary or fallback).")
    screenshot: str | None = None
    started_at: datetime | None = None


class StepRepair(BaseModel):
    """A step the bot replaced during the run because the page had changed (old and new as plan JSON)."""

    step_id: str
    old: dict[str, Any]
    new: dict[str, Any]


class RunOutcome(BaseModel):
    run_id: str
    plan_name: str
    status: RunStatus
    steps: list[StepOutcome] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    downloads: list[str] = Field(default_factory=list)
    error: str | None = None
    error_kind: FailureKind | None = None
    seconds: float = 0.0
    llm_calls: int = 0
    attempt: int = 1
    run_dir: str | None = None
    report: str | None = None
    trace: str | None = None
    repairs: list[StepRepair] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.succeeded

    @classmethod
    def failed(cls, run_id: str, plan_name: str, error: RpaError | BaseException | str, *,
               kind: FailureKind | None = None, attempt: int = 1, run_dir: str | None = None,
               started_at: datetime | None = None) -> RunOutcome:
        """A run that failed before or outside its steps (inputs, a browser that would not start)."""
        now = datetime.now(timezone.utc)
        if isinstance(error, RpaError):
            message = error.message
        elif isinstance(error, BaseException):
            message = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
        else:
            message = error
        if kind is None:
            kind = FailureKind.of(error) if isinstance(error, BaseException) else FailureKind.application
        started = started_at or now
        return cls(run_id=run_id, plan_name=plan_name, status=RunStatus.failed, error=mask(message),
                   error_kind=kind, attempt=attempt, run_dir=run_dir, started_at=started, finished_at=now,
                   seconds=(now - started).total_seconds())

    def summary_json(self) -> dict[str, Any]:
        """The object ``rpa run --json`` prints."""
        return {
            "run_id": self.run_id,
            "plan": self.plan_name,
            "status": self.status.value,
            "error": self.error,
            "error_kind": self.error_kind.value if self.error_kind else None,
            "steps": [
                {
                    "id": s.id,
                    "action": s.action,
                    "status": s.status.value,
                    "seconds": round(s.seconds, 3),
                    "attempts": s.attempts,
                    "error": s.error,
                }
                for s in self.steps
            ],
            "outputs": self.outputs,
            "downloads": self.downloads,
            "llm_calls": self.llm_calls,
            "seconds": round(self.seconds, 3),
            "report": self.report,
        }
