"""``rpa bench loop``: the engine loop against an in-process sandbox, in one run.

1. Throughput of the shipped recordings at each concurrency (jobs per minute, ratio to 1 bot).
2. ``flaky > 0``: the same jobs on a flaky sandbox; success rate through retries, duplicates.
3. ``drift``: the recordings on the drifted sandbox; share of jobs that finish (by repair).
4. Instructions planned twice: LLM calls and planning time of the first and the second run.
Everything runs in a temporary ``RPA_HOME`` so the user's history is left alone.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loguru import logger

from engine.config import Settings, env_overrides, get_settings
from engine.errors import ConfigError
from engine.loop import JobSpec, LoopDeps, run_batch
from engine.loop.models import BatchOutcome, EntryStatus
from engine.plan import Plan, load_plan

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "recordings"
BENCH_SECRETS = {"password": "wonderland", "sandbox_password": "wonderland"}
NOT_BENCH = ("overhead",)
# Instructions for the planning half; "{url}" is the sandbox's address.
INSTRUCTIONS = (
    "Log in as alice",
    "Open the invoices page",
)
BENCH_STEP_TIMEOUT_MS = 4000  # a missing element on the drifted site should fail fast


def recordings(directory: Path = RECORDINGS) -> list[tuple[Path, Plan]]:
    out = []
    for path in sorted(directory.glob("*.yaml")):
        if ".v" in path.stem or any(s in path.name for s in NOT_BENCH):
            continue
        out.append((path, load_plan(path)))
    if not out:
        raise ConfigError(f"Bench.loop: no recordings in {directory}. Restore the repository's recordings/.")
    return out


def _params(plan: Plan, url: str) -> dict[str, str]:
    return {name: url for name in plan.params if name in ("base_url", "url", "sandbox_url")}


def recorded_jobs(n: int, url: str, tag: str, files: list[tuple[Path, Plan]], copy_dir: Path | None = None) -> list[JobSpec]:
    """``n`` jobs cycling over the recordings; ``copy_dir`` gets copies so repairs never touch the repo."""
    jobs = []
    for i in range(n):
        path, plan = files[i % len(files)]
        source = path
        if copy_dir is not None:
            source = copy_dir / path.name
            if not source.exists():
                source.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        jobs.append(JobSpec(plan=plan, plan_path=str(source), params=_params(plan, url), job_id=f"{tag}-{i + 1:03d}"))
    return jobs


@contextmanager
def _bench_home(settings: Settings) -> Iterator[Settings]:
    """A temporary RPA_HOME; model weights stay in the user's cache directory."""
    with tempfile.TemporaryDirectory(prefix="rpa-bench-loop-") as tmp, \
            env_overrides(RPA_CACHE_DIR=str(settings.cache_dir), RPA_HOME=tmp,
                          RPA_STEP_TIMEOUT_MS=str(BENCH_STEP_TIMEOUT_MS)):
        yield get_settings().ensure()


def _duplicates(deps: LoopDeps, batch: BatchOutcome) -> int:
    """Jobs with more than one succeeded run in history (must be zero)."""
    done = Counter()
    for entry in batch.entries:
        for rec in deps.history.list_runs(job_id=entry.job_id, limit=50):
            if rec.status == "succeeded":
                done[entry.job_id] += 1
    return sum(1 for n in done.values() if n > 1)


def _throughput(batch: BatchOutcome) -> float:
    return 60.0 * batch.succeeded / max(batch.run_seconds, 1e-6)


def bench_loop(*, jobs: int = 20, concurrency: list[int] | None = None, flaky: float = 0.0, drift: bool = False,
               instructions: bool = True, settings: Settings | None = None) -> dict[str, Any]:
    from bots.sandbox import start_sandbox

    levels = sorted(set(concurrency or [1, 2, 4]))
    top = max(levels)
    result: dict[str, Any] = {"jobs": jobs, "concurrency": levels, "step_timeout_ms": BENCH_STEP_TIMEOUT_MS}
    t_start = time.perf_counter()
    files = recordings()
    with _bench_home(settings or get_settings()) as bench_settings:
        deps = LoopDeps.default(bench_settings, secrets=BENCH_SECRETS)
        copies = bench_settings.home / "recordings"
        copies.mkdir(parents=True, exist_ok=True)
        tp: dict[str, float] = {}
        success: list[float] = []
        with start_sandbox(port=0) as site:
            for c in levels:
                batch = run_batch(recorded_jobs(jobs, site.url, f"c{c}", files), concurrency=c, deps=deps)
                tp[str(c)] = round(_throughput(batch), 2)
                success.append(batch.succeeded / max(1, len(batch.entries)))
                logger.info("bench loop: concurrency {}: {} of {} in {:.1f}s", c, batch.succeeded, jobs, batch.seconds)
        base = tp.get(str(levels[0])) or 1e-9
        result["throughput_per_min"] = tp
        result["ratio_to_sequential"] = {k: round(v / base, 2) for k, v in tp.items()}
        result["success_rate_clean"] = round(min(success), 4) if success else None
        result["retries"] = 0
        result["success_rate"] = result["success_rate_clean"]
        if flaky > 0:
            with start_sandbox(port=0, flaky=flaky, seed=7) as site:
                batch = run_batch(recorded_jobs(jobs, site.url, "flaky", files), concurrency=top, deps=deps)
            result["flaky"] = flaky
            result["success_rate"] = round(batch.succeeded / max(1, len(batch.entries)), 4)
            result["retries"] = batch.retries
            result["duplicates"] = _duplicates(deps, batch)
            result["flaky_failures"] = [e.error for e in batch.entries if not e.ok][:5]
        if drift:
            with start_sandbox(port=0, drift=True) as site:
                batch = run_batch(recorded_jobs(jobs, site.url, "drift", files, copies), concurrency=top, deps=deps)
            finished = [e for e in batch.entries if e.ok]
            result["repaired_rate"] = round(len(finished) / max(1, len(batch.entries)), 4)
            result["jobs_repaired"] = sum(1 for e in batch.entries if e.status is EntryStatus.repaired)
            result["drift_failures"] = [e.error for e in batch.entries if not e.ok][:5]
            result["repaired_files"] = sorted({Path(e.repaired_path).name for e in batch.entries if e.repaired_path})
            result["repair_llm_calls"] = batch.llm_calls
        else:
            result["repaired_rate"] = None
        if instructions:
            result.update(_planning(deps))
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    return result


def _planning(deps: LoopDeps) -> dict[str, Any]:
    from bots.sandbox import start_sandbox

    planner = deps.planner_factory()  # load the model before timing: the same in both runs
    if planner is None:
        return {"llm_calls_first": None, "llm_calls_second": None, "planning_error": "no planner installed"}
    with start_sandbox(port=0) as site:
        specs = [JobSpec(instruction=text, url=site.url + "/", job_id=f"plan{run}-{i}")
                 for run in (1, 2) for i, text in enumerate(INSTRUCTIONS)]
        first = run_batch(specs[: len(INSTRUCTIONS)], concurrency=2, deps=deps)
        second = run_batch(specs[len(INSTRUCTIONS):], concurrency=2, deps=deps)
    return {
        "llm_calls_first": first.llm_calls,
        "llm_calls_second": second.llm_calls,
        "planning_s_first": round(first.planning_seconds, 4),
        "planning_s_second": round(second.planning_seconds, 4),
        "planning_speedup": round(first.planning_seconds / max(second.planning_seconds, 1e-6), 1),
        "instructions_succeeded_first": first.succeeded,
        "instructions_succeeded_second": second.succeeded,
        "instruction_failures": [e.error for e in first.entries + second.entries if not e.ok][:4],
    }
