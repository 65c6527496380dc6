"""Tables of the run history (SQLAlchemy 2 declarative ORM)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class HistoryStatus(str, Enum):
    """What ``runs.status`` holds; the CLI's ``--json`` folds the failures into ``failed``."""

    running = "running"
    succeeded = "succeeded"
    failed_business = "failed_business"
    failed_application = "failed_application"
    interrupted = "interrupted"
    timeout = "timeout"
    missed = "missed"


FAILED_STATUSES = {
    HistoryStatus.failed_business.value,
    HistoryStatus.failed_application.value,
    HistoryStatus.interrupted.value,
    HistoryStatus.timeout.value,
    HistoryStatus.missed.value,
}


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_name: Mapped[str] = mapped_column(String(200))
    plan_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    job_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(32), index=True)
    error_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    run_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    report: Mapped[str | None] = mapped_column(Text, nullable=True)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class StepRow(Base):
    __tablename__ = "steps"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    step_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    site: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    screenshot: Mapped[str | None] = mapped_column(Text, nullable=True)
    locator: Mapped[str | None] = mapped_column(Text, nullable=True)


class DecisionRow(Base):
    """One observation -> action -> outcome triple, kept for a later fine-tune."""

    __tablename__ = "decisions"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    step_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    instruction: Mapped[str | None] = mapped_column(Text, nullable=True)
    observation: Mapped[str | None] = mapped_column(Text, nullable=True)
    action: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The planner's side of the decision when the planner made the step: goal, previous actions and
    # the action line (refs of ``observation``), so the trainer rebuilds the exact prompt.
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class DurationRow(Base):
    """Running mean and variance (Welford) of one (site, action) pair's step durations."""

    __tablename__ = "durations"

    site: Mapped[str] = mapped_column(String(255), primary_key=True)
    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    mean_s: Mapped[float] = mapped_column(Float, default=0.0)
    m2: Mapped[float] = mapped_column(Float, default=0.0)
