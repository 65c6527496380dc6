"""What the pages show, read from the same stores as the CLI: history, job store, secrets, plan files.

Each function returns typed rows for one page; the routes only render them.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from engine.config import Settings
from engine.errors import RpaError
from engine.history import FAILED_STATUSES, History, HistoryStatus, RunRecord
from engine.logs import mask, register_secret

NEXT_FIRES = 5
SECRET_ENV_PREFIX = "RPA_SECRET_"
STATUS_FILTERS = ["failed"] + [s.value for s in HistoryStatus]


# -- runs ------------------------------------------------------------------------------------------


class RunFilter(BaseModel):
    status: str | None = None
    bot: str | None = None
    job: str | None = None
    limit: int = Field(100, ge=1, le=1000)

    def query(self) -> str:
        from urllib.parse import urlencode

        return urlencode(
            {k: v for k, v in (("status", self.status), ("bot", self.bot), ("job", self.job)) if v}
        )


def run_filter(params: Any) -> RunFilter:
    status = params.get("status") or None
    if status not in (None, *STATUS_FILTERS):
        status = None
    limit = params.get("limit") or "100"
    return RunFilter(
        status=status,
        bot=(params.get("bot") or "").strip() or None,
        job=(params.get("job") or "").strip() or None,
        limit=min(max(int(limit), 1), 1000) if limit.isdigit() else 100,
    )


def list_runs(history: History, flt: RunFilter) -> list[RunRecord]:
    statuses = None
    if flt.status == "failed":
        statuses = sorted(FAILED_STATUSES)
    elif flt.status:
        statuses = [flt.status]
    return history.list_runs(job_id=flt.job, limit=flt.limit, statuses=statuses, plan_name=flt.bot)


# -- bots ------------------------------------------------------------------------------------------


class BotParam(BaseModel):
    name: str
    default: str | None = None
    description: str | None = None
    type: str | None = None
    choices: list[str] | None = None


class Bot(BaseModel):
    key: str
    source: str  # the folder it came from, as given
    path: Path
    name: str
    description: str = ""
    params: list[BotParam] = Field(default_factory=list)
    secrets: list[str] = Field(default_factory=list)
    steps: int = 0


def bot_key(path: Path) -> str:
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]


class BotLibrary(BaseModel):
    bots: list[Bot] = Field(default_factory=list)
    folders: list[Path] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # plan files that do not load, and why


def _bot(path: Path, source: str, plan: Any) -> Bot:
    params = [
        BotParam(
            name=n,
            default=p.default,
            description=p.description,
            type=getattr(p, "type", None),
            choices=getattr(p, "choices", None),
        )
        for n, p in plan.params.items()
    ]
    return Bot(
        key=bot_key(path),
        source=source,
        path=path,
        name=plan.name,
        description=plan.description,
        params=params,
        secrets=list(plan.secrets),
        steps=len(plan.steps),
    )


def list_bots(settings: Settings, given: tuple[Path, ...]) -> BotLibrary:
    """The skills library (``engine.skills``: recordings/, RPA_HOME/skills, RPA_SKILLS, then ``--plans``
    folders)."""
    from engine.skills.library import load_library

    lib = load_library(settings, list(given))
    return BotLibrary(
        bots=[_bot(s.path, s.source, s.plan) for s in lib.skills],
        folders=list(lib.folders),
        errors=[mask(e) for e in lib.errors],
    )


def find_bot(settings: Settings, given: tuple[Path, ...], key: str) -> Bot | None:
    """Only a plan the listing shows can be run: the form names it by key, never by path."""
    return next((b for b in list_bots(settings, given).bots if b.key == key), None)


# -- secrets ---------------------------------------------------------------------------------------


class SecretName(BaseModel):
    name: str
    in_store: bool
    in_env: bool


class SecretsView(BaseModel):
    names: list[SecretName]
    error: str | None = None


def env_secret_names() -> list[str]:
    return sorted(
        k[len(SECRET_ENV_PREFIX) :] for k, v in os.environ.items() if k.startswith(SECRET_ENV_PREFIX) and v
    )


def register_known_secrets(settings: Settings) -> None:
    """Teach this process's ``mask`` every secret value, so no page can show one."""
    from engine.secrets import SecretStore

    for key, value in os.environ.items():
        if key.startswith(SECRET_ENV_PREFIX) or key in ("RPA_SECRET_KEY", "RPA_UI_TOKEN"):
            register_secret(value)
    try:
        store = SecretStore(settings)
        for name in store.list():
            store.get(name)  # registers the value
    except RpaError:
        pass  # no key here: the secrets page says so


def secrets_view(settings: Settings) -> SecretsView:
    from engine.secrets import SecretStore

    env = set(env_secret_names())
    try:
        stored = set(SecretStore(settings).list())
    except RpaError as err:
        return SecretsView(
            names=[SecretName(name=n, in_store=False, in_env=True) for n in sorted(env)],
            error=mask(err.message),
        )
    return SecretsView(
        names=[SecretName(name=n, in_store=n in stored, in_env=n in env) for n in sorted(stored | env)]
    )


def secret_names(settings: Settings) -> set[str]:
    return {s.name for s in secrets_view(settings).names}


# -- schedules -------------------------------------------------------------------------------------


class JobRow(BaseModel):
    id: str
    name: str
    kind: str
    work: str
    trigger: str
    tz: str
    paused: bool
    next_fires: list[datetime] = Field(default_factory=list)
    last_status: str | None = None
    last_scheduled_for: datetime | None = None
    retries: int
    timeout_s: float | None = None


def next_fires(trigger: Any, first: datetime | None, n: int = NEXT_FIRES) -> list[datetime]:
    """``first`` (APScheduler's next run time) and the fire times after it, in UTC."""
    if first is None:
        return []
    times = [first.astimezone(timezone.utc)]
    previous = first
    while len(times) < n:
        nxt = trigger.get_next_fire_time(previous, previous)
        if nxt is None or nxt <= previous:
            break
        times.append(nxt.astimezone(timezone.utc))
        previous = nxt
    return times


def fires_within(trigger: Any, first: datetime | None, until: datetime, limit: int) -> list[datetime]:
    return [t for t in next_fires(trigger, first, limit) if t <= until]


def list_schedules(store: Any) -> list[JobRow]:
    from engine.jobs.triggers import build_trigger, describe

    rows = []
    for view in store.views():
        job = view.job
        fires = [] if job.paused else next_fires(build_trigger(job.trigger), view.next_run_time)
        rows.append(
            JobRow(
                id=job.id,
                name=job.name,
                kind=job.kind,
                work=mask(job.label()),
                trigger=describe(job.trigger),
                tz=job.trigger.tz,
                paused=job.paused,
                next_fires=fires,
                last_status=view.last_status,
                last_scheduled_for=view.last_scheduled_for,
                retries=job.retries,
                timeout_s=job.timeout_s,
            )
        )
    return rows


def horizon_end(hours: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=hours)
