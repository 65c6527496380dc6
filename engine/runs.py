"""Run one plan end to end: inputs, history row, browser, bot, durations, report.

``run_plan`` is the synchronous entry point (the CLI); ``arun_plan`` is the same for callers that
already have an event loop, and can reuse a browser they launched (the loop, the benchmarks).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

from engine.config import Settings, get_settings
from engine.errors import FailureKind, ApplicationError, MissingInputError, RpaError, SecretError
from engine.history import History
from engine.logs import add_json_file, register_secret, remove_sink
from engine.outcome import RunOutcome, RunStatus
from engine.plan import Plan, topological_order
from engine.plan.models import step_templates
from engine.plan.template import render, resolve_params
from engine.report import write_report

SecretResolver = Callable[[str], str]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def secret_resolver(settings: Settings, given: Mapping[str, str] | None = None) -> SecretResolver:
    """Secrets from ``given``, then the encrypted store, then ``RPA_SECRET_<NAME>``; each value is
    registered for masking the moment it is read."""
    try:
        from engine.secrets import SecretStore
    except ModuleNotFoundError as err:
        if err.name != "engine.secrets":
            raise
        store = None
    else:
        store = SecretStore(settings)

    def resolve(name: str) -> str:
        if given and name in given:
            value = given[name]
        else:
            value = os.environ.get(f"RPA_SECRET_{name.upper()}") or None
            if value is None:
                if store is None:
                    raise SecretError(
                        f"Secrets.get: secret '{name}' is not set. Set it with `rpa secret set {name}` "
                        f"(or the variable RPA_SECRET_{name.upper()})."
                    )
                value = store.get(name)  # raises SecretError naming the secret
        register_secret(value)
        return value

    return resolve


def _users_of(plan: Plan, kind: str, name: str) -> str | None:
    for sid in topological_order(plan):
        if (kind, name) in step_templates(plan.step(sid)):
            return sid
    return None


def check_inputs(plan: Plan, params: Mapping[str, str] | None, secret: SecretResolver) -> dict[str, str]:
    """Everything a run needs from the user, checked before a browser starts."""
    try:
        resolved = resolve_params(plan, dict(params or {}))
    except MissingInputError as err:
        step = _users_of(plan, "params", err.name)
        if step is None or err.input_kind != "parameter" or err.name not in plan.params:
            raise
        raise MissingInputError(
            "parameter", err.name, f"Step '{step}' needs it. Pass it with --param {err.name}=VALUE."
        ) from None
    for name in plan.secrets:
        try:
            secret(name)
        except SecretError as err:
            step = _users_of(plan, "secrets", name)
            if step is None:
                raise
            raise SecretError(f"Step '{step}': {err.message}") from None
    return resolved


def step_sites(plan: Plan, params: Mapping[str, str]) -> dict[str, str | None]:
    """The host each step works on: the host of the last ``goto`` before it (for duration estimates)."""
    sites: dict[str, str | None] = {}
    host: str | None = None
    for sid in topological_order(plan):
        step = plan.step(sid)
        if step.action.value == "goto" and step.value:
            try:
                url = render(step.value, params, {}, lambda _n: "")
                host = urlsplit(url).netloc or host
            except RpaError:
                pass
        sites[sid] = host
    return sites


def _failed(plan: Plan, run_id: str, run_dir: Path, err: RpaError, started: datetime, attempt: int) -> RunOutcome:
    kind = FailureKind.application if isinstance(err, ApplicationError) else FailureKind.business
    return RunOutcome(
        run_id=run_id, plan_name=plan.name, status=RunStatus.failed, error=err.message, error_kind=kind,
        attempt=attempt, run_dir=str(run_dir), started_at=started, finished_at=_now(),
        seconds=(_now() - started).total_seconds(),
    )


async def _execute(plan: Plan, ctx: Any, browser: Any) -> RunOutcome:
    from bots.runner import Bot

    context = await browser.new_context(accept_downloads=True)
    try:
        return await Bot(context).run(plan, ctx)
    finally:
        try:
            await context.close()
        except Exception:  # noqa: BLE001 - a crashed browser cannot close contexts; nothing to keep
            pass


async def _with_browser(plan: Plan, ctx: Any, settings: Settings, headed: bool) -> RunOutcome:
    from bots.browser import BrowserConfig, launch

    config = BrowserConfig(headless=not headed and settings.headless, executable_path=settings.chromium)
    async with launch(config) as browser:
        return await _execute(plan, ctx, browser)


def _finish(history: History, outcome: RunOutcome, plan: Plan, sites: dict[str, str | None]) -> RunOutcome:
    try:
        outcome.report = str(write_report(outcome, plan, Path(outcome.run_dir or ".")))
    except OSError as err:
        logger.warning("report: cannot write the report of {}: {}", outcome.run_id, err)
    history.finish_run(outcome, sites=sites)
    for step in outcome.steps:
        site = sites.get(step.id)
        if site and step.status.value == "succeeded":
            history.update_duration(site, step.action, step.seconds)
    return outcome


async def arun_plan(
    plan: Plan,
    *,
    params: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    headed: bool = False,
    on_event: Callable[[Any], None] | None = None,
    job_id: str | None = None,
    scheduled_for: datetime | None = None,
    attempt: int = 1,
    plan_path: str | None = None,
    browser: Any = None,
    secrets: Mapping[str, str] | None = None,
    run_id: str | None = None,
    screenshots: bool = True,
    history: History | None = None,
) -> RunOutcome:
    """Run ``plan`` once and record it. Step failures come back in the outcome; missing inputs
    (a parameter, a secret) are recorded as a failed run and then raised, before any browser starts."""
    settings = (settings or get_settings()).ensure()
    history = history or History(settings)
    started = _now()
    run_id = history.start_run(plan.name, run_id=run_id, plan_path=plan_path, job_id=job_id,
                               scheduled_for=scheduled_for, attempt=attempt, started_at=started)
    run_dir = settings.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    sink = add_json_file(run_dir / "log.jsonl", run_id=run_id)
    clock = time.perf_counter()
    try:
        with logger.contextualize(run_id=run_id):
            logger.info("run {}: plan '{}' started", run_id, plan.name)
            secret = secret_resolver(settings, secrets)
            try:
                resolved = check_inputs(plan, params, secret)
            except RpaError as err:
                logger.info("run {}: refused: {}", run_id, err.message)  # the CLI prints the one line
                err.outcome = _finish(history, _failed(plan, run_id, run_dir, err, started, attempt), plan, {})  # type: ignore[attr-defined]
                raise
            sites = step_sites(plan, resolved)
            outcome = await _run_bot(plan, run_id, run_dir, resolved, secret, settings, headed, on_event,
                                     attempt, browser, screenshots)
            outcome.run_id, outcome.run_dir, outcome.attempt = run_id, str(run_dir), attempt
            outcome.started_at = outcome.started_at or started
            outcome.finished_at = outcome.finished_at or _now()
            if not outcome.seconds:
                outcome.seconds = time.perf_counter() - clock
            if outcome.trace is None and (run_dir / "trace.zip").exists():
                outcome.trace = str(run_dir / "trace.zip")
            _finish(history, outcome, plan, sites)
            logger.info("run {}: {} in {:.2f}s{}", run_id, outcome.status.value, outcome.seconds,
                        f" ({outcome.error})" if outcome.error else "")
            return outcome
    finally:
        remove_sink(sink)


async def _run_bot(plan: Plan, run_id: str, run_dir: Path, params: dict[str, str], secret: SecretResolver,
                   settings: Settings, headed: bool, on_event: Callable[[Any], None] | None, attempt: int,
                   browser: Any, screenshots: bool) -> RunOutcome:
    from bots.runner import RunContext

    ctx = RunContext(run_id=run_id, run_dir=run_dir, params=params, secret=secret,
                     trace_on_failure=settings.trace != "off", trace_snapshots=settings.trace == "full",
                     default_timeout_ms=settings.step_timeout_ms, on_event=on_event,
                     screenshots=screenshots, attempt=attempt)
    started = _now()
    try:
        if browser is not None:
            return await _execute(plan, ctx, browser)
        return await _with_browser(plan, ctx, settings, headed)
    except RpaError as err:  # the browser would not start, or the bot broke its contract
        logger.info("run {}: {}", run_id, err.message)
        return _failed(plan, run_id, run_dir, err, started, attempt)
    except Exception as err:  # noqa: BLE001 - a crash must still end as a recorded failed run
        logger.exception("run {}: crashed", run_id)
        failure = _failed(plan, run_id, run_dir, RpaError(f"Bot.run: crashed ({type(err).__name__}: {err})."),
                          started, attempt)
        failure.error_kind = FailureKind.application
        return failure


def run_plan(plan: Plan, **kwargs: Any) -> RunOutcome:
    """Synchronous ``arun_plan`` (same keywords)."""
    return asyncio.run(arun_plan(plan, **kwargs))


def record_failure(plan_name: str, error: RpaError, *, plan_path: str | None = None,
                   settings: Settings | None = None, job_id: str | None = None) -> RunOutcome:
    """A run that could not start (a plan file that does not load, a missing input) is still
    recorded as a failed run, so history shows every attempt; nothing else is written."""
    history = History(settings or get_settings())
    run_id = history.start_run(plan_name, plan_path=plan_path, job_id=job_id)
    now = _now()
    kind = FailureKind.application if isinstance(error, ApplicationError) else FailureKind.business
    outcome = RunOutcome(run_id=run_id, plan_name=plan_name, status=RunStatus.failed, error=error.message,
                         error_kind=kind, started_at=now, finished_at=now)
    history.finish_run(outcome)
    return outcome


def record_invalid_plan(path: str, error: RpaError, *, settings: Settings | None = None,
                        job_id: str | None = None) -> RunOutcome:
    return record_failure(Path(path).stem, error, plan_path=str(path), settings=settings, job_id=job_id)


def precheck(plan: Plan, params: Mapping[str, str] | None, *, plan_path: str | None = None,
             settings: Settings | None = None, secrets: Mapping[str, str] | None = None) -> RunOutcome | None:
    """Check a plan's inputs before handing it to the loop; a failure is recorded and returned."""
    settings = settings or get_settings()
    try:
        check_inputs(plan, params, secret_resolver(settings, secrets))
    except (MissingInputError, SecretError) as err:
        return record_failure(plan.name, err, plan_path=plan_path, settings=settings)
    return None
