"""What ``rpa schedule ...`` does, on the store, whether or not a daemon is running.

Changes go to our definitions and to APScheduler's table together; a running daemon reads the
table again within its poll interval.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from engine.config import Settings, get_settings
from engine.errors import ConfigError, RpaError
from engine.jobs.lock import StoreLock
from engine.jobs.models import JobDef, JobView, new_job_id, utcnow
from engine.jobs.store import TASK_REF, JobStore, schedule_job, unschedule_job
from engine.jobs.triggers import make_spec, parse_duration, slot_key


class JobRequest(BaseModel):
    """The options of ``rpa schedule add`` before they are checked."""

    file: Path | None = None
    instruction: str | None = None
    url: str | None = None
    command: list[str] | None = None
    cron: str | None = None
    every: str | None = None
    at: str | None = None
    tz: str | None = None
    retries: int = 1
    timeout: str | None = None
    name: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    items: Path | None = None  # a work-item file (engine.items)


def _open(settings: Settings | None, url: str | None) -> JobStore:
    return JobStore(settings or get_settings().ensure(), url=url)


def _work(request: JobRequest) -> tuple[str | None, str]:
    """The plan path (checked now) and a default name."""
    given = [x for x in (request.file, request.instruction, request.command) if x]
    if len(given) != 1:
        raise ConfigError("Schedule.add: give exactly one of FILE.yaml, --instruction \"...\" (with --url) or --command.")
    if request.file is not None:
        from engine.plan import load_plan

        path = request.file.expanduser().resolve()
        plan = load_plan(path)  # a PlanValidationError names the file, line and field
        return str(path), plan.name
    if request.instruction:
        if not request.url:
            raise ConfigError("Schedule.add: an --instruction job needs --url, the page to plan on.")
        return None, request.instruction[:60]
    return None, Path((request.command or ["job"])[0]).name


def add_job(request: JobRequest, *, settings: Settings | None = None, db: str | None = None) -> JobDef:
    spec = make_spec(cron=request.cron, every=request.every, at=request.at, tz=request.tz)
    plan_path, default_name = _work(request)
    timeout_s = parse_duration(request.timeout, option="--timeout") if request.timeout else None
    name = request.name or default_name
    try:
        job = JobDef(id=new_job_id(name), name=name, plan_path=plan_path, instruction=request.instruction,
                     url=request.url, command=request.command, trigger=spec, retries=request.retries,
                     timeout_s=timeout_s, params=request.params,
                     items_path=str(request.items.expanduser().resolve()) if request.items else None)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "job"
        raise ConfigError(f"Schedule.add: {where}: {first['msg']}. See `rpa schedule add --help`.") from None
    store = _open(settings, db)
    store.put(job)
    with store.control() as scheduler:
        schedule_job(scheduler, job)
    return job


def list_jobs(*, settings: Settings | None = None, db: str | None = None) -> list[JobView]:
    return _open(settings, db).views()


def set_paused(job_id: str, paused: bool, *, settings: Settings | None = None, db: str | None = None) -> JobDef:
    store = _open(settings, db)
    job = store.get(job_id)
    if job.paused == paused:
        return job
    update = {"paused": paused} if paused else {"paused": False, "anchor": utcnow()}  # times owed while paused are not
    job = job.model_copy(update=update)
    store.put(job)
    with store.control() as scheduler:
        if scheduler.get_job(job.id, jobstore="default") is None:
            schedule_job(scheduler, job)
        elif paused:
            scheduler.pause_job(job.id, jobstore="default")
        else:
            scheduler.resume_job(job.id, jobstore="default")
    return job


def remove_job(job_id: str, *, settings: Settings | None = None, db: str | None = None) -> JobDef:
    store = _open(settings, db)
    job = store.get(job_id)
    with store.control() as scheduler:
        unschedule_job(scheduler, job.id)
    store.delete(job.id)
    return job


def run_now(job_id: str, *, settings: Settings | None = None, db: str | None = None) -> str:
    """Queue the job for a running daemon, or, with none running, run it here and return its status."""
    settings = settings or get_settings().ensure()
    store = _open(settings, db)
    job = store.get(job_id)
    now = utcnow()
    lock = StoreLock(store.url, settings.home, store.engine)
    try:
        lock.acquire()
    except RpaError:  # a daemon holds the store: hand it a one-off job it picks up within a second
        with store.control() as scheduler:
            scheduler.add_job(TASK_REF, "date", run_date=now, args=[job.id],
                              kwargs={"slot": slot_key(now), "manual": True}, jobstore="default",
                              id=f"{job.id}@now-{now.strftime('%Y%m%dT%H%M%S%f')}", misfire_grace_time=job.misfire_grace_s)
        return "queued"
    try:
        from engine.jobs.tasks import Runtime, install, run_job

        install(Runtime(store=store, settings=settings))
        return run_job(job.id, slot=now, manual=True).value
    finally:
        install(None)
        lock.release()
