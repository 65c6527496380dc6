"""The job function APScheduler calls (``engine.jobs.tasks:run_job``, plain arguments only).

One scheduled run: claim (job, scheduled time, attempt) in the store, run the work in a child
process (``engine.jobs.worker``) that dies with the daemon, kill it at the job's timeout or when a
stopping daemon's grace period ends, then close the claim from what the child wrote to history.
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

from loguru import logger

from engine.config import Settings, get_settings
from engine.history import History, RunRecord
from engine.jobs.models import JobDef, utcnow
from engine.jobs.notify import Failure, notify_failure
from engine.jobs.store import JobStore
from engine.jobs.triggers import build_trigger, fire_times, slot_key, to_utc

POLL_S = 0.1
_PR_SET_PDEATHSIG = 1


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
def runs_for(history: History, job_id: str, when: datetime, min_attempt: int = 1) -> list[RunRecord]:
    """The history rows of one scheduled time from ``min_attempt`` on, oldest attempt first."""
    when = to_utc(when)
    rows = [r for r in history.list_runs(job_id=job_id, limit=500)
            if r.scheduled_for is not None and to_utc(r.scheduled_for) == when and r.attempt >= min_attempt]
    return sorted(rows, key=lambda r: (r.attempt, r.started_at))


def add_row(history: History, job: JobDef, when: datetime, attempt: int, status: str, error: str | None) -> str:
    """A row for a run that never got one of its own (missed, killed before it started)."""
    run_id = history.start_run(job.name, job_id=job.id, scheduled_for=to_utc(when), attempt=attempt,
                               plan_path=job.plan_path, status=status)
    history.set_status(run_id, status, error=error)
    return run_id


def close_open_runs(history: History, job: JobDef, when: datetime, attempt: int, status: str, error: str) -> None:
    """After a kill: rows left ``running`` take ``status``; an attempt with no row gets one."""
    rows = runs_for(history, job.id, when, attempt)
    for row in rows:
        if row.status == "running":
            history.set_status(row.id, status, error=error)
    if not rows:
        add_row(history, job, when, attempt, status, error)


def record_missed(store: JobStore, job: JobDef, when: datetime, note: str) -> bool:
    """A scheduled time that will not run: claimed as missed, so it is never run later either."""
    if not store.claim(job.id, slot_key(when), 1, state="missed", status="missed", note=note):
        return False
    add_row(store.history, job, when, 1, "missed", note)
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
def run_job(job_id: str, slot: datetime | str | None = None, attempt: int = 1, manual: bool = False) -> str:
    """Run ``job_id`` for the scheduled time ``slot`` (APScheduler's run time); returns the history status."""
    rt = current()
    job = rt.store.find(job_id)
    if job is None:
        logger.warning("job {}: no longer defined; nothing run", job_id)
        return "gone"
    when = as_datetime(slot) or utcnow()
    key = slot_key(when)
    if rt.stop.is_set():  # not claimed: the next daemon start runs it or records it missed
        logger.info("job {}: {} not started, the daemon is stopping", job_id, key)
        return "deferred"
    if attempt == 1 and not manual:
        fill_gap(rt.store, job, when)
    if not rt.store.claim(job.id, key, attempt, pid=os.getpid(), manual=manual):
        logger.info("job {}: {} attempt {} was already claimed; not run again", job_id, key, attempt)
        return "duplicate"
    with logger.contextualize(job_id=job.id):
        logger.info("job {}: run for {} (attempt {})", job.id, key, attempt)
        status, error, report, run_id = _run_child(rt, job, when, attempt)
        state = "interrupted" if status == "interrupted" else "finished"
        rt.store.finish_claim(job.id, key, attempt, state=state, status=status, note=error)
        logger.info("job {}: {} for {}{}", job.id, status, key, f" ({error})" if error else "")
    if status not in ("succeeded", "interrupted"):
        notify_failure(rt.settings, Failure(job_id=job.id, job_name=job.name, scheduled_for=key, attempt=attempt,
                                            status=status, error=error, report=report, run_id=run_id))
    return status


def _run_child(rt: Runtime, job: JobDef, when: datetime, attempt: int) -> tuple[str, str | None, str | None, str | None]:
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
    history = rt.store.history
    if killed == "timeout":
        error = f"Jobs.run: job {job.id} ran past its timeout of {job.timeout_s:g} s and was killed. Raise --timeout or shorten the job."
        close_open_runs(history, job, when, attempt, "timeout", error)
        return "timeout", error, None, None
    if killed == "interrupted":
        error = "Jobs.run: the daemon stopped before the run ended; it is retried at the next start per the job's retries."
        close_open_runs(history, job, when, attempt, "interrupted", error)
        return "interrupted", error, None, None
    rows = runs_for(history, job.id, when, attempt)
    if not rows or rows[-1].status == "running":
        error = f"Jobs.run: the job's worker exited with code {proc.returncode} without finishing its run. See the daemon log."
        close_open_runs(history, job, when, attempt, "failed_application", error)
        return "failed_application", error, None, None
    last = rows[-1]
    return last.status, last.error, last.report, last.id


def _wait(rt: Runtime, proc: subprocess.Popen[bytes], timeout_s: float | None) -> str | None:
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
            return "timeout"
        if rt.stop.is_set() and rt.deadline is not None and now >= rt.deadline:
            _kill(proc)
            return "interrupted"


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker, its browser, its command: one group
    except ProcessLookupError:
        pass
    proc.wait()
