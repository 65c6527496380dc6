"""What a Dask worker runs for one bot job.

Each worker process keeps one event-loop thread and one Chromium (``BrowserHost``); the worker's
task threads (one per ``browser`` slot) hand their bot run to that loop, each in its own context,
so a job does not pay for a browser launch.

A worker that dies mid-run makes Dask run the task again elsewhere. Each run has a Dask
``Variable`` on the scheduler (set by the coordinator before submitting) that counts the starts
and keeps the finished result: the second start is attempt N+1 under a new run id (or, for a
non-idempotent plan, is held for a person), there is no third, and a task that is recomputed after
it finished (its worker died before the result was fetched) returns the stored result instead of
running the bot twice.
"""

from __future__ import annotations

import asyncio
import io
import os
import pickle
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Coroutine
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from loguru import logger

from bots.runner import RunContext, RunResult, run_in_context
from engine.cluster.models import ClusterJob, ClusterResult
from engine.config import Settings, get_settings
from engine.errors import MissingInputError, RpaError, SecretError
from engine.logs import add_json_file, mask, remove_sink
from engine.outcome import RunOutcome

T = TypeVar("T")
VARIABLE_PREFIX = "rpa-run-"
WORKER_LOG = "worker-log.jsonl"  # beside the coordinator's log.jsonl once the artifacts are unpacked

# run id -> monotonic start, for `running_jobs` (the kill-one benchmark and test pick a busy worker).
_RUNNING: dict[str, float] = {}


def variable_name(run_id: str) -> str:
    return VARIABLE_PREFIX + run_id


def _now() -> datetime:
    return datetime.now(UTC)


class BrowserHost:
    """One asyncio loop in a daemon thread and one Chromium per worker process, launched lazily
    and relaunched when it has crashed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._cm: Any = None
        self._browser: Any = None
        self._alock: asyncio.Lock | None = None
        self.config: Any = None
        self.launches = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="rpa-browser-loop", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the browser loop from a worker thread and wait for it."""
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop())
        return fut.result()

    async def browser(self, settings: Settings) -> Any:
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._cm is not None:
                logger.warning("cluster worker: the browser is gone; relaunching it")
                await self._close()
            from bots.browser import BrowserConfig, launch

            kw: dict[str, Any] = {"headless": settings.headless, "default_timeout_ms": settings.step_timeout_ms}
            if settings.chromium:
                kw["executable_path"] = settings.chromium
            self.config = BrowserConfig(**kw)
            cm = launch(self.config)
            self._browser = await cm.__aenter__()
            self._cm = cm
            self.launches += 1
            return self._browser

    async def _close(self) -> None:
        cm, self._cm, self._browser = self._cm, None, None
        if cm is not None:
            try:
                await cm.__aexit__(None, None, None)
            except Exception as err:  # noqa: BLE001 - a crashed browser cannot close cleanly; it is gone
                logger.debug("cluster worker: closing the browser: {}", err)

    def warm(self) -> None:
        """Launch the browser now (``rpa worker`` does it at start, so the first job is not slower)."""
        self.call(self.browser(get_settings()))

    def close(self) -> None:
        if self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=15)
        except Exception as err:  # noqa: BLE001 - shutting down anyway
            logger.debug("cluster worker: browser close: {}", err)
        self._loop.call_soon_threadsafe(self._loop.stop)


HOST = BrowserHost()


# -- the claim: which attempt is this start? ------------------------------------------------------
def _claim(job: ClusterJob, me: str) -> tuple[int, dict[str, Any]]:
    """Record this start on the scheduler; returns (previous starts, the stored state)."""
    from distributed import Variable

    var = Variable(variable_name(job.run_id))
    try:
        state = dict(var.get(timeout=5) or {})
    except TimeoutError:  # submitted without the coordinator's marker
        state = {}
    starts = int(state.get("starts", 0))
    if state.get("done") is None:
        var.set({"starts": starts + 1, "worker": me, "done": None})
    return starts, state


def _store_done(job: ClusterJob, starts: int, me: str, result: ClusterResult) -> None:
    from distributed import Variable

    try:
        Variable(variable_name(job.run_id)).set({"starts": starts + 1, "worker": me, "done": pickle.dumps(result)})
    except Exception as err:  # noqa: BLE001 - only the recompute-after-finish guard is lost
        logger.warning("cluster worker: cannot store the result of {}: {}", job.run_id, err)


# -- one run ---------------------------------------------------------------------------------------
def _zip_dir(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(path))
    return buf.getvalue()


def _masked(model: Any) -> Any:
    """Secrets this worker read are masked before anything leaves it (the coordinator never knew them)."""
    if model is None or not hasattr(model, "model_dump_json"):
        return model
    return type(model).model_validate_json(mask(model.model_dump_json()))


async def _run(job: ClusterJob, run_id: str, run_dir: Path, attempt: int, settings: Settings) -> RunResult:
    """The worker's side of one run: inputs from this worker's own store, then the same
    ``run_in_context`` as a local run."""
    from bots.browser import new_context
    from engine.inputs import check_inputs, secret_resolver
    from engine.plan import parse_plan

    plan = parse_plan(job.plan_yaml, f"<cluster job {run_id}>")
    secret = secret_resolver(settings)  # this worker's own store and RPA_SECRET_* variables
    try:
        params = check_inputs(plan, job.params, secret)
    except (MissingInputError, SecretError) as err:
        return RunResult(outcome=RunOutcome.failed(run_id, plan.name, f"{err.message} (on worker {_me()})",
                                                   kind=err.kind, attempt=attempt, run_dir=str(run_dir)))
    browser = await HOST.browser(settings)
    context = await new_context(browser, HOST.config)
    try:
        ctx = RunContext(run_id=run_id, run_dir=run_dir, params=params, secret=secret,
                         default_timeout_ms=job.default_timeout_ms, screenshots=job.screenshots, attempt=attempt,
                         trace_on_failure=settings.trace != "off", trace_snapshots=settings.trace == "full")
        return await run_in_context(context, plan, ctx)
    finally:
        try:
            await context.close()
        except Exception:  # noqa: BLE001 - a crashed browser cannot close its contexts
            pass


def _me() -> str:
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:
        return f"pid {os.getpid()}"
    return str(worker.name if worker.name is not None else worker.address)


def execute_job(job: ClusterJob) -> ClusterResult:
    """The task submitted with ``resources={"browser": 1}``; never raises for a bot's failure."""
    from engine.history import new_run_id

    me = _me()
    starts, state = _claim(job, me)
    if state.get("done") is not None:  # finished before its worker died: never run a bot twice
        done: ClusterResult = pickle.loads(state["done"])
        logger.info("cluster worker {}: {} already finished on {}; returning its result", me, job.run_id, done.worker)
        return done
    lost = str(state.get("worker") or "") or None
    if starts >= 2:
        return ClusterResult(run_id=job.run_id, attempt=job.attempt + starts, worker=me, lost_worker=lost,
                             message=f"Cluster.run: run {job.run_id} was started twice and its worker died both "
                                     "times; not started again.")
    if starts == 1 and not job.idempotent:
        return ClusterResult(run_id=job.run_id, attempt=job.attempt + 1, worker=me, held_for_person=True,
                             lost_worker=lost,
                             message=f"Cluster.run: worker {lost or '?'} died during run {job.run_id}, and the plan "
                                     "is not idempotent (idempotent: false), so it was not run again. Check the site "
                                     "and run it again by hand if it did not finish.")
    attempt = job.attempt + starts
    run_id = job.run_id if starts == 0 else new_run_id()
    settings = get_settings()
    run_dir = Path(tempfile.mkdtemp(prefix=f"rpa-{run_id}-"))
    sink = add_json_file(run_dir / WORKER_LOG, run_id=run_id)
    _RUNNING[run_id] = time.monotonic()
    try:
        with logger.contextualize(run_id=run_id):
            logger.info("cluster worker {}: run {} attempt {}{}", me, run_id, attempt,
                        f" (re-run of {job.run_id}; worker {lost} died)" if starts else "")
            try:
                ran = HOST.call(_run(job, run_id, run_dir, attempt, settings))
            except RpaError as err:  # the browser would not start, the plan does not parse
                ran = RunResult(outcome=RunOutcome.failed(run_id, "?", f"{err.message} (on worker {me})",
                                                          kind=err.kind, attempt=attempt))
            except Exception as err:  # noqa: BLE001 - a crash must still come back as a failed run
                logger.exception("cluster worker {}: run {} crashed", me, run_id)
                ran = RunResult(outcome=RunOutcome.failed(
                    run_id, "?", f"Bot.run: crashed on worker {me} ({type(err).__name__}: {err}).", attempt=attempt))
        outcome, observation = ran.outcome, ran.observation
        outcome.run_id, outcome.attempt = run_id, attempt
        outcome.run_dir = str(run_dir)
        remove_sink(sink)
        sink = -1
        result = ClusterResult(run_id=run_id, attempt=attempt, worker=me, outcome=_masked(outcome),
                               worker_run_dir=str(run_dir), artifacts_zip=_zip_dir(run_dir),
                               observation=_masked(observation), rerun_of=job.run_id if starts else None,
                               lost_worker=lost if starts else None)
    finally:
        _RUNNING.pop(run_id, None)
        if sink != -1:
            remove_sink(sink)
        shutil.rmtree(run_dir, ignore_errors=True)
    _store_done(job, starts, me, result)
    return result


def running_jobs() -> dict[str, Any]:
    """Run on every worker with ``client.run``: its pid and the runs in progress (seconds so far)."""
    now = time.monotonic()
    return {"pid": os.getpid(), "running": {k: now - v for k, v in list(_RUNNING.items())}}
