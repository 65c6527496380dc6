"""The run history: one SQLAlchemy engine per database URL, one transaction per unit of work.

SQLite (the default, under ``RPA_HOME``) runs in WAL mode with a busy timeout so that a daemon and
a CLI can write to it at the same time; any other SQLAlchemy URL works through ``RPA_DB``.
"""

from __future__ import annotations

import math
import secrets as _random
import threading
from collections.abc import Callable, Collection
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field
from sqlalchemy import Engine, create_engine, delete, event, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.config import Settings, get_settings
from engine.errors import ConfigError
from engine.history.models import Base, DecisionRow, DurationRow, HistoryStatus, RunRow, StepRow
from engine.logs import mask
from engine.outcome import RunOutcome, RunStatus, StepOutcome

BUSY_TIMEOUT_MS = 30_000
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_status_hooks: dict[str, Callable[[Session, str], None]] = {}


def on_status_written(url: str, hook: Callable[[Session, str], None]) -> None:
    """Have ``hook(session, run_id)`` run inside every transaction of this process that writes a run's
    status in the database ``url`` (start, finish, set_status), so that what it writes there (the
    daemon's job claims) commits or rolls back with the row; an error in it undoes the row too."""
    _status_hooks[url] = hook


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite drops the zone; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def new_run_id() -> str:
    """Sortable by start time, unique across processes: ``20261124-035800-1a2b3c``."""
    return utcnow().strftime("%Y%m%d-%H%M%S-") + _random.token_hex(3)


def history_status(outcome: RunOutcome) -> str:
    """Refine the outcome's succeeded/failed into the history's statuses."""
    if outcome.status is RunStatus.succeeded:
        return HistoryStatus.succeeded.value
    if outcome.status is RunStatus.interrupted:
        return HistoryStatus.interrupted.value
    if outcome.error_kind is not None and outcome.error_kind.final:
        return HistoryStatus.failed_business.value
    return HistoryStatus.failed_application.value


def _engine_for(url: str) -> Engine:
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_engine(url)
            _engines[url] = engine
        return engine


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


class StepRecord(BaseModel):
    step_id: str
    action: str
    site: str | None = None
    status: str
    attempts: int = 1
    seconds: float = 0.0
    error: str | None = None
    screenshot: str | None = None
    locator: str | None = None


class DecisionRecord(BaseModel):
    """One stored decision (a planner's choice, a replayed step, a repair, a routing): what
    ``rpa train --from-history`` and ``rpa export-dataset`` read (as ``model_dump(mode="json")``)."""

    run_id: str | None = None
    step_id: str | None = None
    instruction: str | None = None
    observation: str | None = None
    action: dict[str, Any] | None = None
    outcome: str | None = None
    context: dict[str, Any] | None = None
    created_at: datetime


class RunRecord(BaseModel):
    """One row of ``runs`` with its steps, as ``rpa history`` and ``rpa show`` print it."""

    id: str
    plan_name: str
    plan_path: str | None = None
    job_id: str | None = None
    scheduled_for: datetime | None = None
    attempt: int = 1
    status: str
    error_kind: str | None = None
    error: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    seconds: float | None = None
    llm_calls: int = 0
    run_dir: str | None = None
    report: str | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepRecord] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _record(row: RunRow, steps: list[StepRow] | None = None) -> RunRecord:
    return RunRecord(
        id=row.id, plan_name=row.plan_name, plan_path=row.plan_path, job_id=row.job_id,
        scheduled_for=_aware(row.scheduled_for), attempt=row.attempt, status=row.status,
        error_kind=row.error_kind, error=row.error, started_at=_aware(row.started_at),
        finished_at=_aware(row.finished_at), seconds=row.seconds, llm_calls=row.llm_calls or 0,
        run_dir=row.run_dir, report=row.report, outputs=row.outputs or {},
        steps=[
            StepRecord(step_id=s.step_id, action=s.action, site=s.site, status=s.status,
                       attempts=s.attempts, seconds=s.seconds, error=s.error,
                       screenshot=s.screenshot, locator=s.locator)
            for s in steps or []
        ],
    )


class History:
    """Runs, steps, decisions and per-(site, action) durations in one database."""

    def __init__(self, settings: Settings | None = None, *, url: str | None = None) -> None:
        self.settings = settings or get_settings()
        self.url = url or self.settings.database_url
        try:
            self.engine = _engine_for(self.url)
            Base.metadata.create_all(self.engine, checkfirst=True)
            _add_new_columns(self.engine)
        except Exception as err:  # noqa: BLE001 - any driver error means the same to a user
            raise ConfigError(
                f"History.open: cannot open the database {mask(self.url)} ({type(err).__name__}: "
                f"{str(err).splitlines()[0]}). Check RPA_HOME or RPA_DB."
            ) from err

    # -- runs ---------------------------------------------------------------------------------
    def start_run(
        self,
        plan_name: str,
        *,
        run_id: str | None = None,
        plan_path: str | None = None,
        job_id: str | None = None,
        scheduled_for: datetime | None = None,
        attempt: int = 1,
        run_dir: str | None = None,
        status: str = HistoryStatus.running.value,
        started_at: datetime | None = None,
    ) -> str:
        """Write the run's row before anything runs, so a crash leaves a trace."""
        run_id = run_id or new_run_id()
        row = RunRow(
            id=run_id, plan_name=plan_name, plan_path=plan_path, job_id=job_id,
            scheduled_for=scheduled_for, attempt=attempt, status=status,
            started_at=started_at or utcnow(), run_dir=run_dir, llm_calls=0,
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            self._status_written(session, run_id)
        logger.bind(run_id=run_id).debug("history: run {} started ({})", run_id, plan_name)
        return run_id

    def finish_run(self, outcome: RunOutcome, *, status: str | None = None,
                   sites: dict[str, str | None] | None = None) -> None:
        """Close the run's row from its outcome; steps are written here too unless already there."""
        status = status or history_status(outcome)
        finished = outcome.finished_at or utcnow()
        values = dict(
            status=status,
            error_kind=outcome.error_kind.value if outcome.error_kind else None,
            error=mask(outcome.error),
            finished_at=finished,
            seconds=outcome.seconds,
            llm_calls=outcome.llm_calls,
            report=outcome.report,
            outputs=masked_json(outcome.outputs),
        )
        if outcome.run_dir:
            values["run_dir"] = outcome.run_dir
        with Session(self.engine) as session, session.begin():
            found = session.get(RunRow, outcome.run_id)
            if found is None:  # a caller that skipped start_run still gets a complete row
                session.add(RunRow(id=outcome.run_id, plan_name=outcome.plan_name, attempt=outcome.attempt,
                                   started_at=outcome.started_at or finished, **values))
            else:
                session.execute(update(RunRow).where(RunRow.id == outcome.run_id).values(**values))
            has_steps = session.scalar(select(StepRow.pk).where(StepRow.run_id == outcome.run_id).limit(1))
            if has_steps is None and outcome.steps:
                session.add_all(_step_rows(outcome.run_id, outcome.steps, sites or {}))
            self._status_written(session, outcome.run_id)

    def set_status(self, run_id: str, status: str, *, error: str | None = None) -> None:
        """For the daemon: timeout, missed, interrupted without an outcome."""
        values: dict[str, Any] = {"status": status, "finished_at": utcnow()}
        if error is not None:
            values["error"] = mask(error)
        with Session(self.engine) as session, session.begin():
            session.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
            self._status_written(session, run_id)

    def _status_written(self, session: Session, run_id: str) -> None:
        hook = _status_hooks.get(self.url)
        if hook is not None:
            session.flush()
            hook(session, run_id)

    def add_steps(self, run_id: str, steps: list[StepOutcome], sites: dict[str, str | None] | None = None) -> None:
        """Replace the run's steps with these."""
        with Session(self.engine) as session, session.begin():
            session.execute(delete(StepRow).where(StepRow.run_id == run_id))
            session.add_all(_step_rows(run_id, steps, sites or {}))

    def list_runs(self, job_id: str | None = None, limit: int = 50, *, statuses: Collection[str] | None = None,
                  plan_name: str | None = None) -> list[RunRecord]:
        """Newest first; ``statuses`` and ``plan_name`` filter too (the dashboard's filters)."""
        query = select(RunRow).order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(limit)
        if job_id is not None:
            query = query.where(RunRow.job_id == job_id)
        if statuses is not None:
            query = query.where(RunRow.status.in_(list(statuses)))
        if plan_name is not None:
            query = query.where(RunRow.plan_name == plan_name)
        with Session(self.engine) as session:
            return [_record(row) for row in session.scalars(query)]

    def get_run(self, run_id: str) -> RunRecord | None:
        """By full id, or by a prefix that matches exactly one run."""
        with Session(self.engine) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                like = run_id.replace("%", "").replace("_", r"\_") + "%"
                rows = list(session.scalars(select(RunRow).where(RunRow.id.like(like, escape="\\")).limit(2)))
                row = rows[0] if len(rows) == 1 else None
            if row is None:
                return None
            steps = list(session.scalars(select(StepRow).where(StepRow.run_id == row.id).order_by(StepRow.position)))
            return _record(row, steps)

    def mark_running_as_interrupted(self) -> list[str]:
        """After a crash: every run still ``running`` is ``interrupted``; returns their ids."""
        with Session(self.engine) as session, session.begin():
            ids = list(session.scalars(select(RunRow.id).where(RunRow.status == HistoryStatus.running.value)))
            if ids:
                session.execute(
                    update(RunRow).where(RunRow.id.in_(ids)).values(
                        status=HistoryStatus.interrupted.value, finished_at=utcnow(),
                        error="History.recover: the process running this run stopped before it finished.",
                    )
                )
        if ids:
            logger.warning("history: marked {} run(s) as interrupted: {}", len(ids), ", ".join(ids))
        return ids

    # -- decisions ----------------------------------------------------------------------------
    def record_decision(
        self,
        *,
        run_id: str | None,
        step_id: str | None,
        instruction: str | None,
        observation: str | None,
        action: dict[str, Any] | None,
        outcome: str | None,
        context: dict[str, Any] | None = None,
    ) -> None:
        row = DecisionRow(
            run_id=run_id, step_id=step_id, instruction=mask(instruction), observation=mask(observation),
            action=masked_json(action), outcome=outcome, created_at=utcnow(), context=masked_json(context),
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)

    def decisions(self, limit: int | None = None) -> list[DecisionRecord]:
        query = select(DecisionRow).order_by(DecisionRow.pk)
        if limit is not None:
            query = query.limit(limit)
        with Session(self.engine) as session:
            return [DecisionRecord(run_id=d.run_id, step_id=d.step_id, instruction=d.instruction,
                                   observation=d.observation, action=d.action, outcome=d.outcome,
                                   context=d.context, created_at=_aware(d.created_at))
                    for d in session.scalars(query)]

    # -- durations ----------------------------------------------------------------------------
    def update_duration(self, site: str, action: str, seconds: float) -> None:
        """Welford's update of the running mean and variance, as one UPDATE so that concurrent
        writers (a daemon and a CLI) never lose a sample; the right-hand sides read the old row."""
        if seconds < 0 or math.isnan(seconds):
            return
        x, d = float(seconds), DurationRow
        new_mean = d.mean_s + (x - d.mean_s) / (d.n + 1)
        stmt = (
            update(d).where(d.site == site, d.action == action)
            .values(n=d.n + 1, mean_s=new_mean, m2=d.m2 + (x - d.mean_s) * (x - new_mean))
        )
        for _ in range(3):
            with Session(self.engine) as session, session.begin():
                if session.execute(stmt).rowcount:
                    return
            try:
                with Session(self.engine) as session, session.begin():
                    session.add(DurationRow(site=site, action=action, n=1, mean_s=x, m2=0.0))
                return
            except IntegrityError:  # another process inserted it first: update instead
                continue

    def update_durations(self, samples: list[tuple[str, str, float]]) -> None:
        for site, action, seconds in samples:
            self.update_duration(site, action, seconds)

    def duration_estimate(self, site: str, action: str) -> float | None:
        with Session(self.engine) as session:
            row = session.get(DurationRow, (site, action))
            return row.mean_s if row is not None and row.n > 0 else None

    def duration_stats(self, site: str, action: str) -> tuple[int, float, float] | None:
        """(n, mean, sample variance) or None."""
        with Session(self.engine) as session:
            row = session.get(DurationRow, (site, action))
            if row is None or row.n == 0:
                return None
            return row.n, row.mean_s, (row.m2 / (row.n - 1) if row.n > 1 else 0.0)


def _step_rows(run_id: str, steps: list[StepOutcome], sites: dict[str, str | None]) -> list[StepRow]:
    return [
        StepRow(run_id=run_id, position=i, step_id=s.id, action=s.action, site=sites.get(s.id),
                status=s.status.value, attempts=s.attempts, seconds=s.seconds, error=mask(s.error),
                screenshot=s.screenshot, locator=s.locator)
        for i, s in enumerate(steps)
    ]


def _add_new_columns(engine: Engine) -> None:
    """Columns added to a table after a database was created (``create_all`` only makes missing
    tables); nullable, so old rows stay valid. Every later schema change adds a line here."""
    added = {DecisionRow.__tablename__: ["context"]}
    found = inspect(engine)
    for table, columns in added.items():
        have = {c["name"] for c in found.get_columns(table)}
        for name in columns:
            if name not in have:
                col = Base.metadata.tables[table].c[name]
                try:
                    with engine.begin() as conn:
                        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} "
                                          f"{col.type.compile(engine.dialect)}"))
                except Exception:  # another process added it first
                    if name not in {c["name"] for c in inspect(engine).get_columns(table)}:
                        raise


def masked_json(value: Any) -> Any:
    """Every string inside ``value`` (dicts and lists too) with secrets masked."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: masked_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked_json(v) for v in value]
    return value
