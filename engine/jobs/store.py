"""Where jobs live: our definitions (``rpa_jobs``), APScheduler's own ``apscheduler_jobs`` table, and
the claim table ``job_claims`` that makes a (job, scheduled time, attempt) run at most once.

All three share the history's database (``settings.database_url`` or ``--db``) and its SQLAlchemy
engine (SQLite in WAL mode with a busy timeout), so one file holds a daemon's whole state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from loguru import logger
from pydantic import BaseModel
from sqlalchemy import Boolean, DateTime, Integer, String, Text, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from engine.config import Settings, get_settings
from engine.errors import ConfigError
from engine.history import History
from engine.jobs.models import JobDef, JobView, utcnow
from engine.jobs.triggers import build_trigger
from engine.logs import mask

APS_TABLE = "apscheduler_jobs"
TASK_REF = "engine.jobs.tasks:run_job"


class _Base(DeclarativeBase):
    pass


class JobRow(_Base):
    __tablename__ = "rpa_jobs"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ClaimRow(_Base):
    """One attempt at one scheduled time of one job; the primary key is the guard against twice."""

    __tablename__ = "job_claims"

    job_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    slot: Mapped[str] = mapped_column(String(40), primary_key=True)  # triggers.slot_key: UTC ISO
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(24), index=True)  # running, finished, interrupted, missed
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the history status at the end
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)  # `rpa schedule run-now`, off the trigger


class Claim(BaseModel):
    job_id: str
    slot: str
    attempt: int
    state: str
    status: str | None = None
    pid: int | None = None
    note: str | None = None


def _claim(row: ClaimRow) -> Claim:
    return Claim(job_id=row.job_id, slot=row.slot, attempt=row.attempt, state=row.state, status=row.status,
                 pid=row.pid, note=row.note)


@contextmanager
def store_errors(url: str, action: str = "Jobs.store") -> Iterator[None]:
    """A locked or corrupt database becomes one line that says what to do."""
    try:
        yield
    except (DBAPIError, SQLAlchemyError) as err:
        first = str(getattr(err, "orig", None) or err).splitlines()[0]
        hint = ("Another process holds a write lock; retry, or stop it." if "locked" in first
                else "Check the file (sqlite3 FILE 'PRAGMA integrity_check') or point --db / RPA_DB elsewhere.")
        raise ConfigError(f"{action}: the job store {mask(url)} failed ({first}). {hint}") from None


class JobStore:
    """Job definitions and claims; also the APScheduler job store on the same database."""

    def __init__(self, settings: Settings | None = None, *, url: str | None = None) -> None:
        self.settings = settings or get_settings()
        self.url = url or self.settings.database_url
        self.history = History(self.settings, url=self.url)
        self.engine = self.history.engine
        with store_errors(self.url, "Jobs.open"):
            _Base.metadata.create_all(self.engine, checkfirst=True)

    # -- definitions --------------------------------------------------------------------------
    def put(self, job: JobDef) -> None:
        now = utcnow()
        text = job.model_dump_json(exclude_none=True)
        with store_errors(self.url), Session(self.engine) as session, session.begin():
            row = session.get(JobRow, job.id)
            if row is None:
                session.add(JobRow(id=job.id, definition=text, created_at=now, updated_at=now))
            else:
                row.definition, row.updated_at = text, now

    def find(self, job_id: str) -> JobDef | None:
        with store_errors(self.url), Session(self.engine) as session:
            row = session.get(JobRow, job_id)
            return JobDef.model_validate_json(row.definition) if row is not None else None

    def get(self, job_id: str) -> JobDef:
        job = self.find(job_id)
        if job is None:
            raise ConfigError(f"Jobs.get: no job '{job_id}'. See `rpa schedule list` for the ids.")
        return job

    def all(self) -> list[JobDef]:
        with store_errors(self.url), Session(self.engine) as session:
            rows = list(session.scalars(select(JobRow).order_by(JobRow.created_at, JobRow.id)))
        jobs = []
        for row in rows:
            try:
                jobs.append(JobDef.model_validate_json(row.definition))
            except ValueError as err:  # written by a newer version, or edited by hand: skip, say so
                logger.warning("jobs: definition of '{}' does not load ({}); skipped", row.id, err)
        return jobs

    def delete(self, job_id: str) -> None:
        with store_errors(self.url), Session(self.engine) as session, session.begin():
            row = session.get(JobRow, job_id)
            if row is not None:
                session.delete(row)

    def views(self) -> list[JobView]:
        nexts = self.next_run_times()
        out = []
        for job in self.all():
            last = self.history.list_runs(job_id=job.id, limit=1)
            out.append(JobView(job=job, next_run_time=nexts.get(job.id),
                               last_status=last[0].status if last else None,
                               last_scheduled_for=last[0].scheduled_for if last else None))
        return out

    # -- claims -------------------------------------------------------------------------------
    def claim(self, job_id: str, slot: str, attempt: int, *, state: str = "running", pid: int | None = None,
              status: str | None = None, note: str | None = None, manual: bool = False) -> bool:
        """Insert the claim in its own transaction; False if that (job, slot, attempt) was claimed."""
        now = utcnow()
        row = ClaimRow(job_id=job_id, slot=slot, attempt=attempt, state=state, pid=pid, claimed_at=now,
                       status=status, note=mask(note), manual=manual,
                       finished_at=None if state == "running" else now)
        with store_errors(self.url):
            try:
                with Session(self.engine) as session, session.begin():
                    if attempt > 1 and self._succeeded(session, job_id, slot):
                        return False
                    session.add(row)
            except IntegrityError:
                return False
        return True

    @staticmethod
    def _succeeded(session: Session, job_id: str, slot: str) -> bool:
        found = session.scalar(select(ClaimRow.attempt).where(
            ClaimRow.job_id == job_id, ClaimRow.slot == slot, ClaimRow.status == "succeeded").limit(1))
        return found is not None

    def finish_claim(self, job_id: str, slot: str, attempt: int, *, state: str, status: str | None,
                     note: str | None = None) -> None:
        values: dict[str, Any] = {"state": state, "status": status, "finished_at": utcnow()}
        if note is not None:
            values["note"] = mask(note)
        with store_errors(self.url), Session(self.engine) as session, session.begin():
            session.execute(update(ClaimRow).where(ClaimRow.job_id == job_id, ClaimRow.slot == slot,
                                                   ClaimRow.attempt == attempt).values(**values))

    def claims(self, job_id: str | None = None, *, states: tuple[str, ...] | None = None) -> list[Claim]:
        query = select(ClaimRow).order_by(ClaimRow.job_id, ClaimRow.slot, ClaimRow.attempt)
        if job_id is not None:
            query = query.where(ClaimRow.job_id == job_id)
        if states is not None:
            query = query.where(ClaimRow.state.in_(states))
        with store_errors(self.url), Session(self.engine) as session:
            return [_claim(r) for r in session.scalars(query)]

    def last_slot(self, job_id: str) -> str | None:
        with store_errors(self.url), Session(self.engine) as session:
            return session.scalar(select(ClaimRow.slot).where(ClaimRow.job_id == job_id, ClaimRow.manual.is_(False))
                                  .order_by(ClaimRow.slot.desc()).limit(1))

    # -- APScheduler --------------------------------------------------------------------------
    def aps_jobstore(self) -> SQLAlchemyJobStore:
        return SQLAlchemyJobStore(engine=self.engine, tablename=APS_TABLE)

    @contextmanager
    def control(self) -> Iterator[BackgroundScheduler]:
        """A scheduler started paused: it edits the stored jobs and never runs one (the CLI's view)."""
        scheduler = BackgroundScheduler(jobstores={"default": self.aps_jobstore(), "internal": MemoryJobStore()},
                                        timezone="UTC")
        with store_errors(self.url, "Jobs.control"):
            scheduler.start(paused=True)
        try:
            with store_errors(self.url, "Jobs.control"):
                yield scheduler
        finally:
            scheduler.shutdown(wait=False)

    def next_run_times(self) -> dict[str, datetime | None]:
        with self.control() as scheduler:
            return {j.id: j.next_run_time for j in scheduler.get_jobs(jobstore="default")}

    def aps_trigger(self, job_id: str) -> Any:
        with self.control() as scheduler:
            aps_job = scheduler.get_job(job_id, jobstore="default")
            return aps_job.trigger if aps_job is not None else None


def schedule_job(scheduler: BackgroundScheduler, job: JobDef) -> None:
    """Add or replace the APScheduler side of ``job`` (textual reference, the job id as argument)."""
    scheduler.add_job(TASK_REF, trigger=build_trigger(job.trigger), args=[job.id], id=job.id, name=job.name,
                      jobstore="default", executor="default", misfire_grace_time=job.misfire_grace_s,
                      coalesce=True, max_instances=1, replace_existing=True)
    if job.paused:
        scheduler.pause_job(job.id, jobstore="default")


def unschedule_job(scheduler: BackgroundScheduler, job_id: str) -> None:
    try:
        scheduler.remove_job(job_id, jobstore="default")
    except JobLookupError:
        pass  # a one-off (--at) job leaves APScheduler's table once it fired
