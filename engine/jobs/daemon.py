"""``rpa daemon``: APScheduler with defaults for unattended bots, one per store, crash-safe.

Start: take the store lock (a second daemon refuses), recover (``engine.jobs.recovery``), then
schedule. Stop (SIGTERM, Ctrl+C): take no new runs, let running ones finish within the grace
period, kill the rest and record them ``interrupted`` (retried at the next start).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from loguru import logger
from pydantic import BaseModel, Field

from engine.config import Settings, get_settings
from engine.jobs.executor import SlotExecutor
from engine.jobs.lock import StoreLock
from engine.jobs.models import MISFIRE_GRACE_S, utcnow
from engine.jobs.recovery import PendingRun, Recovery, recover
from engine.jobs.store import TASK_REF, JobStore, schedule_job, store_errors
from engine.jobs.tasks import Runtime, install, record_missed
from engine.jobs.triggers import build_trigger

HEARTBEAT_REF = "engine.jobs.daemon:heartbeat"


class DaemonOptions(BaseModel):
    concurrency: int = Field(1, ge=1, le=64, description="Runs at a time.")
    grace_s: float = Field(30.0, ge=0, description="How long running jobs may take to finish on stop.")
    poll_s: float = Field(1.0, gt=0, description="How often the store is read for jobs added by other processes.")


def heartbeat() -> None:
    """Runs every ``poll_s``: waking the scheduler makes it read the job store again."""


def make_scheduler(store: JobStore, concurrency: int) -> BackgroundScheduler:
    return BackgroundScheduler(
        jobstores={"default": store.aps_jobstore(), "internal": MemoryJobStore()},
        executors={"default": SlotExecutor(concurrency), "internal": ThreadPoolExecutor(1)},
        job_defaults={"misfire_grace_time": MISFIRE_GRACE_S, "coalesce": True, "max_instances": 1},
        timezone="UTC",
    )


class Daemon:
    """``start()`` / ``stop()``; ``serve()`` does both around a wait for SIGTERM or Ctrl+C."""

    def __init__(self, settings: Settings | None = None, *, url: str | None = None,
                 options: DaemonOptions | None = None) -> None:
        self.settings = (settings or get_settings()).ensure()
        self.options = options or DaemonOptions()
        self.store = JobStore(self.settings, url=url)
        self.lock = StoreLock(self.store.url, self.settings.home, self.store.engine)
        self.runtime = Runtime(store=self.store, settings=self.settings, grace_s=self.options.grace_s)
        self.scheduler: BackgroundScheduler | None = None
        self.recovery: Recovery | None = None
        self._stopped = threading.Event()
        self._signals = 0

    def start(self) -> Recovery:
        self.lock.acquire()
        try:
            install(self.runtime)
            with store_errors(self.store.url, "Daemon.start"):
                self.recovery = recover(self.store)
                self.scheduler = make_scheduler(self.store, self.options.concurrency)
                self.scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)
                self.scheduler.start()
                self._sync_jobs()
                self._submit(self.recovery.pending)
                self.scheduler.add_job(HEARTBEAT_REF, "interval", seconds=self.options.poll_s, id="heartbeat",
                                       jobstore="internal", executor="internal", misfire_grace_time=None)
        except BaseException:
            self.lock.release()
            install(None)
            raise
        jobs = len(self.scheduler.get_jobs(jobstore="default"))
        logger.info("daemon: started on {} with {} job(s), concurrency {}", self.store.url.split("@")[-1], jobs,
                    self.options.concurrency)
        return self.recovery

    def _sync_jobs(self) -> None:
        """Our definitions are the truth: put back a job APScheduler's table lost, drop strays."""
        assert self.scheduler is not None
        known = {job.id for job in self.scheduler.get_jobs(jobstore="default")}
        defined = self.store.all()
        now = utcnow()
        for job in defined:
            upcoming = build_trigger(job.trigger).get_next_fire_time(None, now)
            if job.id not in known and upcoming is not None and upcoming > now:  # a fired --at job stays gone
                schedule_job(self.scheduler, job)
        ids = {job.id for job in defined}
        for job_id in known:
            if job_id.split("@", 1)[0] not in ids:
                self.scheduler.remove_job(job_id, jobstore="default")

    def _submit(self, runs: list[PendingRun]) -> None:
        assert self.scheduler is not None
        for run in runs:
            self.scheduler.add_job(TASK_REF, "date", run_date=utcnow(), args=[run.job_id],
                                   kwargs={"slot": run.slot, "attempt": run.attempt, "manual": run.manual},
                                   jobstore="internal", executor="default",
                                   id=f"recover:{run.job_id}@{run.slot}#{run.attempt}", misfire_grace_time=None)

    def _on_skipped(self, event: JobSubmissionEvent) -> None:
        """A time skipped because the job's previous run was still going is recorded, not lost."""
        if event.jobstore != "default":
            return
        job = self.store.find(event.job_id.split("@", 1)[0])
        if job is not None:
            for when in event.scheduled_run_times:
                record_missed(self.store, job, when, "Jobs.run: skipped, the previous run of this job was still running.")

    def request_stop(self, grace_s: float | None = None) -> None:
        self.runtime.request_stop(grace_s)
        self._stopped.set()

    def stop(self) -> None:
        """Take no new runs, wait for running ones until the grace ends (then kill), release the lock."""
        self.runtime.request_stop()
        if self.scheduler is not None and self.scheduler.running:
            running = self.runtime.running()
            if running:
                logger.info("daemon: stopping; waiting up to {:g} s for {} running job(s)", self.options.grace_s, running)
            self.scheduler.pause()
            self.scheduler.shutdown(wait=True)  # the job threads return at the deadline at the latest
        self.lock.release()
        install(None)
        logger.info("daemon: stopped")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals == 1:
            logger.warning("daemon: {} received; finishing running jobs (grace {:g} s). Again to kill them now.",
                           signal.Signals(signum).name, self.options.grace_s)
            self.request_stop()
        else:
            self.request_stop(0)

    def serve(self) -> Recovery:
        """Run until SIGTERM or Ctrl+C (main thread only)."""
        previous: dict[int, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, self._on_signal)
        try:
            recovery = self.start()
            try:
                while not self._stopped.wait(timeout=1.0):
                    pass
            finally:
                self.stop()
            return recovery
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
