"""The child process of one scheduled run: ``python -m engine.jobs.worker JOB_ID SLOT ATTEMPT``.

Every attempt has its history row before it starts. The row that ends the scheduled time closes
the daemon's claim in the same transaction (this process opened a ``JobStore``, whose hook runs
inside History's writes), so a kill at any moment leaves history and claims agreeing. Plans and
instructions run through the engine loop (``engine.loop.run_batch``, or
``run_batch(..., cluster=...)`` when a cluster is configured); a ``command`` job runs its
program. Application errors are retried up to the job's last attempt; nothing else is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime

from loguru import logger

from engine.config import Settings, get_settings
from engine.errors import FailureKind, RpaError
from engine.history import HistoryStatus, history_status
from engine.jobs.models import JobDef
from engine.jobs.slots import backoff_s, ends_slot, failure_status
from engine.jobs.store import JobStore
from engine.jobs.tasks import add_row, child_preexec, close_open_runs
from engine.jobs.triggers import slot_key, to_utc
from engine.outcome import RunOutcome, RunStatus
from engine.plan import load_plan

BUSINESS_EXIT = 2  # a command job's way to say "the work was refused": not retried


def run_command(job: JobDef, when: datetime, attempt: int, settings: Settings, store: JobStore) -> None:
    history = store.history
    for n in range(attempt, max(attempt, job.last_attempt) + 1):
        if n > attempt:
            time.sleep(backoff_s(n - 1))
        run_id = history.start_run(job.name, job_id=job.id, scheduled_for=to_utc(when), attempt=n)
        run_dir = settings.runs_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        started, clock = datetime.now(when.tzinfo), time.perf_counter()
        env = {**os.environ, "RPA_JOB_ID": job.id, "RPA_SCHEDULED_FOR": slot_key(when), "RPA_ATTEMPT": str(n),
               "RPA_RUN_ID": run_id, "RPA_RUN_DIR": str(run_dir)}
        program = job.command[0] if job.command else ""
        kind: FailureKind | None = None
        with open(run_dir / "output.log", "wb") as out:
            try:
                rc = subprocess.call(job.command or [], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, preexec_fn=child_preexec())  # noqa: PLW1509
            except OSError as err:  # no such program, not executable: another attempt cannot help
                kind, error = FailureKind.configuration, f"Jobs.command: cannot start '{program}' ({err}). Fix --command."
            else:
                if rc != 0:
                    kind = FailureKind.business if rc == BUSINESS_EXIT else FailureKind.application
                error = None if rc == 0 else f"Jobs.command: '{program}' exited with code {rc}. See {run_dir / 'output.log'}."
        outcome = RunOutcome(
            run_id=run_id, plan_name=job.name, attempt=n, run_dir=str(run_dir), started_at=started,
            status=RunStatus.succeeded if kind is None else RunStatus.failed, error=error, error_kind=kind,
            seconds=time.perf_counter() - clock, finished_at=datetime.now(when.tzinfo),
        )
        history.finish_run(outcome)  # closes the claim too when this ends the time
        if ends_slot(HistoryStatus(history_status(outcome)), n, job.last_attempt):
            return


def run_plan_job(job: JobDef, when: datetime, attempt: int, settings: Settings, store: JobStore) -> None:
    """Load the plan now (a file that no longer validates is a failed run), then run it through the loop."""
    plan = None
    if job.plan_path:
        try:
            plan = load_plan(job.plan_path)
        except RpaError as err:
            add_row(store.history, job, when, attempt, failure_status(err.kind), err.message)
            return
    if job.items_path:  # a work-item queue (engine.items): each fire runs what is left of it
        from engine.items import run_scheduled

        run_scheduled(job, when, attempt, settings, store.history)
        return
    # Imported here: the loop brings the browser stack, which command jobs do not need.
    from engine.loop import JobSpec, run_batch

    spec = JobSpec(plan=plan, plan_path=job.plan_path, instruction=job.instruction, url=job.url, params=job.params,
                   job_id=job.id, scheduled_for=to_utc(when), attempt=attempt,
                   retries=max(0, job.last_attempt - attempt))
    run_batch([spec], concurrency=1, settings=settings, cluster=settings.cluster or None)


def execute(job: JobDef, when: datetime, attempt: int, settings: Settings, store: JobStore) -> HistoryStatus | None:
    """Run the job's work; anything that escapes is recorded on this run's rows, never lost.
    Returns the status that ended the time (None: an attempt is still owed)."""
    try:
        if job.command:
            run_command(job, when, attempt, settings, store)
        else:
            run_plan_job(job, when, attempt, settings, store)
    except Exception as err:  # noqa: BLE001 - a crash of the engine is a failed run, not a lost one
        if isinstance(err, RpaError):
            message = err.message
        else:
            logger.error("job {}: crashed ({}: {})", job.id, type(err).__name__, err)  # no traceback values: params
            message = f"Jobs.run: the run crashed ({type(err).__name__}: {err})."
        close_open_runs(store, job, when, attempt, failure_status(FailureKind.of(err)), message)
    return store.verdict(job.id, slot_key(when), open_claims=False).ended


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        print("usage: python -m engine.jobs.worker JOB_ID SLOT ATTEMPT", file=sys.stderr)
        return 64
    from engine.logs import setup

    setup(level="INFO")
    job_id, slot, attempt = args[0], datetime.fromisoformat(args[1]), int(args[2])
    settings = get_settings().ensure()
    store = JobStore(settings)
    job = store.get(job_id)
    with logger.contextualize(job_id=job_id):
        status = execute(job, slot, attempt, settings, store)
    return 0 if status is HistoryStatus.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
