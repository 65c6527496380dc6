"""``ClusterRuntime``: the loop's runtime whose bots are Dask workers.

The loop still plans, schedules, retries, repairs and writes history, durations and reports on
this machine; each run is submitted in the engine scheduler's order
(``Client.submit(..., resources={"browser": 1}, priority=...)``) and performed on a worker by the
same ``bots.runner.run_in_context`` as a local run. Its outcome, screenshots, trace and downloads
come back into ``RPA_HOME/runs/<run id>``.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import Any

from loguru import logger

from bots.runner import RunContext, RunResult
from engine.cluster.client import BROWSER, connect, wait_for_browsers
from engine.cluster.models import ClusterJob, ClusterOptions, ClusterResult
from engine.cluster.tasks import execute_job, variable_name
from engine.config import Settings
from engine.errors import FailureKind, RpaError
from engine.history import History, HistoryStatus
from engine.outcome import RunOutcome, RunStatus
from engine.plan import Plan, dump_plan


def resolved_on_worker(_name: str) -> str:
    """The coordinator never reads secrets: each worker resolves them from its own store."""
    return "(resolved on the worker)"


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
    """``engine.loop.runtime.Runtime`` on the Dask cluster of ``options.address``."""

    def __init__(self, options: ClusterOptions, settings: Settings, history: History, *, client: Any = None) -> None:
        self.options, self.settings, self.history = options, settings, history
        self.client = client
        self._own = client is None
        self.browsers = 0
        self.workers_used: set[str] = set()
        self._seq = 0

    async def start(self) -> None:
        """Connect and wait for a worker with a browser; ``ClusterError`` (one line) otherwise."""
        o = self.options
        if self.client is None:
            self.client = await asyncio.to_thread(connect, o.address, tls_ca_file=o.tls_ca_file,
                                                  tls_cert=o.tls_cert, tls_key=o.tls_key,
                                                  timeout_s=o.connect_timeout_s)
        self.browsers = await asyncio.to_thread(wait_for_browsers, self.client, o.wait_workers_s, o.address)
        logger.info("cluster: {} browser slot(s) at {}", self.browsers, o.address)

    def slots(self, requested: int) -> int:
        """Every browser slot, plus ``prefetch`` jobs handed out early so no worker waits between two."""
        extra = max(1, self.browsers // 2) if self.options.prefetch is None else max(0, self.options.prefetch)
        return max(1, self.browsers + extra)

    async def close(self) -> None:
        if self._own and self.client is not None:
            await asyncio.to_thread(self.client.close)
            self.client = None

    async def restart(self) -> None:  # each worker relaunches its own browser
        return None

    def alive(self) -> bool:
        return self.client is not None and getattr(self.client, "status", "running") == "running"

    async def run(self, plan: Plan, ctx: RunContext) -> RunResult:
        from distributed import Variable

        job = ClusterJob(run_id=ctx.run_id, plan_yaml=dump_plan(plan), params=dict(ctx.params), attempt=ctx.attempt,
                         idempotent=plan.idempotent, default_timeout_ms=ctx.default_timeout_ms,
                         screenshots=ctx.screenshots)
        self._seq += 1
        priority = -self._seq  # the loop submits in the engine scheduler's order: earlier runs first
        var = Variable(variable_name(ctx.run_id), client=self.client)

        def submit() -> Any:
            var.set({"starts": 0, "worker": "", "done": None})
            return self.client.submit(execute_job, job, key=f"rpa-run-{ctx.run_id}", pure=False,
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
                logger.debug("cluster: cannot delete {}: {}", variable_name(ctx.run_id), err)
        self.workers_used.add(result.worker)
        return RunResult(outcome=self._receive(plan, ctx, result), observation=result.observation)

    def _receive(self, plan: Plan, ctx: RunContext, result: ClusterResult) -> RunOutcome:
        if result.outcome is None:  # held for a person, or given up after two dead workers
            logger.warning("cluster: {}", result.message)
            return RunOutcome(run_id=ctx.run_id, plan_name=plan.name, status=RunStatus.interrupted,
                              error=result.message, error_kind=FailureKind.business, attempt=ctx.attempt,
                              run_dir=str(ctx.run_dir))
        outcome = result.outcome
        outcome.plan_name = plan.name
        local = Path(ctx.run_dir)
        if result.rerun_of is not None:
            local = self.settings.runs_dir / result.run_id
            self._record_rerun(plan, ctx, result, local)
        _unzip(result.artifacts_zip, local)
        return _relocate(outcome, result.worker_run_dir, local)

    def _record_rerun(self, plan: Plan, ctx: RunContext, result: ClusterResult, local: Path) -> None:
        """The interrupted first run keeps its row (``interrupted``); the re-run gets its own."""
        first = self.history.get_run(ctx.run_id)
        why = (f"Cluster.run: worker {result.lost_worker or '?'} died during this run; run again on "
               f"{result.worker} as attempt {result.attempt} (run {result.run_id}).")
        logger.warning("cluster: {}", why)
        self.history.set_status(ctx.run_id, HistoryStatus.interrupted.value, error=why)
        self.history.start_run(plan.name, run_id=result.run_id, plan_path=first.plan_path if first else None,
                               job_id=first.job_id if first else None,
                               scheduled_for=first.scheduled_for if first else None, attempt=result.attempt,
                               run_dir=str(local), started_at=result.outcome.started_at if result.outcome else None)
