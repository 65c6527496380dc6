"""What a scheduled job is: the work (a plan file, an instruction, or a program), when, and its policy."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

JOB_ID_RE = r"^[a-z0-9][a-z0-9._-]{0,79}$"

# Scheduler defaults that suit unattended bots (APScheduler's own are 1 s grace, no coalescing).
MISFIRE_GRACE_S = 300
DEFAULT_RETRIES = 1


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class TriggerSpec(BaseModel):
    """When a job fires; ``engine.jobs.triggers.build_trigger`` turns it into an APScheduler trigger."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["cron", "interval", "date"]
    tz: str = Field("UTC", description="IANA time zone the trigger computes in.")
    cron: str | None = Field(None, description="Five crontab fields (kind=cron).")
    every_s: float | None = Field(None, gt=0, description="Interval in seconds (kind=interval).")
    start: datetime | None = Field(None, description="First fire time of an interval, fixed when the job is added.")
    at: datetime | None = Field(None, description="The one fire time (kind=date).")

    @model_validator(mode="after")
    def _fields_of_kind(self) -> TriggerSpec:
        needed = {"cron": self.cron, "interval": self.every_s, "date": self.at}[self.kind]
        if needed is None:
            raise ValueError(f"a {self.kind} trigger needs its {'cron' if self.kind == 'cron' else 'time'} field")
        return self


class JobDef(BaseModel):
    """One scheduled job, as ``rpa schedule add`` stores it (the ``rpa_jobs`` table)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=JOB_ID_RE)
    name: str = Field(min_length=1, max_length=200)
    plan_path: str | None = None
    instruction: str | None = None
    url: str | None = None
    command: list[str] | None = Field(
        None, description="A program to run instead of a plan: exit 0 = succeeded, 2 = business failure."
    )
    trigger: TriggerSpec
    retries: int = Field(DEFAULT_RETRIES, ge=0, le=10, description="Extra attempts after an application error.")
    timeout_s: float | None = Field(None, gt=0, description="Hard limit per attempt; the run is killed past it.")
    misfire_grace_s: int = Field(MISFIRE_GRACE_S, ge=1)
    params: dict[str, str] = Field(default_factory=dict)
    items_path: str | None = Field(None, description="A work-item file: each fire runs the plan over its rows.")
    paused: bool = False
    anchor: datetime = Field(default_factory=utcnow, description="Fire times before this are not owed (add, resume).")

    @model_validator(mode="after")
    def _one_kind_of_work(self) -> JobDef:
        kinds = [k for k, v in (("plan_path", self.plan_path), ("instruction", self.instruction),
                                ("command", self.command)) if v]
        if len(kinds) != 1:
            raise ValueError("a job needs exactly one of plan_path, instruction or command")
        if self.instruction and not self.url:
            raise ValueError("an instruction job needs the url of the page to plan on")
        if self.items_path and not self.plan_path:
            raise ValueError("an items job needs a plan file")
        return self

    @property
    def last_attempt(self) -> int:
        """The highest attempt number of one scheduled time: the first plus ``retries``."""
        return 1 + self.retries

    @property
    def kind(self) -> str:
        return "plan" if self.plan_path else "instruction" if self.instruction else "command"

    def label(self) -> str:
        if self.plan_path:
            return self.plan_path
        if self.instruction:
            return f'"{self.instruction}" on {self.url}'
        return " ".join(self.command or [])


def new_job_id(name: str) -> str:
    """A readable, unique id: the name's slug plus four random hex digits (``invoices-3fa2``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "job"
    return f"{slug}-{secrets.token_hex(2)}"


class JobView(BaseModel):
    """A job plus what the store knows about it, as ``rpa schedule list`` prints it."""

    job: JobDef
    next_run_time: datetime | None = None
    last_status: str | None = None
    last_scheduled_for: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        data = self.job.model_dump(mode="json", exclude_none=True)
        data.update(next_run_time=self.next_run_time.isoformat() if self.next_run_time else None,
                    last_status=self.last_status,
                    last_scheduled_for=self.last_scheduled_for.isoformat() if self.last_scheduled_for else None)
        return data
