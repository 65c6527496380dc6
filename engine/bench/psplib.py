"""``rpa bench psplib``: our GA, the LFT rule and CP-SAT on PSPLIB instances, in one run.

Deviation per instance is (makespan - reference) / reference with the reference the proven optimum
(j30) or the best known makespan (j60, j90, j120); the set figure is the mean over instances.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import torch
from loguru import logger
from pydantic import BaseModel

from engine.errors import SchedulerError
from engine.scheduler import (JobActivity, Objective, Problem, Schedule, check_feasible, from_jobs, get_solver,
                              objective_value, reoptimize, solve, violations)
from engine.scheduler.base import resolve_device
from engine.scheduler.psplib import instance_key, load_sm, load_solutions
from engine.scheduler.sgs import compile_problem, decode

SHARED = Path(__file__).resolve().parents[3] / "shared" / "psplib"
SOLUTION_FILES = {"j30": "j30opt.sm", "j60": "j60hrs.sm", "j90": "j90hrs.sm", "j120": "j120hrs.sm"}


class BenchRow(BaseModel):
    set: str
    solver: str
    instances: int
    reference: str
    mean_pct_above_reference: float
    max_pct_above_reference: float
    optimal_or_best: int  # instances at (or below) the reference makespan, counted per seed
    schedules_per_s: float | None
    seconds: float  # wall time of the whole row
    seconds_per_instance: float  # wall time per instance and seed
    cpu_seconds: float  # process CPU time of the row (all threads): the cost on a shared machine
    device: str
    cores: int  # CPU threads the solver may use (GA: torch intra-op threads; CP-SAT: workers)
    seeds: int
    budget: str
    deterministic: bool | None = None  # GA: a second run of the same seed gave the same schedules
    determinism_checked: int = 0  # instances solved twice for that check


class OnlineResult(BaseModel):
    """Re-optimization of a running batch after one running job turns out to take twice as long."""

    pending_jobs: int
    running_jobs: int
    budget_ms: float
    trials: int
    mean_ms: float  # wall time of the whole ``reoptimize`` call, setup included
    max_ms: float
    feasible: bool
    mean_schedules: float
    mean_pct_better_than_current: float  # weighted completion, vs carrying on with the current order
    device: str


class BenchReport(BaseModel):
    results: list[BenchRow]
    online: OnlineResult | None = None
    cpu_count: int
    load_average: tuple[float, float, float]  # at the end: other work on the machine skews seconds


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
              solutions: str | None = None, cpsat_limit: int | None = None,
              time_limits: list[float] | None = None, determinism: int = 2,
              ga_time_limit: float | None = None) -> list[BenchRow]:
    """One row per (set, solver). The GA runs ``seeds`` seeds with ``schedules`` each (a
    deviation averaged over seeds) and solves the first ``determinism`` instances again to check
    that a seed gives the same schedule; CP-SAT gets each of ``time_limits`` (default
    ``[time_limit]``) seconds per instance on every core, one row each. With ``ga_time_limit`` the
    GA gets that many seconds per instance instead of a schedule count (no longer deterministic)."""
    for base in baselines:
        get_solver(base)  # an unknown name fails before any work
    limits = time_limits or [time_limit]
    files = find_instances(paths, limit)
    refs = references(files, solutions)
    dev = resolve_device(device)
    sets: dict[str, list[Path]] = {}
    for f in files:
        sets.setdefault(instance_key(f)[0], []).append(f)  # type: ignore[index]
    rows: list[BenchRow] = []
    for name, group in sets.items():
        problems = [(f, load_sm(f)) for f in group]
        rows.append(_run_solver(name, "ga", problems, refs, dev, seeds=seeds, schedules=schedules,
                                time_limit=ga_time_limit, determinism=0 if ga_time_limit else determinism))
        for base in baselines:
            chosen = _spread(problems, cpsat_limit) if base == "cpsat" and cpsat_limit else problems
            for limit_s in limits if base == "cpsat" else [time_limit]:
                rows.append(_run_solver(name, base, chosen, refs, dev, seeds=1, schedules=schedules,
                                        time_limit=limit_s))
    return rows


def _solve_one(problem: Problem, solver: str, dev: torch.device, seed: int, schedules: int,
               time_limit: float | None) -> Schedule:
    if solver == "cpsat":
        return solve(problem, solver="cpsat", budget_ms=(time_limit or 1.0) * 1000, seed=seed)
    if solver == "ga" and time_limit:
        return solve(problem, budget_ms=time_limit * 1000, device=dev, seed=seed)
    return solve(problem, solver=solver, budget_schedules=schedules, device=dev, seed=seed)


def _run_solver(set_name: str, solver: str, problems: list, refs: dict, dev: torch.device, *, seeds: int,
                schedules: int, time_limit: float | None = None, determinism: int = 0) -> BenchRow:
    pcts: list[float] = []
    hits = 0
    total_schedules = 0
    first: dict[tuple[int, int], dict[str, int]] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for i, (f, problem) in enumerate(problems):
        ref, _ = refs[f]
        per_seed = []
        for seed in range(seeds):
            s = _solve_one(problem, solver, dev, seed, schedules, time_limit)
            check_feasible(problem, s)
            if i < determinism:
                first[(i, seed)] = s.start
            total_schedules += s.schedules
            per_seed.append(100.0 * (s.makespan - ref) / ref)
            hits += s.makespan <= ref
        pcts.append(sum(per_seed) / len(per_seed))
        logger.debug("bench.psplib: {} {} {:.2f}%", f.name, solver, pcts[-1])
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    same = None
    if first:  # outside the timed part: solve again with the same seeds
        same = all(_solve_one(problems[i][1], solver, dev, seed, schedules, time_limit).start == start
                   for (i, seed), start in first.items())
    cpsat = solver == "cpsat"
    workers = os.cpu_count() or 1
    budget = (f"{time_limit:g} s/instance, {workers} workers" if cpsat
              else (f"{time_limit:g} s/instance" if time_limit else f"{schedules} schedules/instance")
              if solver == "ga" else "1 schedule/instance")
    runs = len(problems) * seeds
    return BenchRow(set=set_name, solver=solver, instances=len(problems), reference=refs[problems[0][0]][1],
                    mean_pct_above_reference=round(sum(pcts) / len(pcts), 3),
                    max_pct_above_reference=round(max(pcts), 3), optimal_or_best=hits,
                    schedules_per_s=round(total_schedules / seconds, 1) if total_schedules else None,
                    seconds=round(seconds, 3), seconds_per_instance=round(seconds / runs, 4),
                    cpu_seconds=round(cpu, 3), device="cpu" if cpsat else str(dev),
                    cores=workers if cpsat else (1 if dev.type == "cpu" else 0), seeds=seeds, budget=budget,
                    deterministic=same, determinism_checked=len({i for i, _ in first}))


def online_bench(*, pending: int = 50, slots: int = 4, budget_ms: float = 30, trials: int = 10,
                 device: str | None = "cpu") -> OnlineResult:
    """``pending + slots`` random jobs on ``slots`` browser slots (3 sites, one capped at 2, an account
    with one licence, a few dependencies); at time 1 the first ``slots`` run and ``pending`` wait. One
    running job then takes twice as long and ``reoptimize`` gets ``budget_ms``. Each trial is a
    different random batch (seed = trial)."""
    dev = resolve_device(device)
    times, gains, counts = [], [], []
    running_jobs = feasible = 0
    for trial in range(trials):
        jobs = _random_jobs(pending + slots, seed=trial)
        problem = from_jobs(jobs, {"account": 1}, slots=slots, site_caps={"a.test": 2})
        current = solve(problem, budget_schedules=300, objective=Objective.weighted_completion, seed=trial)
        now = min((s for s in current.start.values() if s > 0), default=1)  # the first jobs are running
        started = [k for k, s in current.start.items() if s < now]
        late = started[0]
        acts = [a.model_copy(update={"duration": a.duration * 2}) if a.id == late else a
                for a in problem.activities]
        changed = problem.model_copy(update={"activities": acts})
        carry_on = _carry_on(changed, current, now)
        t = time.perf_counter()
        again = reoptimize(changed, current, now, budget_ms=budget_ms, seed=trial, device=dev)
        times.append(1000 * (time.perf_counter() - t))
        feasible += not violations(changed, again)
        running_jobs = len(started)
        counts.append(again.schedules)
        base = objective_value(changed, carry_on, Objective.weighted_completion)
        gains.append(100.0 * (base - (again.value or 0)) / base if base else 0.0)
    return OnlineResult(pending_jobs=pending + slots - running_jobs, running_jobs=running_jobs,
                        budget_ms=budget_ms, trials=trials, mean_ms=round(sum(times) / trials, 2),
                        max_ms=round(max(times), 2), feasible=feasible == trials,
                        mean_schedules=round(sum(counts) / trials, 1),
                        mean_pct_better_than_current=round(sum(gains) / trials, 3), device=str(dev))


def _random_jobs(n: int, seed: int) -> list[JobActivity]:
    rng = random.Random(seed)
    jobs = []
    for i in range(n):
        deps = [f"j{k}" for k in range(max(0, i - 5), i) if rng.random() < 0.1]
        extra = {"account": 1} if rng.random() < 0.2 else {}
        jobs.append(JobActivity(id=f"j{i}", duration_s=round(rng.uniform(0.5, 8.0), 2), depends_on=deps,
                                weight=rng.choice([1.0, 2.0, 5.0]), resources=extra,
                                site=rng.choice(["a.test", "b.test", "c.test"])))
    return jobs


def _carry_on(problem: Problem, current: Schedule, now: int) -> dict[str, int]:
    """The current order replayed on the changed problem (started jobs keep their starts, the rest
    no earlier than ``now``): what happens without re-optimizing."""
    started = {k: s for k, s in current.start.items() if s < now}
    shifted = problem.model_copy(update={"activities": [
        a if a.id in started else a.model_copy(update={"release": max(a.release, now)})
        for a in problem.activities]})
    c = compile_problem(shifted, "cpu", fixed=started)
    idx = shifted.index()
    order = sorted(idx, key=lambda k: (current.start.get(k, 1 << 62), idx[k]))
    pos = {k: i for i, k in enumerate(order)}
    dec = decode(c, torch.tensor([[pos[a.id] for a in shifted.activities]]))
    return {a.id: started.get(a.id, int(v) * c.quantum) for a, v in zip(shifted.activities, dec.start[0].tolist())}
