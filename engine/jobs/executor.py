"""An APScheduler executor that hands the job function its scheduled run time.

APScheduler 3 calls ``func(*args, **kwargs)`` and keeps the run time to itself; the daemon needs it
as the key of a run (job, scheduled time). This executor implements ``_do_submit_job`` (the
documented extension point of ``BaseExecutor``) on a thread pool and passes ``slot=run_time``.
A run time missed by more than the job's grace is recorded ``missed`` instead of being dropped.
"""

from __future__ import annotations

import sys
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from loguru import logger


class SlotExecutor(BaseExecutor):
    """``max_workers`` runs at a time (``rpa daemon --concurrency``)."""

    def __init__(self, max_workers: int = 1) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(max(1, int(max_workers)), thread_name_prefix="rpa-job")

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def done(future: Future[list[JobExecutionEvent]]) -> None:
            exc = future.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        try:
            future = self._pool.submit(run_slots, job, run_times)
        except RuntimeError:  # the daemon is stopping (pool shut down): the next start owes these times
            logger.info("job {}: not submitted, the daemon is stopping", job.id)
            return
        future.add_done_callback(done)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait)


def run_slots(job: Any, run_times: list[datetime]) -> list[JobExecutionEvent]:
    events = []
    for run_time in run_times:
        late = datetime.now(timezone.utc) - run_time
        if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
            _record_missed(job, run_time, late)
            events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias, run_time))
            continue
        kwargs = {"slot": run_time, **job.kwargs}
        try:
            result = job.func(*job.args, **kwargs)
        except BaseException:  # noqa: BLE001 - APScheduler's contract: report, never kill the pool
            exc, tb = sys.exc_info()[1:]
            logger.error("job {}: the job function failed ({}: {})", job.id, type(exc).__name__, exc)
            events.append(JobExecutionEvent(EVENT_JOB_ERROR, job.id, job._jobstore_alias, run_time, exception=exc,
                                            traceback="".join(traceback.format_tb(tb))))
        else:
            events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_time, retval=result))
    return events


def _record_missed(job: Any, run_time: datetime, late: timedelta) -> None:
    from engine.jobs.tasks import current, record_missed

    store = current().store
    definition = store.find(job.args[0]) if job.args else None
    if definition is not None:
        record_missed(store, definition, run_time,
                      f"Jobs.run: missed by {late.total_seconds():.0f} s, beyond the grace of {job.misfire_grace_time} s.")
