"""Run a queue: every item not yet done becomes one job of one loop batch.

``prepare`` reads and checks everything (plan, items, columns, types, OUT, secrets) before any run;
``run_queue`` then holds the queue's lock, marks runs a dead process left ``running`` as cut off,
derives each item's state from history, runs the items that need it through ``engine.loop.run_batch``
(the scheduler orders them with the per-site caps like any other job) and rewrites OUT as they end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field

from engine.config import Settings, get_settings
from engine.errors import ConfigError, FailureKind, RpaError
from engine.history import history_status
from engine.inputs import check_inputs, secret_resolver
from engine.items.bind import bind_items, queue_id, queue_key
from engine.items.models import Item, ItemsTable, ItemState, ItemView, QueueOutcome
from engine.items.output import (
    clean_temporaries,
    emit_rows,
    emitted_sources,
    out_format,
    out_rows,
    plan_outputs,
    rows_of,
    write_output,
)
from engine.items.reader import read_items
from engine.items.report import add_queue_section
from engine.items.store import QueueLock, QueueStore, utcnow
from engine.plan import Plan, load_plan

WATCH_S = 0.2  # how often the watcher looks for runs that started or ended (one cheap query)


class QueueRequest(BaseModel):
    plan_path: Path
    items_path: Path
    params: dict[str, str] = Field(default_factory=dict)
    output: Path | None = None
    sheet: str | None = None
    concurrency: int = Field(1, ge=1, le=64)
    headed: bool = False
    cluster: str | None = None
    emit_items: Path | None = Field(None, description="Append each run's table rows here as JSON lines.")
    only_failed: bool = False
    release_held: bool = False
    allow_empty: bool = Field(False, description="A file with no rows yet is nothing to do (the daemon).")
    retries: int | None = Field(None, ge=0, le=20, description="Extra attempts after an application error.")
    secrets: dict[str, str] | None = None
    check_secrets: bool = Field(True, description="False where another process runs it (rpa schedule add).")


@dataclass
class Prepared:
    request: QueueRequest
    plan: Plan
    table: ItemsTable
    items: list[Item]
    queue_id: str
    key: str
    outputs: list[str]


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def prepare(request: QueueRequest, settings: Settings | None = None) -> Prepared:
    """Everything that can be wrong with the inputs, found before anything runs."""
    settings = settings or get_settings()
    plan = load_plan(request.plan_path)
    table = read_items(request.items_path, sheet=request.sheet, allow_empty=request.allow_empty)
    key = queue_key(request.items_path, plan, request.params)
    items = bind_items(table, plan, request.params, key)
    for other, what in ((request.output, "--output"), (request.emit_items, "--emit-items")):
        if other is None:
            continue
        for owned, name in ((request.items_path, "the items file"), (request.plan_path, "the plan file")):
            if _same(other, owned):
                raise ConfigError(
                    f"Items.output: {what} {other} is {name}; it is never written. Give {what} another path."
                )
    if request.output is not None:
        out_format(request.output)
    if request.emit_items is not None and request.emit_items.suffix.lower() not in (".jsonl", ".ndjson"):
        raise ConfigError(
            f"Items.emit: {request.emit_items.name} must be a .jsonl file (one JSON object a line)."
        )
    if items and request.check_secrets and not request.cluster:  # a cluster's workers use their own stores
        check_inputs(plan, items[0].params, secret_resolver(settings, request.secrets))
    return Prepared(
        request=request,
        plan=plan,
        table=table,
        items=items,
        queue_id=queue_id(request.items_path, plan, request.params),
        key=key,
        outputs=plan_outputs(plan),
    )


class _Watcher(threading.Thread):
    """Calls ``tick`` every ``every_s`` while the batch runs (OUT written as items finish)."""

    def __init__(self, tick: Callable[[], None], every_s: float = WATCH_S) -> None:
        super().__init__(daemon=True, name="items-watch")
        self.tick, self.every_s, self.halt = tick, every_s, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            try:
                self.tick()
            except Exception as err:  # noqa: BLE001 - the final write after the batch still happens
                logger.warning("items: cannot update OUT: {}", err)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)


class _Progress:
    """OUT and the emitted rows, kept in step with the items' states."""

    def __init__(self, store: QueueStore, prep: Prepared) -> None:
        self.store, self.prep = store, prep
        self.req = prep.request
        self.lock = threading.Lock()
        self.last: tuple[Any, ...] = ()
        self.emitted = 0
        self._seen = emitted_sources(self.req.emit_items) if self.req.emit_items else set()
        self._done_emit = store.emitted(prep.queue_id)

    def update(self, only: list[str] | None = None, force: bool = False) -> list[ItemView]:
        with self.lock:
            views = self.store.refresh(self.prep.queue_id, only=only)
            marks = tuple((v.job_id, v.state, v.run_id) for v in views)
            if force or marks != self.last:
                self.last = marks
                self._emit(views)
                if self.req.output is not None:
                    header, rows = out_rows(views, self.prep.table.columns, self.prep.outputs)
                    write_output(self.req.output, header, rows)
            return views

    def _emit(self, views: list[ItemView]) -> None:
        path = self.req.emit_items
        if path is None:
            return
        for v in views:
            if v.state is ItemState.succeeded and v.run_id and self._done_emit.get(v.job_id) != v.run_id:
                self.emitted += emit_rows(path, v.run_id, rows_of(v.outputs), seen=self._seen)
                self.store.mark_emitted(v.job_id, v.run_id)
                self._done_emit[v.job_id] = v.run_id


def _to_run(prep: Prepared, views: list[ItemView]) -> list[tuple[Item, ItemView]]:
    by_id = {v.job_id: v for v in views}
    todo = []
    for item in prep.items:
        view = by_id[item.job_id]
        if prep.request.only_failed:
            wanted = view.state.failed
        else:
            wanted = view.state not in (ItemState.succeeded, ItemState.held)
        if wanted and view.job_id not in {i.job_id for i, _ in todo}:
            todo.append((item, view))
    return todo


def _run_batch(
    prep: Prepared, jobs: list[Any], settings: Settings, on_event: Callable[[Any], None] | None
) -> Any:
    from engine.loop import run_batch

    req = prep.request
    kw: dict[str, Any] = {"secrets": req.secrets} if req.secrets else {}
    if req.cluster:
        kw["cluster"] = req.cluster
    return run_batch(
        jobs, concurrency=req.concurrency, settings=settings, on_event=on_event, headed=req.headed, **kw
    )


def run_queue(
    request: QueueRequest | Prepared,
    settings: Settings | None = None,
    *,
    on_event: Callable[[Any], None] | None = None,
) -> QueueOutcome:
    """Run what is left of the queue; returns its state after the batch. Never raises for an item."""
    settings = (settings or get_settings()).ensure()
    prep = request if isinstance(request, Prepared) else prepare(request, settings)
    req = prep.request
    store = QueueStore(settings)
    if req.output is not None and req.output.exists():
        owner = store.output_owner(req.output)
        if owner != prep.queue_id:
            whose = f"queue {owner}" if owner else "nobody's queue (a file of yours?)"
            raise ConfigError(
                f"Items.output: {req.output} exists and belongs to {whose}; it is not overwritten. "
                "Give --output another path or remove that file."
            )
    with QueueLock(settings, prep.queue_id):
        store.upsert_queue(
            queue_id=prep.queue_id,
            key=prep.key,
            items_path=req.items_path.resolve(),
            plan_path=req.plan_path.resolve(),
            plan_name=prep.plan.name,
            params=req.params,
            sheet=req.sheet,
            output=req.output.resolve() if req.output else None,
            concurrency=req.concurrency,
            idempotent=prep.plan.idempotent,
        )
        store.sync_items(prep.queue_id, prep.items)
        cut = store.interrupt_stale(prep.queue_id)
        if cut:
            logger.warning("items: {} run(s) of queue {} were cut off; retried once", len(cut), prep.queue_id)
        if req.release_held:
            store.release(prep.queue_id)
        store.reset_failed_before_run(prep.queue_id)
        if req.output is not None:
            clean_temporaries(req.output)
        progress = _Progress(store, prep)
        views = progress.update(force=True)
        todo = _to_run(prep, views)
        batch = None
        if todo:
            batch = _execute(prep, todo, settings, progress, store, on_event)
        views = progress.update(force=True)
        summary = store.summary(store.queue(prep.queue_id), views)  # type: ignore[arg-type]
        if batch is not None and batch.report:
            add_queue_section(Path(batch.report), summary, views)
            store.set_report(prep.queue_id, batch.report)
            summary.report = batch.report
    ran = {i.job_id for i, _ in todo}
    return QueueOutcome(
        summary=summary,
        ran=len(ran),
        skipped=sum(1 for i in prep.items if i.job_id not in ran),
        items=views,
        batch=batch,
        emitted=progress.emitted,
    )


def _execute(
    prep: Prepared,
    todo: list[tuple[Item, ItemView]],
    settings: Settings,
    progress: _Progress,
    store: QueueStore,
    on_event: Callable[[Any], None] | None,
) -> Any:
    from engine.loop import JobSpec

    extra = {"retries": prep.request.retries} if prep.request.retries is not None else {}
    jobs = [
        JobSpec(
            plan=prep.plan,
            plan_path=str(prep.request.plan_path),
            params=item.params,
            job_id=item.job_id,
            attempt=view.attempt + 1,
            **extra,
        )
        for item, view in todo
    ]
    ids = [j.job_id for j in jobs]
    since = utcnow() - timedelta(seconds=1)
    seen: list[tuple[Any, ...]] = [()]

    def tick() -> None:
        mark = store.activity(since)
        if mark != seen[0]:
            seen[0] = mark
            progress.update(only=ids)

    watcher = _Watcher(tick)
    watcher.start()
    try:
        batch = _run_batch(prep, jobs, settings, on_event)
    finally:
        watcher.stop()
    for entry in batch.entries:
        if not entry.ok and not entry.run_ids and entry.status.value != "skipped_duplicate":
            kind = FailureKind(
                getattr(entry.error_kind, "value", entry.error_kind) or FailureKind.application.value
            )
            store.set_failed(
                entry.job_id,
                ItemState.failed_business if kind.final else ItemState.failed_application,
                entry.error,
                kind.value,
            )
    return batch


# -- the daemon's side ----------------------------------------------------------------------------
def run_scheduled(job: Any, when: datetime, attempt: int, settings: Settings, history: Any) -> str:
    """One fire of a scheduled queue (``rpa schedule add PLAN --items FILE``): the file is read anew,
    so rows added since the last fire are picked up. The fire gets its own history row (the job's
    id): succeeded when every item is done, else the worst of the items' failures."""
    from engine.jobs.triggers import to_utc

    run_id = history.start_run(
        job.name, job_id=job.id, scheduled_for=to_utc(when), attempt=attempt, plan_path=job.plan_path
    )
    from engine.outcome import RunOutcome, RunStatus

    started = datetime.now(when.tzinfo)
    kind: FailureKind | None = FailureKind.application
    error: str | None = None
    summary: dict[str, Any] = {}
    try:
        outcome = run_queue(
            QueueRequest(
                plan_path=Path(job.plan_path),
                items_path=Path(job.items_path),
                params=job.params,
                allow_empty=True,
                retries=job.retries,
            ),
            settings,
        )
        s = outcome.summary
        summary = {"queue": s.queue, "items": s.items, "done": s.done, "failed": s.failed, "left": s.left}
        if s.done == s.items:
            kind = None
        else:
            app = any(
                v.state in (ItemState.failed_application, ItemState.interrupted)
                for v in outcome.items
                if v.present
            )
            kind = FailureKind.application if app else FailureKind.business
            error = (
                f"Items.queue: {s.items - s.done} of {s.items} items of queue {s.queue} are not done "
                f"({s.failed} failed, {s.held} held). See `rpa items show {s.queue}`."
            )
    except RpaError as err:
        kind, error = err.kind, err.message
    fire = RunOutcome(
        run_id=run_id,
        plan_name=job.name,
        attempt=attempt,
        started_at=started,
        finished_at=datetime.now(when.tzinfo),
        status=RunStatus.succeeded if kind is None else RunStatus.failed,
        error=error,
        error_kind=kind,
        outputs=summary,
    )
    status = history_status(fire)
    history.finish_run(fire, status=status)
    return status
