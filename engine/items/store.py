"""Queues and items in the history's database (tables ``item_queues`` and ``queue_items``).

The history's ``runs`` table is the source of truth: an item whose job id has a succeeded run is
done, whatever this table says. ``refresh`` derives each item's state from its runs and caches it
here (with the row's values, line and last outputs) for OUT, ``rpa items`` and the reports. A
per-queue file lock keeps two processes from running one queue at once.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, case, func, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from engine.config import Settings
from engine.errors import ConfigError, RpaError
from engine.history import History, HistoryStatus
from engine.history.models import RunRow
from engine.items.models import Item, ItemState, ItemView, QueueSummary

CUT_OFF_ERROR = "Items.resume: the process running this item stopped before the run finished."
MAX_CUTOFFS = 2  # a cut-off item is retried once; cut off again, it is held (it may be what kills the runner)


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Base(DeclarativeBase):
    pass


class QueueRow(_Base):
    __tablename__ = "item_queues"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    items_path: Mapped[str] = mapped_column(Text)
    plan_path: Mapped[str] = mapped_column(Text)
    plan_name: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    sheet: Mapped[str | None] = mapped_column(String(200), nullable=True)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    idempotent: Mapped[bool] = mapped_column(Boolean, default=True)
    report: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ItemRow(_Base):
    __tablename__ = "queue_items"

    job_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    queue_id: Mapped[str] = mapped_column(String(80), index=True)
    row_key: Mapped[str] = mapped_column(String(64))
    line: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, str]] = mapped_column(JSON)
    present: Mapped[bool] = mapped_column(Boolean, default=True)  # still a row of the file at the last read
    state: Mapped[str] = mapped_column(String(32), default=ItemState.pending.value)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    report: Mapped[str | None] = mapped_column(Text, nullable=True)
    cutoffs: Mapped[int] = mapped_column(Integer, default=0)
    released: Mapped[int] = mapped_column(Integer, default=0)  # cut-offs a person has allowed to re-run
    emitted: Mapped[str | None] = mapped_column(String(64), nullable=True)  # run whose rows were emitted
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _view(row: ItemRow) -> ItemView:
    return ItemView(
        job_id=row.job_id,
        line=row.line,
        position=row.position,
        values=row.values or {},
        state=ItemState(row.state),
        attempt=row.attempt,
        run_id=row.run_id,
        error_kind=row.error_kind,
        error=row.error,
        outputs=row.outputs or {},
        report=row.report,
        cutoffs=row.cutoffs,
        present=row.present,
    )


def derive(runs: list[RunRow], row: ItemRow, idempotent: bool) -> dict[str, Any]:
    """An item's state from its runs (oldest first): the one rule for done, failed, cut off and held."""
    cutoffs = sum(1 for r in runs if r.status == HistoryStatus.interrupted.value)
    values: dict[str, Any] = {"cutoffs": cutoffs}
    done = next((r for r in runs if r.status == HistoryStatus.succeeded.value), None)
    last = done or (runs[-1] if runs else None)
    if last is None:
        failed = (
            row.state
            if row.state in (ItemState.failed_business.value, ItemState.failed_application.value)
            else None
        )
        values["state"] = (
            failed or ItemState.pending.value
        )  # failed before any run (not planned, unschedulable)
        return values
    values.update(
        attempt=max(r.attempt for r in runs),
        run_id=last.id,
        error_kind=last.error_kind,
        error=last.error,
        outputs=last.outputs or {},
        report=last.report,
    )
    if done is not None:
        values.update(state=ItemState.succeeded.value, attempt=done.attempt, error=None, error_kind=None)
    elif last.status == HistoryStatus.running.value:
        values["state"] = ItemState.running.value
    elif last.status == HistoryStatus.failed_business.value:
        values["state"] = ItemState.failed_business.value
    elif last.status == HistoryStatus.interrupted.value:
        unreleased = cutoffs - row.released
        hold = unreleased > 0 and (not idempotent or unreleased >= MAX_CUTOFFS)
        values["state"] = (ItemState.held if hold else ItemState.interrupted).value
    else:  # failed_application, timeout, missed
        values["state"] = ItemState.failed_application.value
    return values


class QueueStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.history = History(settings)
        self.engine = self.history.engine
        _Base.metadata.create_all(self.engine, checkfirst=True)

    # -- queues ---------------------------------------------------------------------------------
    def upsert_queue(
        self,
        *,
        queue_id: str,
        key: str,
        items_path: Path,
        plan_path: Path,
        plan_name: str,
        params: dict[str, str],
        sheet: str | None,
        output: Path | None,
        concurrency: int,
        idempotent: bool,
    ) -> None:
        now = utcnow()
        with Session(self.engine) as s, s.begin():
            row = s.get(QueueRow, queue_id)
            if row is None:
                row = QueueRow(id=queue_id, key=key, created_at=now)
                s.add(row)
            row.items_path, row.plan_path, row.plan_name = str(items_path), str(plan_path), plan_name
            row.params, row.sheet, row.concurrency, row.idempotent = (
                dict(params),
                sheet,
                concurrency,
                idempotent,
            )
            if output is not None:
                row.output = str(output)
            row.updated_at = now

    def queue(self, queue_id: str) -> QueueRow | None:
        with Session(self.engine, expire_on_commit=False) as s:
            return s.get(QueueRow, queue_id)

    def find_queue(self, name: str) -> QueueRow:
        """By id, unique id prefix, or the items file's path (its newest queue)."""
        with Session(self.engine, expire_on_commit=False) as s:
            row = s.get(QueueRow, name)
            if row is None:
                rows = list(
                    s.scalars(select(QueueRow).where(QueueRow.id.startswith(name, autoescape=True)).limit(2))
                )
                if not rows and Path(name).exists():
                    path = str(Path(name).resolve())
                    rows = [
                        r
                        for r in s.scalars(select(QueueRow).order_by(QueueRow.updated_at.desc()))
                        if str(Path(r.items_path).resolve()) == path
                    ][:1]
                row = rows[0] if len(rows) == 1 else None
        if row is None:
            raise ConfigError(
                f"Items.find: no queue '{name}' (or the prefix matches several). See `rpa items list`."
            )
        return row

    def queues(self, limit: int = 50) -> list[QueueRow]:
        with Session(self.engine, expire_on_commit=False) as s:
            return list(s.scalars(select(QueueRow).order_by(QueueRow.updated_at.desc()).limit(limit)))

    def output_owner(self, output: Path) -> str | None:
        target = str(output.resolve())
        with Session(self.engine) as s:
            for qid, path in s.execute(
                select(QueueRow.id, QueueRow.output).where(QueueRow.output.is_not(None))
            ):
                if str(Path(path).resolve()) == target:
                    return qid
        return None

    def set_report(self, queue_id: str, report: str | None) -> None:
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(QueueRow).where(QueueRow.id == queue_id).values(report=report, updated_at=utcnow())
            )

    # -- items ----------------------------------------------------------------------------------
    def sync_items(self, queue_id: str, items: list[Item]) -> None:
        """The file as read now: new rows are added, rows no longer there are kept but not present."""
        now = utcnow()
        by_id = {i.job_id: i for i in items}
        with Session(self.engine) as s, s.begin():
            have = {r.job_id: r for r in s.scalars(select(ItemRow).where(ItemRow.queue_id == queue_id))}
            for job_id, row in have.items():
                item = by_id.get(job_id)
                row.present = item is not None
                if item is not None:
                    row.line, row.position = item.line, item.position
            for job_id, item in by_id.items():
                if job_id not in have:
                    s.add(
                        ItemRow(
                            job_id=job_id,
                            queue_id=queue_id,
                            row_key=item.row_key,
                            line=item.line,
                            position=item.position,
                            values=item.values,
                            present=True,
                            state=ItemState.pending.value,
                            updated_at=now,
                        )
                    )

    def _runs(self, s: Session, job_ids: list[str]) -> dict[str, list[RunRow]]:
        out: dict[str, list[RunRow]] = {j: [] for j in job_ids}
        for i in range(0, len(job_ids), 500):
            chunk = job_ids[i : i + 500]
            for run in s.scalars(
                select(RunRow).where(RunRow.job_id.in_(chunk)).order_by(RunRow.started_at, RunRow.attempt)
            ):
                out[run.job_id].append(run)
        return out

    def refresh(self, queue_id: str, only: Iterable[str] | None = None) -> list[ItemView]:
        """Re-derive the items' states from history; returns every item of the queue in file order."""
        queue = self.queue(queue_id)
        idempotent = True if queue is None else queue.idempotent
        wanted = set(only) if only is not None else None
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            rows = list(
                s.scalars(
                    select(ItemRow)
                    .where(ItemRow.queue_id == queue_id)
                    .order_by(ItemRow.present.desc(), ItemRow.position)
                )
            )
            todo = [r for r in rows if wanted is None or r.job_id in wanted]
            runs = self._runs(s, [r.job_id for r in todo])
            now = utcnow()
            for row in todo:
                for name, value in derive(runs[row.job_id], row, idempotent).items():
                    if getattr(row, name) != value:
                        setattr(row, name, value)
                        row.updated_at = now
            return [_view(r) for r in rows]

    def items(self, queue_id: str) -> list[ItemView]:
        with Session(self.engine) as s:
            return [
                _view(r)
                for r in s.scalars(
                    select(ItemRow)
                    .where(ItemRow.queue_id == queue_id)
                    .order_by(ItemRow.present.desc(), ItemRow.position)
                )
            ]

    def activity(self, since: datetime) -> tuple[Any, ...]:
        """A cheap fingerprint of the runs started since ``since``: it changes when one starts or ends."""
        with Session(self.engine) as s:
            row = s.execute(
                select(
                    func.count(RunRow.id),
                    func.max(RunRow.finished_at),
                    func.sum(case((RunRow.status == HistoryStatus.running.value, 1), else_=0)),
                ).where(RunRow.started_at >= since)
            ).one()
            return tuple(row)

    def interrupt_stale(self, queue_id: str) -> list[str]:
        """With the queue's lock held, a run still ``running`` was cut off (its process is gone)."""
        with Session(self.engine) as s:
            ids = list(
                s.scalars(
                    select(RunRow.id)
                    .join(ItemRow, ItemRow.job_id == RunRow.job_id)
                    .where(ItemRow.queue_id == queue_id, RunRow.status == HistoryStatus.running.value)
                )
            )
        for run_id in ids:
            self.history.set_status(run_id, HistoryStatus.interrupted.value, error=CUT_OFF_ERROR)
        return ids

    def set_failed(self, job_id: str, state: ItemState, error: str | None, error_kind: str | None) -> None:
        """A failure before any run (not planned, unschedulable): history has no row to say it."""
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(ItemRow)
                .where(ItemRow.job_id == job_id)
                .values(state=state.value, error=error, error_kind=error_kind, updated_at=utcnow())
            )

    def release(self, queue_id: str) -> int:
        """A person lets held items run again (``rpa items retry``)."""
        with Session(self.engine) as s, s.begin():
            rows = list(
                s.scalars(
                    select(ItemRow).where(ItemRow.queue_id == queue_id, ItemRow.state == ItemState.held.value)
                )
            )
            for row in rows:
                row.released, row.state, row.updated_at = row.cutoffs, ItemState.interrupted.value, utcnow()
            return len(rows)

    def reset_failed_before_run(self, queue_id: str) -> None:
        """Failures that never reached a run are decided again by the next batch."""
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(ItemRow)
                .where(
                    ItemRow.queue_id == queue_id,
                    ItemRow.run_id.is_(None),
                    ItemRow.state.in_([ItemState.failed_business.value, ItemState.failed_application.value]),
                )
                .values(state=ItemState.pending.value, error=None, error_kind=None)
            )

    def mark_emitted(self, job_id: str, run_id: str) -> None:
        with Session(self.engine) as s, s.begin():
            s.execute(update(ItemRow).where(ItemRow.job_id == job_id).values(emitted=run_id))

    def emitted(self, queue_id: str) -> dict[str, str | None]:
        with Session(self.engine) as s:
            return dict(
                s.execute(select(ItemRow.job_id, ItemRow.emitted).where(ItemRow.queue_id == queue_id)).all()
            )

    def summary(self, queue: QueueRow, views: list[ItemView] | None = None) -> QueueSummary:
        views = self.items(queue.id) if views is None else views
        return QueueSummary.of(
            queue.id,
            queue.plan_name,
            queue.items_path,
            views,
            updated_at=queue.updated_at.isoformat() if queue.updated_at else None,
            output=queue.output,
            report=queue.report,
        )


class QueueBusyError(RpaError):
    """Another process runs the queue now: transient (an application error), a later fire succeeds."""


class QueueLock:
    """``fcntl.flock`` on ``RPA_HOME/items/<queue>.lock``; the kernel drops it when its holder dies."""

    def __init__(self, settings: Settings, queue_id: str) -> None:
        self.path = settings.home / "items" / f"{queue_id}.lock"
        self.queue_id = queue_id
        self._fd: int | None = None

    def acquire(self) -> QueueLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by the browser (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise QueueBusyError(
                f"Items.lock: queue {self.queue_id} is being run by another process (pid {holder}). "
                "Wait for it to finish, or stop it first."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> QueueLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
