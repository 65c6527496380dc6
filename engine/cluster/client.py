"""The coordinator: connect to a Dask scheduler and run a batch of bot jobs on its workers.

``run_batch_on_cluster`` is ``engine.loop.run_batch`` with the bots swapped for Dask workers
(``LoopDeps.runtime_factory``): the loop still plans, asks the engine's scheduler for the order,
dispatches in that order (``Client.submit(..., resources={"browser": 1}, priority=...)``), retries,
repairs, writes history, durations and reports on this machine. Only the bot run itself happens on
a worker; its outcome, screenshots, trace and downloads come back into ``RPA_HOME/runs/<run id>``.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from engine.cluster.models import ClusterJob, ClusterResult
from engine.cluster.security import make_security
from engine.cluster.tasks import execute_job, variable_name
from engine.config import Settings, get_settings
from engine.errors import FailureKind, ApplicationError, RpaError
from engine.outcome import RunOutcome, RunStatus
from engine.plan import Plan, dump_plan

BROWSER = "browser"


class ClusterError(ApplicationError):
    """The cluster cannot take work now (scheduler unreachable, no browser worker). An application
    error, so it is transient: a daemon keeps its scheduled jobs and tries again later."""

    def __init__(self, message: str) -> None:
        RpaError.__init__(self, message)  # no step: the message is the whole line
        self.step_id, self.reason = None, message


def connect(address: str, *, tls_ca_file: str | None = None, tls_cert: str | None = None,
            tls_key: str | None = None, security: Any = None, timeout_s: float = 10.0) -> Any:
    """A ``distributed.Client`` for ``address``; one-line ``ClusterError`` when it cannot be reached.
    TLS files default to ``RPA_TLS_CA_FILE``, ``RPA_TLS_CERT`` and ``RPA_TLS_KEY``."""
    from distributed import Client

    if security is None:
        security = make_security(address, tls_ca_file or os.environ.get("RPA_TLS_CA_FILE") or None,
                                 tls_cert or os.environ.get("RPA_TLS_CERT") or None,
                                 tls_key or os.environ.get("RPA_TLS_KEY") or None, role="client")
    try:
        return Client(address, security=security, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError, asyncio.TimeoutError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ClusterError(
            f"Cluster.connect: cannot reach the Dask scheduler at {address} within {timeout_s:g} s ({first}). "
            "Start it with `dask scheduler`, or check the address, port and firewall."
        ) from None


def check_cluster(address: str, *, timeout_s: float = 10.0, wait_workers_s: float = 0.0, **tls: Any) -> int:
    """Browser slots at ``address`` now; ``ClusterError`` when unreachable or none (``rpa daemon`` start)."""
    client = connect(address, timeout_s=timeout_s, **tls)
    try:
        return wait_for_browsers(client, wait_workers_s, address)
    finally:
        client.close()


def browser_slots(client: Any) -> int:
    workers = client.scheduler_info(n_workers=-1).get("workers", {}) if _takes_n_workers(client) \
        else client.scheduler_info().get("workers", {})
    return sum(int(w.get("resources", {}).get(BROWSER, 0)) for w in workers.values())


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def wait_for_browsers(client: Any, timeout_s: float, address: str = "") -> int:
    """Browser slots offered by the workers; waits up to ``timeout_s`` for the first one."""
    deadline = time.monotonic() + timeout_s
    while True:
        slots = browser_slots(client)
        if slots > 0:
            return slots
        if time.monotonic() >= deadline:
            raise ClusterError(
                f"Cluster.run: no worker of {address or 'the scheduler'} offers the resource '{BROWSER}' "
                f"(waited {timeout_s:g} s). Start one with `rpa worker --scheduler {address or 'ADDRESS'}`."
            )
        time.sleep(0.2)


def _unzip(data: bytes, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if not data:
        return
    root = target.resolve()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            dest = (target / name).resolve()
            if not dest.is_relative_to(root):  # a worker must not write outside the run folder
                raise RpaError(f"Cluster.run: artifact '{name}' points outside its run folder; refused.")
        zf.extractall(target)


def _relocate(outcome: RunOutcome, worker_dir: str | None, local_dir: Path) -> RunOutcome:
    """Paths in the outcome (screenshots, trace, downloads) point into the worker's folder."""
    if worker_dir:
        outcome = RunOutcome.model_validate_json(outcome.model_dump_json().replace(worker_dir, str(local_dir)))
    outcome.run_dir = str(local_dir)
    return outcome


class ClusterRuntime:
    """``engine.loop.deps.Runtime`` whose bots are Dask workers."""

    def __init__(self, client: Any, settings: Settings, history: Any) -> None:
        self.client, self.settings, self.history = client, settings, history
        self.reruns: dict[str, tuple[str, int]] = {}  # re-run id -> (the interrupted run, its attempt)
        self.held: list[str] = []  # runs of non-idempotent plans whose worker died
        self.workers_used: set[str] = set()
        self._seq = 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def restart(self) -> None:  # each worker relaunches its own browser
        return None

    def alive(self) -> bool:
        return getattr(self.client, "status", "running") == "running"

    async def run(self, plan: Plan, spec: Any, *, observe_on_failure: bool) -> tuple[RunOutcome, Any]:
        from distributed import Variable

        job = ClusterJob(run_id=spec.run_id, plan_yaml=dump_plan(plan), params=dict(spec.params),
                         attempt=spec.attempt, idempotent=plan.idempotent,
                         default_timeout_ms=spec.default_timeout_ms, observe_on_failure=observe_on_failure)
        self._seq += 1
        priority = -self._seq  # the loop submits in the engine scheduler's order: earlier runs first
        var = Variable(variable_name(spec.run_id), client=self.client)

        def submit() -> Any:
            var.set({"starts": 0, "worker": "", "done": None})
            return self.client.submit(execute_job, job, key=f"rpa-run-{spec.run_id}", pure=False,
                                      resources={BROWSER: 1}, priority=priority, retries=0)

        future = await asyncio.to_thread(submit)
        loop = asyncio.get_running_loop()
        finished = asyncio.Event()
        future.add_done_callback(lambda _f: loop.call_soon_threadsafe(finished.set))
        try:
            await finished.wait()
            result: ClusterResult = await asyncio.to_thread(future.result)
        except asyncio.CancelledError:  # the loop's job timeout: the worker finishes, nobody waits
            future.cancel()
            raise
        finally:
            try:
                await asyncio.to_thread(var.delete)
            except Exception as err:  # noqa: BLE001 - a leftover variable is a few bytes on the scheduler
                logger.debug("cluster: cannot delete {}: {}", variable_name(spec.run_id), err)
        self.workers_used.add(result.worker)
        return self._receive(plan, spec, result), result.observation

    def _receive(self, plan: Plan, spec: Any, result: ClusterResult) -> RunOutcome:
        if result.outcome is None:  # held for a person, or given up after two dead workers
            if result.held_for_person:
                self.held.append(spec.run_id)
            logger.warning("cluster: {}", result.message)
            now = RunOutcome(run_id=spec.run_id, plan_name=plan.name, status=RunStatus.interrupted,
                             error=result.message, error_kind=FailureKind.business, attempt=spec.attempt)
            now.run_dir = str(spec.run_dir)
            return now
        outcome = result.outcome
        outcome.plan_name = plan.name
        local = Path(spec.run_dir)
        if result.rerun_of is not None:
            local = self.settings.runs_dir / result.run_id
            self._record_rerun(plan, spec, result, local)
        _unzip(result.artifacts_zip, local)
        return _relocate(outcome, result.worker_run_dir, local)

    def _record_rerun(self, plan: Plan, spec: Any, result: ClusterResult, local: Path) -> None:
        """The interrupted first run keeps its row (``interrupted``); the re-run gets its own."""
        first = self.history.get_run(spec.run_id)
        why = (f"Cluster.run: worker {result.lost_worker or '?'} died during this run; run again on "
               f"{result.worker} as attempt {result.attempt} (run {result.run_id}).")
        logger.warning("cluster: {}", why)
        self.history.set_status(spec.run_id, "interrupted", error=why)
        self.history.start_run(plan.name, run_id=result.run_id, plan_path=getattr(first, "plan_path", None),
                               job_id=getattr(first, "job_id", None),
                               scheduled_for=getattr(first, "scheduled_for", None), attempt=result.attempt,
                               run_dir=str(local),
                               started_at=result.outcome.started_at if result.outcome else None)
        self.reruns[result.run_id] = (spec.run_id, result.attempt)


def _fix_reruns(batch: Any, runtime: ClusterRuntime) -> None:
    """The loop numbers attempts itself; a re-run after a dead worker is one more."""
    for run in batch.runs:
        if run.run_id in runtime.reruns:
            run.attempt = runtime.reruns[run.run_id][1]
    for entry in batch.entries:
        for new, (old, _attempt) in runtime.reruns.items():
            if old in entry.run_ids and new not in entry.run_ids:
                entry.run_ids.insert(entry.run_ids.index(old) + 1, new)
                entry.attempts += 1


def _resolved_on_worker(_name: str) -> str:
    """The coordinator never reads secrets: each worker resolves them from its own store."""
    return "(resolved on the worker)"


def cluster_deps(client: Any, settings: Settings) -> tuple[Any, ClusterRuntime]:
    from engine.loop import LoopDeps

    deps = LoopDeps.default(settings)
    deps.secret = _resolved_on_worker
    runtime = ClusterRuntime(client, settings, deps.history)
    deps.runtime_factory = lambda _size, _headed: runtime
    return deps, runtime


async def run_batch_on_cluster_async(jobs: list[Any], address: str, *, settings: Settings | None = None,
                                     client: Any = None, tls_ca_file: str | None = None,
                                     tls_cert: str | None = None, tls_key: str | None = None,
                                     connect_timeout_s: float = 10.0, wait_workers_s: float = 30.0,
                                     prefetch: int | None = None, resources: dict[str, int] | None = None,
                                     on_event: Callable[[Any], None] | None = None) -> Any:
    """Like ``run_batch``, on the Dask cluster at ``address``. Raises ``ClusterError`` (one line)
    when the scheduler cannot be reached or no worker offers a browser; never for a job's failure.

    ``prefetch`` extra jobs are handed to Dask beyond the free browser slots (default: half the
    slots, at least one) so that no worker waits for the coordinator between two jobs."""
    from engine.loop import run_batch_async

    settings = (settings or get_settings()).ensure()
    own = client is None
    if own:
        client = await asyncio.to_thread(connect, address, tls_ca_file=tls_ca_file, tls_cert=tls_cert,
                                         tls_key=tls_key, timeout_s=connect_timeout_s)
    try:
        slots = await asyncio.to_thread(wait_for_browsers, client, wait_workers_s, address)
        extra = max(1, slots // 2) if prefetch is None else max(0, prefetch)
        deps, runtime = cluster_deps(client, settings)
        logger.info("cluster: {} browser slot(s) at {}", slots, address)
        batch = await run_batch_async(jobs, concurrency=slots + extra, deps=deps, on_event=on_event,
                                      resources=resources)
        _fix_reruns(batch, runtime)
        return batch
    finally:
        if own:
            await asyncio.to_thread(client.close)


def run_batch_on_cluster(jobs: list[Any], address: str, **kwargs: Any) -> Any:
    """Synchronous ``run_batch_on_cluster_async`` (same keywords) -> ``engine.loop.BatchOutcome``."""
    return asyncio.run(run_batch_on_cluster_async(jobs, address, **kwargs))
