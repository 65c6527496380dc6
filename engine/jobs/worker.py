"""The child process of one scheduled run: ``python -m engine.jobs.worker JOB_ID SLOT ATTEMPT``.

It writes every attempt to history before the attempt starts and closes it at the end. Plans and
instructions go through the engine loop (``run_batch``) when it is installed, else ``run_plan``;
a ``command`` job runs its program. Retries of application errors follow the job's policy.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

from loguru import logger

from engine.config import Settings, get_settings
from engine.errors import FailureKind, ApplicationError, RpaError
from engine.history import History
from engine.jobs.models import JobDef
from engine.jobs.store import JobStore
from engine.jobs.tasks import add_row, child_preexec, close_open_runs, runs_for
from engine.jobs.triggers import slot_key, to_utc
from engine.outcome import RunOutcome, RunStatus

BUSINESS_EXIT = 2  # a command job's way to say "the work was refused": not retried


def backoff_s(attempt: int) -> float:
    return min(2.0 ** (attempt - 1), 30.0)


def last_attempt(job: JobDef) -> int:
    return 1 + job.retries


def run_command(job: JobDef, when: datetime, attempt: int, settings: Settings, history: History) -> str:
    status = "failed_application"
    for n in range(attempt, max(attempt, last_attempt(job)) + 1):
        if n > attempt:
            time.sleep(backoff_s(n - 1))
        run_id = history.start_run(job.name, job_id=job.id, scheduled_for=to_utc(when), attempt=n)
        run_dir = settings.runs_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        started, clock = datetime.now(when.tzinfo), time.perf_counter()
        env = {**os.environ, "RPA_JOB_ID": job.id, "RPA_SCHEDULED_FOR": slot_key(when), "RPA_ATTEMPT": str(n),
               "RPA_RUN_ID": run_id, "RPA_RUN_DIR": str(run_dir)}
        with open(run_dir / "output.log", "wb") as out:
            try:
                rc = subprocess.call(job.command or [], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, preexec_fn=child_preexec())  # noqa: PLW1509
            except OSError as err:
                rc, out_err = 127, str(err)
            else:
                out_err = None
        status = "succeeded" if rc == 0 else "failed_business" if rc == BUSINESS_EXIT else "failed_application"
        error = None if rc == 0 else out_err or f"Jobs.command: '{job.command[0] if job.command else ''}' exited with code {rc}. See {run_dir / 'output.log'}."
        outcome = RunOutcome(
            run_id=run_id, plan_name=job.name, attempt=n, run_dir=str(run_dir), started_at=started,
            status=RunStatus.succeeded if rc == 0 else RunStatus.failed, error=error,
            error_kind=None if rc == 0 else FailureKind.business if rc == BUSINESS_EXIT else FailureKind.application,
            seconds=time.perf_counter() - clock, finished_at=datetime.now(when.tzinfo),
        )
        history.finish_run(outcome, status=status)
        if status != "failed_application":
            break
    return status


def run_plan_job(job: JobDef, when: datetime, attempt: int, settings: Settings, history: History) -> str:
    """Load the plan now (a file that no longer validates is a failed run), then run it."""
    plan = None
    if job.plan_path:
        from engine.plan import load_plan

        try:
            plan = load_plan(job.plan_path)
        except (RpaError, OSError) as err:
            message = err.message if isinstance(err, RpaError) else f"Jobs.run: cannot read {job.plan_path} ({err})."
            add_row(history, job, when, attempt, "failed_business", message)
            return "failed_business"
    loop = _optional("engine.loop")
    if loop is not None:
        spec = loop.JobSpec(plan=plan, plan_path=job.plan_path, instruction=job.instruction, url=job.url,
                            params=job.params, job_id=job.id, scheduled_for=to_utc(when), attempt=attempt,
                            retries=max(0, last_attempt(job) - attempt))
        if settings.cluster:
            from engine.cluster import run_batch_on_cluster

            run_batch_on_cluster([spec], settings.cluster, settings=settings)
        else:
            loop.run_batch([spec], concurrency=1, settings=settings)
    else:
        _run_plan_sequential(job, plan, when, attempt, settings)
    rows = runs_for(history, job.id, when, attempt)
    return rows[-1].status if rows else "failed_application"


def _run_plan_sequential(job: JobDef, plan: Any, when: datetime, attempt: int, settings: Settings) -> None:
    from engine.runs import run_plan

    if plan is None:
        raise RpaError("Jobs.run: instruction jobs need the engine loop (engine.loop). Save a plan and schedule the file.")
    for n in range(attempt, max(attempt, last_attempt(job)) + 1):
        if n > attempt:
            time.sleep(backoff_s(n - 1))
        outcome = run_plan(plan, params=job.params, settings=settings, job_id=job.id, scheduled_for=to_utc(when),
                           attempt=n, plan_path=job.plan_path)
        if outcome.ok or outcome.error_kind is FailureKind.business:
            break


def _optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        return None


def execute(job: JobDef, when: datetime, attempt: int, settings: Settings, history: History) -> str:
    """Run the job's work; anything that escapes is recorded on this run's rows, never lost."""
    try:
        if job.command:
            return run_command(job, when, attempt, settings, history)
        return run_plan_job(job, when, attempt, settings, history)
    except RpaError as err:
        status = "failed_application" if isinstance(err, ApplicationError) else "failed_business"
        close_open_runs(history, job, when, attempt, status, err.message)
        return status
    except Exception as err:  # noqa: BLE001 - a crash of the engine is a failed run, not a lost one
        logger.error("job {}: crashed ({}: {})", job.id, type(err).__name__, err)  # no traceback values: params
        close_open_runs(history, job, when, attempt, "failed_application",
                        f"Jobs.run: the run crashed ({type(err).__name__}: {err}).")
        return "failed_application"


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
        status = execute(job, slot, attempt, settings, store.history)
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
