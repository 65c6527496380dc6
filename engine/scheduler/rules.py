"""Priority rules: latest finish time (LFT), minimum slack, weighted shortest processing time (WSPT).

Each rule turns the critical-path figures into integer keys (lower = scheduled earlier); decoding the
keys with the serial SGS gives an instant schedule, and noisy copies of them seed the GA population.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from engine.scheduler.base import Budget, Solver, register
from engine.scheduler.models import Problem, Schedule
from engine.scheduler.sgs import compile_problem, decode, to_schedule


def critical_path(problem: Problem) -> tuple[list[int], list[int], list[int], list[int]]:
    """Earliest start, earliest finish, latest start, latest finish ignoring resources (releases kept)."""
    acts = problem.activities
    idx = problem.index()
    order = topological(problem)
    es = [0] * len(acts)
    for j in order:
        a = acts[j]
        es[j] = max([a.release] + [es[idx[p]] + acts[idx[p]].duration for p in a.predecessors])
    ef = [es[j] + acts[j].duration for j in range(len(acts))]
    horizon = max(ef, default=0)
    succs: list[list[int]] = [[] for _ in acts]
    for j, a in enumerate(acts):
        for p in a.predecessors:
            succs[idx[p]].append(j)
    lf = [horizon] * len(acts)
    for j in reversed(order):
        lf[j] = min([horizon] + [lf[s] - acts[s].duration for s in succs[j]])
    ls = [lf[j] - acts[j].duration for j in range(len(acts))]
    return es, ef, ls, lf


def topological(problem: Problem) -> list[int]:
    """Activity indices in a precedence-feasible order (the problem is known to be acyclic)."""
    idx = problem.index()
    indeg = [len(set(a.predecessors)) for a in problem.activities]
    succs: list[list[int]] = [[] for _ in problem.activities]
    for j, a in enumerate(problem.activities):
        for p in set(a.predecessors):
            succs[idx[p]].append(j)
    ready = [j for j, d in enumerate(indeg) if d == 0]
    out: list[int] = []
    while ready:
        j = ready.pop(0)
        out.append(j)
        for s in succs[j]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    return out


def _rank(values: list[float]) -> torch.Tensor:
    """Integer keys: the rank of each value, ties by activity index."""
    order = sorted(range(len(values)), key=lambda j: (values[j], j))
    keys = torch.empty(len(values), dtype=torch.long)
    keys[torch.tensor(order, dtype=torch.long)] = torch.arange(len(values))
    return keys


def lft(problem: Problem) -> torch.Tensor:
    _, _, _, lf = critical_path(problem)
    return _rank([float(v) for v in lf])


def min_slack(problem: Problem) -> torch.Tensor:
    es, _, ls, lf = critical_path(problem)
    return _rank([(ls[j] - es[j]) + lf[j] / (max(lf, default=0) + 1) for j in range(len(es))])


def wspt(problem: Problem) -> torch.Tensor:
    """Highest weight per unit of duration first; zero-duration work goes first."""
    _, _, _, lf = critical_path(problem)
    return _rank([-(a.weight / a.duration) if a.duration else -1e18 + lf[j]
                  for j, a in enumerate(problem.activities)])


RULES: dict[str, Callable[[Problem], torch.Tensor]] = {"lft": lft, "minslack": min_slack, "wspt": wspt}


def sample_keys(base: torch.Tensor, count: int, generator: torch.Generator, spread: float) -> torch.Tensor:
    """``count`` noisy copies of rule keys ``[n]`` (biased random sampling), drawn on the CPU.

    Each key moves by up to ``spread * n`` ranks at random; ties are broken by the base rank."""
    n = base.numel()
    if count <= 0:
        return torch.empty(0, n, dtype=torch.long)
    noise = torch.randint(0, max(1, int(spread * n)) + 1, (count, n), generator=generator)
    mixed = (base.unsqueeze(0) + noise) * (n + 1) + base.unsqueeze(0)
    return mixed.argsort(dim=1, stable=True).argsort(dim=1, stable=True)


class RuleSolver(Solver):
    """A priority rule decoded once by the serial SGS: the instant answer."""

    def solve(self, problem: Problem, *, budget: Budget, device: torch.device) -> Schedule:
        t0 = time.perf_counter()
        c = compile_problem(problem, device)
        dec = decode(c, RULES[self.name](problem).unsqueeze(0).to(device))
        return to_schedule(problem, c, dec.start[0], solver=self.name, objective=self.objective, seed=None,
                           schedules=1, seconds=time.perf_counter() - t0)


@register
class LftSolver(RuleSolver):
    name = "lft"


@register
class MinSlackSolver(RuleSolver):
    name = "minslack"


@register
class WsptSolver(RuleSolver):
    name = "wspt"
