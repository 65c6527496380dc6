"""The job function APScheduler calls (``engine.jobs.tasks:run_job``, plain arguments only).

One scheduled run: claim (job, scheduled time, attempt) in the store, run the work in a child
process (``engine.jobs.worker``) that dies with the daemon, kill it at the job's timeout or when a
stopping daemon's grace period ends. The row that ends the time closes the claim in its own
transaction (``engine.jobs.store``); what the child left open when it died is settled from history.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from loguru import logger
from sqlalchemy.exc import IntegrityError

from engine.config import Settings, get_settings
from engine.history import History, HistoryStatus
from engine.jobs.models import JobDef, utcnow
from engine.jobs.notify import Failure, notify_failure
from engine.jobs.slots import Verdict, backoff_s
from engine.jobs.store import ClaimState, JobStore, SlotTaken
from engine.jobs.triggers import build_trigger, fire_times, slot_key, to_utc

POLL_S = 0.1
_PR_SET_PDEATHSIG = 1


class NotRun(str, Enum):
    """Why ``run_job`` ran nothing."""

    gone = "gone"  # the job was removed
    deferred = "deferred"  # the daemon is stopping: the next start runs it or records it missed
    duplicate = "duplicate"  # the attempt was taken, or history does not owe it


def die_with_parent(parent_pid: int) -> None:
    """In a forked child: SIGKILL when the parent dies (Linux), so a killed daemon leaves no run behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the store lock still stops a second daemon
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def child_preexec() -> object:
    parent = os.getpid()
    return lambda: die_with_parent(parent)


@dataclass
class Runtime:
    """What the daemon shares with its job threads: the store, and the stop signal with its deadline."""

    store: JobStore
    settings: Settings
    grace_s: float = 30.0
    stop: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None  # monotonic time at which running children are killed
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request_stop(self, grace_s: float | None = None) -> None:
        grace = self.grace_s if grace_s is None else grace_s
        deadline = time.monotonic() + grace
        self.deadline = deadline if self.deadline is None else min(self.deadline, deadline)
        self.stop.set()

    def env(self) -> dict[str, str]:
        return {**os.environ, "RPA_DB": self.store.url, "RPA_HOME": str(self.settings.home)}

    def running(self) -> int:
        with self.lock:
            return len(self.children)


_runtime: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime


def current() -> Runtime:
    """The daemon's runtime, or a fresh one (``rpa schedule run-now`` without a daemon)."""
    global _runtime
    if _runtime is None:
        settings = get_settings().ensure()
        _runtime = Runtime(store=JobStore(settings), settings=settings)
    return _runtime


def as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


# -- history helpers ----------------------------------------------------------------------------
def add_row(history: History, job: JobDef, when: datetime, attempt: int, status: HistoryStatus,
            error: str | None) -> str:
    """A row for a run that never got one of its own (missed, killed before it started)."""
    run_id = history.start_run(job.name, job_id=job.id, scheduled_for=to_utc(when), attempt=attempt,
                               plan_path=job.plan_path, status=status.value)
    history.set_status(run_id, status.value, error=error)
    return run_id


def close_open_runs(store: JobStore, job: JobDef, when: datetime, attempt: int, status: HistoryStatus,
                    error: str) -> None:
    """After a kill: rows of ``attempt`` on left ``running`` take ``status``; an attempt with no row gets one."""
    runs = [r for r in store.slot_runs(job.id, when) if r.attempt >= attempt]
    for run in runs:
        if run.status is HistoryStatus.running:
            store.history.set_status(run.id, status.value, error=error)
    if not runs:
        add_row(store.history, job, when, attempt, status, error)


def settle(store: JobStore, job_id: str, slot: str, job: JobDef | None, error: str) -> Verdict:
    """The process that ran this time is gone: its rows left ``running`` are interrupted, an attempt it
    claimed without writing a row gets one, its open claims are closed; returns what history says."""
    when = datetime.fromisoformat(slot)
    open_claims = store.claims(job_id, slot=slot, states=(ClaimState.running,))
    if job is not None:
        runs = store.slot_runs(job_id, when)
        for run in runs:
            if run.status is HistoryStatus.running:
                store.history.set_status(run.id, HistoryStatus.interrupted.value, error=error)
        if open_claims and not any(r.attempt >= min(c.attempt for c in open_claims) for r in runs):
            add_row(store.history, job, when, max(c.attempt for c in open_claims), HistoryStatus.interrupted, error)
    verdict = store.verdict(job_id, slot, open_claims=False)
    store.close_open_claims(job_id, slot, status=verdict.ended or HistoryStatus.interrupted, note=error)
    return verdict


def record_missed(store: JobStore, job: JobDef, when: datetime, note: str) -> bool:
    """A scheduled time that will not run: its missed row and its claim are written together, so it
    is never run later either; False if the time was claimed or has a row already."""
    if store.claims(job.id, slot=slot_key(when)) or store.slot_runs(job.id, when):
        return False
    try:
        add_row(store.history, job, when, 1, HistoryStatus.missed, note)
    except (IntegrityError, SlotTaken):  # claimed meanwhile: the row was rolled back with the claim
        return False
    logger.info("job {}: {} recorded as missed ({})", job.id, slot_key(when), note)
    return True


def fill_gap(store: JobStore, job: JobDef, when: datetime) -> int:
    """Times the trigger owed between the last claimed one and ``when`` (coalesced away) become missed."""
    last = store.last_slot(job.id)
    lower = max(datetime.fromisoformat(last), job.anchor) if last else job.anchor
    owed = fire_times(build_trigger(job.trigger), lower, to_utc(when) - timedelta(microseconds=1))
    note = f"Jobs.run: not run, coalesced into the run scheduled for {slot_key(when)}."
    return sum(record_missed(store, job, t, note) for t in owed)


# -- one run ------------------------------------------------------------------------------------
def run_job(job_id: str, slot: datetime | str | None = None, attempt: int = 1,
            manual: bool = False) -> HistoryStatus | NotRun:
    """Run ``job_id`` for the scheduled time ``slot`` (APScheduler's run time); returns how it ended."""
    rt = current()
    job = rt.store.find(job_id)
    if job is None:
        logger.warning("job {}: no longer defined; nothing run", job_id)
        return NotRun.gone
    when = as_datetime(slot) or utcnow()
    key = slot_key(when)
    if rt.stop.is_set():  # not claimed: the next daemon start runs it or records it missed
        logger.info("job {}: {} not started, the daemon is stopping", job_id, key)
        return NotRun.deferred
    if attempt == 1 and not manual:
        fill_gap(rt.store, job, when)
    if not rt.store.claim(job.id, key, attempt, pid=os.getpid(), manual=manual):
        logger.info("job {}: {} attempt {} was claimed or is not owed; not run again", job_id, key, attempt)
        return NotRun.duplicate
    with logger.contextualize(job_id=job.id):
        logger.info("job {}: run for {} (attempt {})", job.id, key, attempt)
        verdict, exited = _run_child(rt, job, when, attempt)
        status = verdict.ended or HistoryStatus.interrupted
        runs = rt.store.slot_runs(job.id, when)
        last = runs[-1] if runs else None
        error = last.error if last else None
        logger.info("job {}: {} for {}{}", job.id, status.value, key, f" ({error})" if error else "")
    if status not in (HistoryStatus.succeeded, HistoryStatus.interrupted):
        notify_failure(rt.settings, Failure(job_id=job.id, job_name=job.name, scheduled_for=key,
                                            attempt=last.attempt if last else attempt, status=status.value,
                                            error=error, report=last.report if last else None,
                                            run_id=last.id if last else None))
    if exited and verdict.owed and not rt.stop.is_set():  # the worker died with an attempt left
        time.sleep(backoff_s(verdict.next_attempt - 1))
        return run_job(job.id, key, verdict.next_attempt, manual)
    return status


def _run_child(rt: Runtime, job: JobDef, when: datetime, attempt: int) -> tuple[Verdict, bool]:
    """Run the worker; close what it left open. Returns history's verdict and whether it exited by itself."""
    key = slot_key(when)
    cmd = [sys.executable, "-m", "engine.jobs.worker", job.id, key, str(attempt)]
    proc = subprocess.Popen(cmd, env=rt.env(), stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=child_preexec())  # noqa: PLW1509 - prctl must run in the child
    with rt.lock:
        rt.children[f"{job.id}@{key}#{attempt}"] = proc
    try:
        killed = _wait(rt, proc, job.timeout_s)
    finally:
        with rt.lock:
            rt.children.pop(f"{job.id}@{key}#{attempt}", None)
    if killed is HistoryStatus.timeout:
        error = (f"Jobs.run: job {job.id} ran past its timeout of {job.timeout_s:g} s and was killed. "
                 "Raise --timeout or shorten the job.")
        close_open_runs(rt.store, job, when, attempt, HistoryStatus.timeout, error)
    elif killed is HistoryStatus.interrupted:
        error = "Jobs.run: the daemon stopped before the run ended; it is retried at the next start per the job's retries."
        close_open_runs(rt.store, job, when, attempt, HistoryStatus.interrupted, error)
    else:
        error = (f"Jobs.run: the job's worker exited with code {proc.returncode} without finishing its run. "
                 "See the daemon log.")
        runs = [r for r in rt.store.slot_runs(job.id, when) if r.attempt >= attempt]
        if not runs or runs[-1].status is HistoryStatus.running:
            close_open_runs(rt.store, job, when, attempt, HistoryStatus.failed_application, error)
    return settle(rt.store, job.id, key, job, error), killed is None


def _wait(rt: Runtime, proc: subprocess.Popen[bytes], timeout_s: float | None) -> HistoryStatus | None:
    """Wait for the child; kill its process group at the timeout or the stop deadline."""
    started = time.monotonic()
    while True:
        try:
            proc.wait(timeout=POLL_S)
            return None
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if timeout_s is not None and now - started >= timeout_s:
            _kill(proc)
            return HistoryStatus.timeout
        if rt.stop.is_set() and rt.deadline is not None and now >= rt.deadline:
            _kill(proc)
            return HistoryStatus.interrupted


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker, its browser, its command: one group
    except ProcessLookupError:
        pass
    proc.wait()
