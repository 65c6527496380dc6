"""``rpa bench psplib``: our GA, the LFT rule and CP-SAT on PSPLIB instances, in one run.

Deviation per instance is (makespan - reference) / reference with the reference the proven optimum
(j30) or the best known makespan (j60, j90, j120); the set figure is the mean over instances.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from loguru import logger
from pydantic import BaseModel

from engine.errors import SchedulerError
from engine.scheduler import check_feasible, get_solver, solve
from engine.scheduler.base import resolve_device
from engine.scheduler.psplib import instance_key, load_sm, load_solutions

SHARED = Path(__file__).resolve().parents[3] / "shared" / "psplib"
SOLUTION_FILES = {"j30": "j30opt.sm", "j60": "j60hrs.sm", "j90": "j90hrs.sm", "j120": "j120hrs.sm"}


class BenchRow(BaseModel):
    set: str
    solver: str
    instances: int
    reference: str
    mean_pct_above_reference: float
    max_pct_above_reference: float
    optimal_or_best: int
    schedules_per_s: float | None
    seconds: float
    device: str
    budget: str


def find_instances(paths: list[str], limit: int | None) -> list[Path]:
    """``.sm`` files from files and folders, in natural order (j301_2 before j301_10), per set."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(p.glob("*.sm"), key=_natural))
        elif p.is_file():
            files.append(p)
        else:
            raise SchedulerError(f"Bench.psplib: no such file or folder {p}. Give .sm files or folders of them.")
    files = [f for f in files if instance_key(f) is not None]
    if not files:
        raise SchedulerError("Bench.psplib: no PSPLIB instance files (named like j301_1.sm) were found. "
                             "Check the paths.")
    if limit:
        by_set: dict[str, list[Path]] = {}
        for f in files:
            by_set.setdefault(instance_key(f)[0], []).append(f)  # type: ignore[index]
        files = [f for group in by_set.values() for f in _spread(group, limit)]
    return files


def _natural(p: Path) -> tuple:
    key = instance_key(p)
    return key if key else ("", 0, 0)


def _spread(files: list[Path], limit: int) -> list[Path]:
    """``limit`` files evenly spaced over the set (every k-th), so all parameter groups are covered."""
    if len(files) <= limit:
        return files
    step = len(files) / limit
    return [files[int(i * step)] for i in range(limit)]


def references(files: list[Path], solutions: str | None) -> dict[Path, tuple[int, str]]:
    out: dict[Path, tuple[int, str]] = {}
    cache: dict[str, dict[tuple[int, int], int]] = {}
    for f in files:
        name, par, inst = instance_key(f)  # type: ignore[misc]
        src = Path(solutions) if solutions else SHARED / SOLUTION_FILES.get(name, f"{name}hrs.sm")
        if str(src) not in cache:
            cache[str(src)] = load_solutions(src)
        ref = cache[str(src)].get((par, inst))
        if ref is None:
            raise SchedulerError(f"Bench.psplib: no reference makespan for {f.name} in {src}. Pass --solutions FILE.")
        out[f] = (ref, "optimum" if name == "j30" and not solutions else "best known")
    return out


def run_bench(paths: list[str], *, schedules: int = 5000, time_limit: float = 1.0, baselines: list[str],
              device: str | None = "cpu", seeds: int = 1, limit: int | None = None,
              solutions: str | None = None, cpsat_limit: int | None = None) -> list[BenchRow]:
    """One row per (set, solver). The GA runs ``seeds`` seeds with ``schedules`` each (a
    deviation averaged over seeds); CP-SAT gets ``time_limit`` seconds on every core."""
    for base in baselines:
        get_solver(base)  # an unknown name fails before any work
    files = find_instances(paths, limit)
    refs = references(files, solutions)
    dev = resolve_device(device)
    sets: dict[str, list[Path]] = {}
    for f in files:
        sets.setdefault(instance_key(f)[0], []).append(f)  # type: ignore[index]
    rows: list[BenchRow] = []
    for name, group in sets.items():
        problems = [(f, load_sm(f)) for f in group]
        rows.append(_run_solver(name, "ga", problems, refs, dev, seeds=seeds, schedules=schedules))
        for base in baselines:
            chosen = _spread(problems, cpsat_limit) if base == "cpsat" and cpsat_limit else problems
            rows.append(_run_solver(name, base, chosen, refs, dev, seeds=1, schedules=schedules,
                                    time_limit=time_limit))
    return rows


def _run_solver(set_name: str, solver: str, problems: list, refs: dict, dev: object, *, seeds: int,
                schedules: int, time_limit: float | None = None) -> BenchRow:
    pcts: list[float] = []
    hits = 0
    total_schedules = 0
    t0 = time.perf_counter()
    for f, problem in problems:
        ref, _ = refs[f]
        per_seed = []
        for seed in range(seeds):
            if solver == "cpsat":
                s = solve(problem, solver="cpsat", budget_ms=time_limit * 1000, seed=seed)
            else:
                s = solve(problem, solver=solver, budget_schedules=schedules, device=dev, seed=seed)
            check_feasible(problem, s)
            total_schedules += s.schedules
            per_seed.append(100.0 * (s.makespan - ref) / ref)
            hits += s.makespan <= ref
        pcts.append(sum(per_seed) / len(per_seed))
        logger.debug("bench.psplib: {} {} {:.2f}%", f.name, solver, pcts[-1])
    seconds = time.perf_counter() - t0
    budget = (f"{time_limit:g} s/instance, {os.cpu_count()} workers" if solver == "cpsat"
              else f"{schedules} schedules/instance" if solver == "ga" else "1 schedule/instance")
    return BenchRow(set=set_name, solver=solver, instances=len(problems), reference=refs[problems[0][0]][1],
                    mean_pct_above_reference=round(sum(pcts) / len(pcts), 3),
                    max_pct_above_reference=round(max(pcts), 3), optimal_or_best=hits,
                    schedules_per_s=round(total_schedules / seconds, 1) if total_schedules else None,
                    seconds=round(seconds, 3), device="cpu" if solver == "cpsat" else str(dev), budget=budget)
