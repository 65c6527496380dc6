"""Where jobs live: our definitions (``rpa_jobs``), APScheduler's own ``apscheduler_jobs`` table, and
the claim table ``job_claims`` that makes a (job, scheduled time, attempt) run at most once.

All three share the history's database (``settings.database_url`` or ``--db``) and its SQLAlchemy
engine (SQLite in WAL mode with a busy timeout), so one file holds a daemon's whole state. History
is the truth about a scheduled time (``engine.jobs.slots``): a claim is taken only when history owes
that attempt, and the history row that ends the time closes its claims in the same transaction
(``_sync_claims``, run by ``History`` in every process that opened a ``JobStore``), whoever writes
the row (the worker, the engine loop, the daemon, recovery).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import Enum
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
from engine.history import History, HistoryStatus
from engine.history.models import RunRow
from engine.history.store import on_status_written
from engine.jobs.models import JobDef, JobView, utcnow
from engine.jobs.slots import Verdict, ends_slot, judge
from engine.jobs.triggers import build_trigger, slot_key
from engine.logs import mask

APS_TABLE = "apscheduler_jobs"
TASK_REF = "engine.jobs.tasks:run_job"


class _Base(DeclarativeBase):
    pass


class ClaimState(str, Enum):
    running = "running"  # some process took the attempt
    finished = "finished"  # history ended the time with the claim's status
    interrupted = "interrupted"  # the process died or was stopped; the time may owe another attempt
    missed = "missed"  # the time was never run


def state_for(status: HistoryStatus) -> ClaimState:
    """The state of a claim that history closed with ``status``."""
    if status is HistoryStatus.missed:
        return ClaimState.missed
    return ClaimState.interrupted if status is HistoryStatus.interrupted else ClaimState.finished


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
    state: ClaimState
    status: HistoryStatus | None = None
    pid: int | None = None
    note: str | None = None
    manual: bool = False


def _claim(row: ClaimRow) -> Claim:
    return Claim(job_id=row.job_id, slot=row.slot, attempt=row.attempt, state=ClaimState(row.state),
                 status=HistoryStatus(row.status) if row.status else None, pid=row.pid, note=row.note,
                 manual=bool(row.manual))


class SlotRun(BaseModel):
    """One history row of a scheduled time, as the daemon reads it."""

    id: str
    attempt: int
    status: HistoryStatus
    error: str | None = None
    report: str | None = None


def _utc(value: datetime) -> datetime:
    """SQLite hands stored times back without their zone; every stored time is UTC."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _job_in(session: Session, job_id: str) -> JobDef | None:
    row = session.get(JobRow, job_id)
    if row is None:
        return None
    try:
        return JobDef.model_validate_json(row.definition)
    except ValueError:  # written by a newer version: its own daemon keeps its claims
        return None


def _marks(session: Session, job_id: str, slot: str, *, skip: int | None = None,
           open_claims: bool = True) -> list[tuple[int, HistoryStatus]]:
    """(attempt, status) of the time's history rows and claims; a running claim counts as running."""
    rows = session.execute(select(RunRow.attempt, RunRow.status).where(
        RunRow.job_id == job_id, RunRow.scheduled_for == datetime.fromisoformat(slot)))
    marks = [(attempt, HistoryStatus(status)) for attempt, status in rows]
    claims = session.execute(select(ClaimRow.attempt, ClaimRow.state, ClaimRow.status).where(
        ClaimRow.job_id == job_id, ClaimRow.slot == slot))
    for attempt, state, status in claims:
        if attempt == skip:
            continue
        if state == ClaimState.running.value:
            if open_claims:
                marks.append((attempt, HistoryStatus.running))
        elif status:
            marks.append((attempt, HistoryStatus(status)))
    return marks


class SlotTaken(Exception):
    """A missed row for a time that has a claim and another row: its transaction rolls back."""


def _sync_claims(session: Session, run_id: str) -> None:
    """Inside the transaction that wrote run ``run_id``'s status: the claims of its scheduled time agree.

    A row that ends the time closes the time's running claims. A missed time, which nobody claimed,
    gets its claim here; if the time was claimed and has another row, the missed row rolls back."""
    row = session.execute(select(RunRow.job_id, RunRow.scheduled_for, RunRow.attempt, RunRow.status, RunRow.error)
                          .where(RunRow.id == run_id)).one_or_none()
    if row is None or row.job_id is None or row.scheduled_for is None or row.status == HistoryStatus.running.value:
        return
    job = _job_in(session, row.job_id)
    status = HistoryStatus(row.status)
    if job is None or not ends_slot(status, row.attempt, job.last_attempt):
        return
    now, slot = utcnow(), slot_key(_utc(row.scheduled_for))
    values = {"state": state_for(status).value, "status": status.value, "finished_at": now, "note": mask(row.error)}
    if status is HistoryStatus.missed:
        if session.scalar(select(ClaimRow.attempt).where(ClaimRow.job_id == row.job_id, ClaimRow.slot == slot)
                          .limit(1)) is None:
            session.add(ClaimRow(job_id=row.job_id, slot=slot, attempt=row.attempt, claimed_at=now, manual=False,
                                 **values))
            session.flush()
        elif session.scalar(select(RunRow.id).where(RunRow.job_id == row.job_id, RunRow.id != run_id,
                                                    RunRow.scheduled_for == row.scheduled_for).limit(1)):
            raise SlotTaken(f"Jobs.record: {row.job_id} {slot} already has a run; not recorded missed.")
        return
    session.execute(update(ClaimRow).where(ClaimRow.job_id == row.job_id, ClaimRow.slot == slot,
                                           ClaimRow.state == ClaimState.running.value).values(**values))


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
        on_status_written(self.url, _sync_claims)

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

    # -- claims ---------------------------------------------------------------------------------
    def claim(self, job_id: str, slot: str, attempt: int, *, pid: int | None = None, manual: bool = False) -> bool:
        """Take ``attempt`` of the time ``slot``; False if it is taken, or if history does not owe it
        (the time ended, an attempt runs, or this attempt ran already).

        The insert comes first so that SQLite's write lock is held while history is read: no other
        writer can end the time between the check and the claim."""
        row = ClaimRow(job_id=job_id, slot=slot, attempt=attempt, state=ClaimState.running.value, pid=pid,
                       claimed_at=utcnow(), manual=manual)
        with store_errors(self.url), Session(self.engine) as session:
            try:
                session.add(row)
                session.flush()
            except IntegrityError:
                session.rollback()
                return False
            job = _job_in(session, job_id)
            verdict = judge(_marks(session, job_id, slot, skip=attempt), job.last_attempt if job else None)
            if not verdict.may_run(attempt):
                session.rollback()
                return False
            session.commit()
        return True

    def verdict(self, job_id: str, slot: str, *, open_claims: bool = True) -> Verdict:
        """What history and the claims say about the time; ``open_claims=False``: as if the running
        claims' processes were gone (recovery, or the daemon once a worker exited)."""
        with store_errors(self.url), Session(self.engine) as session:
            job = _job_in(session, job_id)
            return judge(_marks(session, job_id, slot, open_claims=open_claims), job.last_attempt if job else None)

    def close_open_claims(self, job_id: str, slot: str, *, status: HistoryStatus, note: str | None = None) -> int:
        """Close the time's claims still ``running`` (their process is gone) with ``status``."""
        values = {"state": state_for(status).value, "status": status.value, "finished_at": utcnow()}
        if note is not None:
            values["note"] = mask(note)
        with store_errors(self.url), Session(self.engine) as session, session.begin():
            return session.execute(update(ClaimRow).where(
                ClaimRow.job_id == job_id, ClaimRow.slot == slot, ClaimRow.state == ClaimState.running.value)
                .values(**values)).rowcount

    def slot_runs(self, job_id: str, when: datetime) -> list[SlotRun]:
        """The history rows of one scheduled time, oldest attempt first."""
        query = (select(RunRow.id, RunRow.attempt, RunRow.status, RunRow.error, RunRow.report)
                 .where(RunRow.job_id == job_id, RunRow.scheduled_for == when.astimezone(timezone.utc))
                 .order_by(RunRow.attempt, RunRow.started_at))
        with store_errors(self.url), Session(self.engine) as session:
            return [SlotRun(id=r.id, attempt=r.attempt, status=HistoryStatus(r.status), error=r.error, report=r.report)
                    for r in session.execute(query)]

    def running_slots(self, job_ids: set[str]) -> set[tuple[str, str]]:
        """(job, slot) of history rows still ``running`` (at start-up: rows of processes that died)."""
        query = select(RunRow.job_id, RunRow.scheduled_for).where(
            RunRow.status == HistoryStatus.running.value, RunRow.job_id.in_(sorted(job_ids)),
            RunRow.scheduled_for.is_not(None))
        with store_errors(self.url), Session(self.engine) as session:
            return {(job_id, slot_key(_utc(when))) for job_id, when in session.execute(query)}

    def claims(self, job_id: str | None = None, *, slot: str | None = None,
               states: tuple[ClaimState, ...] | None = None) -> list[Claim]:
        query = select(ClaimRow).order_by(ClaimRow.job_id, ClaimRow.slot, ClaimRow.attempt)
        if job_id is not None:
            query = query.where(ClaimRow.job_id == job_id)
        if slot is not None:
            query = query.where(ClaimRow.slot == slot)
        if states is not None:
            query = query.where(ClaimRow.state.in_([s.value for s in states]))
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
