"""What a daemon does at start, before it runs anything, with the store lock held (no run is alive).

1. Times some process was running when it died (claims left ``running``, rows left ``running``) are
   settled from history (``engine.jobs.tasks.settle``): a time whose history already ended (a
   success, a business failure, ...) keeps that end and is never run again; otherwise the run
   becomes ``interrupted``.
2. An interrupted time is retried (next attempt) while the job's retries allow it.
3. Times the trigger owed while no daemon ran: the latest within the grace period runs once
   (the others are coalesced into it); times beyond the grace are recorded ``missed``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from loguru import logger
from pydantic import BaseModel, Field

from engine.history import HistoryStatus
from engine.jobs.models import JobDef, utcnow
from engine.jobs.store import ClaimState, JobStore
from engine.jobs.tasks import record_missed, settle
from engine.jobs.triggers import build_trigger, fire_times, slot_key

DIED = "Jobs.recover: the daemon stopped (crash, kill -9, power loss) while this run was in progress."


class PendingRun(BaseModel):
    job_id: str
    slot: str
    attempt: int = 1
    manual: bool = False


class Recovery(BaseModel):
    interrupted: list[str] = Field(default_factory=list, description="job@slot#attempt closed as interrupted")
    ended: list[str] = Field(default_factory=list,
                             description="job@slot#attempt left open although history had ended the time")
    retries: list[PendingRun] = Field(default_factory=list)
    due: list[PendingRun] = Field(default_factory=list)
    missed: int = 0

    @property
    def pending(self) -> list[PendingRun]:
        return self.retries + self.due


def recover(store: JobStore, now: datetime | None = None) -> Recovery:
    now = now or utcnow()
    jobs = {job.id: job for job in store.all()}
    result = Recovery()
    for job_id, slot in sorted(_unsettled(store, jobs)):
        _settle(store, job_id, slot, jobs.get(job_id), result)
    for job in jobs.values():
        if not job.paused:
            _owed_times(store, job, now, result)
    logger.info("daemon: recovery closed {} interrupted run(s) and {} ended one(s), retries {}, owed runs {}, "
                "missed {}", len(result.interrupted), len(result.ended), len(result.retries), len(result.due),
                result.missed)
    return result


def _unsettled(store: JobStore, jobs: dict[str, JobDef]) -> set[tuple[str, str]]:
    """Times with an open claim or an open row, and interrupted times that may owe a retry."""
    states = (ClaimState.running, ClaimState.interrupted)
    return {(c.job_id, c.slot) for c in store.claims(states=states)} | store.running_slots(set(jobs))


def _settle(store: JobStore, job_id: str, slot: str, job: JobDef | None, result: Recovery) -> None:
    claims = store.claims(job_id, slot=slot)
    names = [f"{job_id}@{slot}#{c.attempt}" for c in claims if c.state is ClaimState.running]
    verdict = settle(store, job_id, slot, job, DIED)
    if verdict.ended in (None, HistoryStatus.interrupted):
        result.interrupted.extend(names)
    else:
        result.ended.extend(names)
        if names:
            logger.info("job {}: {} had ended {} before the daemon stopped; not run again", job_id, slot,
                        verdict.ended.value)
    if job is not None and verdict.owed:
        result.retries.append(PendingRun(job_id=job_id, slot=slot, attempt=verdict.next_attempt,
                                         manual=any(c.manual for c in claims)))
    elif names and verdict.ended is HistoryStatus.interrupted:
        logger.info("job {}: {} stays interrupted (retries {} used)", job_id, slot, job.retries if job else 0)


def _owed_times(store: JobStore, job: JobDef, now: datetime, result: Recovery) -> None:
    last = store.last_slot(job.id)
    lower = max(datetime.fromisoformat(last), job.anchor) if last else job.anchor
    owed = fire_times(build_trigger(job.trigger), lower, now)
    if not owed:
        return
    latest = owed[-1]
    runnable = now - latest <= timedelta(seconds=job.misfire_grace_s)
    for when in owed[:-1] if runnable else owed:
        note = (f"Jobs.recover: not run, coalesced into the run scheduled for {slot_key(latest)}." if runnable
                else f"Jobs.recover: the daemon was down past this time's grace of {job.misfire_grace_s} s.")
        result.missed += record_missed(store, job, when, note)
    if runnable:
        result.due.append(PendingRun(job_id=job.id, slot=slot_key(latest), attempt=1))
