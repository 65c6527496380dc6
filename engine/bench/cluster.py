"""``rpa bench cluster``: throughput by worker count, and what a killed worker costs.

A ``dask scheduler`` and N ``rpa worker`` processes (one browser each) on 127.0.0.1, the in-process
sandbox, and the shipped recordings as jobs. Each worker count gets a fresh cluster and a warm-up
batch (one job per worker: browsers launched, code imported) before the timed batch. With
``--kill-one``, a worker process is SIGKILLed while it runs a job; its nanny restarts it.
Coordinator and workers use temporary ``RPA_HOME`` folders; the workers get the sandbox password
through ``RPA_SECRET_PASSWORD`` (their own secret source), never through a task.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loguru import logger

from engine.cluster.local import LocalCluster
from engine.loop import run_batch
from engine.config import Settings, env_overrides, get_settings

SANDBOX_PASSWORD = "wonderland"
STEP_TIMEOUT_MS = "4000"


@contextmanager
def _home() -> Iterator[tuple[Settings, dict[str, str]]]:
    """A temporary coordinator home, and the environment of the workers (their own home)."""
    with tempfile.TemporaryDirectory(prefix="rpa-bench-cluster-") as tmp, \
            env_overrides(RPA_HOME=str(Path(tmp) / "coordinator"), RPA_STEP_TIMEOUT_MS=STEP_TIMEOUT_MS):
        env = {"RPA_HOME": str(Path(tmp) / "worker"), "RPA_STEP_TIMEOUT_MS": STEP_TIMEOUT_MS,
               "RPA_SECRET_PASSWORD": SANDBOX_PASSWORD, "RPA_SECRET_SANDBOX_PASSWORD": SANDBOX_PASSWORD}
        yield get_settings().ensure(), env


def fault_counts(batch: Any, settings: Settings) -> dict[str, int]:
    """Per job from history: how many succeeded rows (a duplicate is more than one), how many runs
    were re-run after a dead worker, how many were held because the plan is not idempotent."""
    from engine.history import History

    history = History(settings)
    duplicates = rerun = held = ended_once = 0
    for entry in batch.entries:
        rows = history.list_runs(job_id=entry.job_id, limit=50)
        succeeded = sum(1 for r in rows if r.status == "succeeded")
        final = [r for r in rows if r.status not in ("interrupted", "running")]
        duplicates += succeeded > 1
        rerun += sum(1 for r in rows if r.status == "interrupted" and "run again on" in (r.error or ""))
        held += sum(1 for r in rows if r.status == "interrupted" and "not idempotent" in (r.error or ""))
        ended_once += (len(final) == 1) or (not final and any(r.status == "interrupted" for r in rows))
    return {"jobs": len(batch.entries), "succeeded": batch.succeeded, "duplicates": duplicates, "rerun": rerun,
            "held_for_person": held, "ended_exactly_once": ended_once}


def bench_cluster(*, workers: list[int] | None = None, jobs: int = 20, kill_one: bool = False) -> dict[str, Any]:
    from bots.sandbox import start_sandbox
    from engine.bench.loop import recorded_jobs, recordings

    counts = sorted(set(workers or [1, 2]))
    files = recordings()
    result: dict[str, Any] = {"jobs": jobs, "workers": counts, "browsers_per_worker": 1,
                              "recordings": [p.name for p, _ in files]}
    t0 = time.perf_counter()
    tp: dict[str, float] = {}
    with _home() as (settings, env), start_sandbox(port=0) as site:
        for n in counts:
            with LocalCluster(workers=n, env=env) as cl:
                run_batch(recorded_jobs(n, site.url, f"warm{n}", files), cluster=cl.address, settings=settings)
                batch = run_batch(recorded_jobs(jobs, site.url, f"w{n}", files), cluster=cl.address,
                                  settings=settings)
            tp[str(n)] = round(60.0 * batch.succeeded / max(batch.run_seconds, 1e-6), 2)
            result.setdefault("succeeded", {})[str(n)] = batch.succeeded
            # Bot seconds on the workers: a mean that grows with n means the machine, not Dask, is the limit.
            bot_s = [r.seconds for r in batch.runs]
            result.setdefault("mean_bot_seconds", {})[str(n)] = round(sum(bot_s) / max(1, len(bot_s)), 2)
            result.setdefault("worker_busy", {})[str(n)] = round(sum(bot_s) / max(1e-6, n * batch.run_seconds), 2)
            logger.info("bench cluster: {} worker(s): {} of {} in {:.1f}s", n, batch.succeeded, jobs, batch.run_seconds)
        base = tp[str(counts[0])] or 1e-9
        result["throughput_per_min"] = tp
        result["ratio"] = {k: round(v / base, 2) for k, v in tp.items()}
        result["cpu_count"] = os.cpu_count()
        result["load_average_1m"] = round(os.getloadavg()[0], 2)
        if kill_one:
            result["kill_one"] = _kill_one(max(2, counts[-1]), jobs, site.url, files, settings, env)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def _kill_one(n: int, jobs: int, url: str, files: list[Any], settings: Settings, env: dict[str, str]) -> dict[str, Any]:
    from engine.bench.loop import recorded_jobs

    out: dict[str, Any] = {}
    with LocalCluster(workers=n, env=env) as cl:
        run_batch(recorded_jobs(n, url, "killwarm", files), cluster=cl.address, settings=settings)
        box: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: box.update(
            batch=run_batch(recorded_jobs(jobs, url, "kill", files), cluster=cl.address, settings=settings)))
        thread.start()
        killed = cl.kill_busy_worker(min_running_s=0.3)
        thread.join()
    batch = box["batch"]
    out.update(fault_counts(batch, settings))
    out["workers"] = n
    out["killed_run"] = killed[1] if killed else None
    return out
