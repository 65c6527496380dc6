"""What a daemon does at start, before it runs anything, with the store lock held.

1. Claims left ``running`` belong to a daemon that died: their runs become ``interrupted``.
2. An interrupted scheduled time is retried (next attempt) while the job's retries allow it.
3. Times the trigger owed while no daemon ran: the latest within the grace period runs once
   (the others are coalesced into it); times beyond the grace are recorded ``missed``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from loguru import logger
from pydantic import BaseModel, Field

from engine.jobs.models import JobDef, utcnow
from engine.jobs.store import Claim, JobStore
from engine.jobs.tasks import close_open_runs, record_missed, runs_for
from engine.jobs.triggers import build_trigger, fire_times, slot_key


class PendingRun(BaseModel):
    job_id: str
    slot: str
    attempt: int = 1


class Recovery(BaseModel):
    interrupted: list[str] = Field(default_factory=list, description="job@slot#attempt closed as interrupted")
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
    _close_interrupted(store, jobs, result)
    _plan_retries(store, jobs, result)
    for job in jobs.values():
        if not job.paused:
            _owed_times(store, job, now, result)
    logger.info("daemon: recovery closed {} interrupted run(s), retries {}, owed runs {}, missed {}",
                len(result.interrupted), len(result.retries), len(result.due), result.missed)
    return result


def _close_interrupted(store: JobStore, jobs: dict[str, JobDef], result: Recovery) -> None:
    error = "Jobs.recover: the daemon stopped (crash, kill -9, power loss) while this run was in progress."
    for claim in store.claims(states=("running",)):
        job = jobs.get(claim.job_id)
        if job is not None:
            close_open_runs(store.history, job, datetime.fromisoformat(claim.slot), claim.attempt, "interrupted", error)
        store.finish_claim(claim.job_id, claim.slot, claim.attempt, state="interrupted", status="interrupted", note=error)
        result.interrupted.append(f"{claim.job_id}@{claim.slot}#{claim.attempt}")


def _plan_retries(store: JobStore, jobs: dict[str, JobDef], result: Recovery) -> None:
    by_slot: dict[tuple[str, str], list[Claim]] = defaultdict(list)
    for claim in store.claims():
        by_slot[(claim.job_id, claim.slot)].append(claim)
    for (job_id, slot), claims in by_slot.items():
        job = jobs.get(job_id)
        latest = max(claims, key=lambda c: c.attempt)
        if job is None or latest.state != "interrupted" or any(c.status == "succeeded" for c in claims):
            continue
        rows = runs_for(store.history, job_id, datetime.fromisoformat(slot))
        attempt = max([latest.attempt, *(r.attempt for r in rows)]) + 1
        if attempt <= 1 + job.retries:
            result.retries.append(PendingRun(job_id=job_id, slot=slot, attempt=attempt))
        else:
            logger.info("job {}: {} stays interrupted (retries {} used)", job_id, slot, job.retries)


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
