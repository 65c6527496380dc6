"""Evolutionary search over activity lists, decoded a population at a time by the batched SGS.

Generation loop: binary tournaments pick parents, a two-point crossover (Hartmann's, on activity
lists) and an insertion mutation make children, the batched SGS decodes them, forward-backward
improvement (justification) tightens each child, and the best distinct schedules of parents and
children survive. Priority rules give the first incumbent and noisy copies of them the first
population. All random numbers come from one CPU ``torch.Generator`` so a seed gives the same
schedule on every device; a budget in schedules is exact (the last batch is cut to fit).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from loguru import logger

from engine.scheduler import rules
from engine.scheduler.base import Budget, Solver, register
from engine.scheduler.models import Objective, Problem, Schedule
from engine.scheduler.sgs import (INF, Compiled, Decoded, compile_problem, decode, evaluate, justify,
                                  keys_from_order, to_schedule)

DEFAULT_SCHEDULES = 2000
HORIZON_MARGIN = 1.25


@contextmanager
def cpu_threads(device: torch.device, threads: int | None) -> Iterator[None]:
    """Run the search with ``threads`` intra-op CPU threads (``None``: leave torch's setting).

    The decoder's tensors are small (tens of rows), so one thread is as fast as several on an idle
    machine, and on a busy one several threads spin at every op's barrier waiting for a descheduled
    peer: measured 10x slower per decode with 2 threads on 2 loaded cores. torch's setting is
    process-wide, so it is restored afterwards."""
    if device.type != "cpu" or threads is None or threads == torch.get_num_threads():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Population:
    dec: Decoded
    value: torch.Tensor  # [P] long

    def take(self, idx: torch.Tensor) -> Population:
        return Population(self.dec.rows(idx), self.value[idx])

    @staticmethod
    def cat(a: Population, b: Population) -> Population:
        fields = ("start", "finish", "order", "valid")
        d = Decoded(*(torch.cat([getattr(a.dec, f), getattr(b.dec, f)]) for f in fields))
        return Population(d, torch.cat([a.value, b.value]))


class _Run:
    """State of one search: counters, the CPU generator, the incumbent."""

    def __init__(self, c: Compiled, objective: Objective, budget: Budget, seed: int,
                 tiebreak: bool = False) -> None:
        self.c, self.objective, self.budget, self.tiebreak = c, objective, budget, tiebreak
        self.gen = torch.Generator().manual_seed(seed)
        self.count = 0
        self.t0 = time.perf_counter()
        self.horizon = c.horizon
        self.last_generation_s = 0.0
        self.limit = budget.schedules
        if self.limit is None and budget.ms is None:
            self.limit = DEFAULT_SCHEDULES

    def shrink(self, pop: Population) -> None:
        """Cut the decode horizon to a margin above the best makespan: longer schedules are not wanted,
        and decode cost grows with the horizon."""
        best = int(pop.dec.finish.amax(1).masked_fill(~pop.dec.valid, INF).min().item()) if self.c.n else 0
        self.horizon = min(self.horizon, int(best * HORIZON_MARGIN) + self.c.max_dur + 1)

    def left(self) -> int:
        """Schedules still allowed (a large number when only time bounds the run). With a time budget
        it stops when the next generation would overrun by more than half of one."""
        if self.budget.ms is not None:
            remaining = self.budget.ms / 1000 - (time.perf_counter() - self.t0)
            if remaining <= 0 or remaining < 0.5 * self.last_generation_s:
                return 0
        return (self.limit - self.count) if self.limit is not None else 1 << 30

    def ints(self, high: int | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform integers in [0, high) drawn on the CPU, then moved: the same on every device."""
        raw = torch.randint(0, 1 << 40, shape, generator=self.gen)
        return (raw % high if isinstance(high, int) else raw % high.cpu()).to(self.c.device)

    def decode(self, keys: torch.Tensor) -> Population:
        dec = decode(self.c, keys, horizon=self.horizon)
        self.count += keys.shape[0]
        return Population(dec, self.fitness(dec))

    def decode_guessed(self, keys: torch.Tensor, guess: int) -> Population:
        """Decode under a guessed horizon first and again at the full one only the rows that did not
        fit: a row that fits decodes the same under any longer horizon, so the result is unchanged,
        and the per-step cost grows with the horizon (the full one is the sum of all durations)."""
        if guess >= self.horizon:
            return self.decode(keys)
        dec = decode(self.c, keys, horizon=guess)
        bad = (~dec.valid).nonzero().flatten()
        if bad.numel():
            redo = decode(self.c, keys[bad], horizon=self.horizon)
            for f in ("start", "finish", "order", "valid"):
                getattr(dec, f)[bad] = getattr(redo, f)
        self.count += keys.shape[0]
        return Population(dec, self.fitness(dec))

    def fitness(self, dec: Decoded) -> torch.Tensor:
        """The objective; for the makespan, ties go to the schedule whose activities end earlier overall."""
        value = evaluate(self.c, dec, self.objective)
        if not self.tiebreak or self.objective != Objective.makespan:
            return value
        scale = self.c.n * self.c.horizon + 1
        return torch.where(value < INF, value * scale + dec.finish.sum(1), value)

    def improve(self, pop: Population) -> Population:
        """Forward-backward improvement; each row keeps the better of before and after."""
        _, fwd = justify(self.c, pop.dec, horizon=self.horizon)
        self.count += 2 * pop.value.numel()
        value = self.fitness(fwd)
        better = value < pop.value
        pick = lambda a, b: torch.where(better.view(-1, *([1] * (a.dim() - 1))), a, b)  # noqa: E731
        dec = Decoded(pick(fwd.start, pop.dec.start), pick(fwd.finish, pop.dec.finish),
                      pick(fwd.order, pop.dec.order), pick(fwd.valid, pop.dec.valid))
        return Population(dec, torch.minimum(value, pop.value))


def crossover(mother: torch.Tensor, father: torch.Tensor, q1: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
    """Two-point crossover of activity lists ``[B, n]`` as keys: the mother's first ``q1`` positions,
    then the next ``q2 - q1`` activities in the father's order, then the rest in the mother's order."""
    n = mother.shape[1]
    pos_m, pos_f = keys_from_order(mother), keys_from_order(father)
    head = pos_m < q1.unsqueeze(1)  # by activity
    rest_in_f = (~head).gather(1, father)  # by father position
    rank_f = (rest_in_f.long().cumsum(1) - 1).gather(1, pos_f)  # by activity
    middle = ~head & (rank_f < (q2 - q1).unsqueeze(1))
    return torch.where(head, pos_m, torch.where(middle, n + rank_f, 2 * n + pos_m))


def mutate(keys: torch.Tensor, who: torch.Tensor, act: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
    """Move activity ``act`` of rows ``who`` just before list position ``slot`` (the decoder repairs
    any precedence this breaks by taking the activity as soon as it is eligible)."""
    rank = keys.argsort(dim=1, stable=True).argsort(dim=1, stable=True) * 2
    moved = rank.scatter(1, act.unsqueeze(1), (2 * slot - 1).unsqueeze(1))
    return torch.where(who.unsqueeze(1), moved, rank)


@register
class GASolver(Solver):
    """Genetic algorithm on activity lists with forward-backward improvement."""

    name = "ga"

    def __init__(self, *, seed: int = 0, objective: Objective | str = Objective.makespan,
                 population: int | None = None, mutation: float = 0.3, fbi: bool | None = None,
                 patience: int = 12, random_share: float = 0.25, second_move: bool = True,
                 tiebreak: bool = True, tournament: int = 2, threads: int | None = 1,
                 fixed: dict[str, int] | None = None, initial: list[dict[str, int]] | None = None) -> None:
        super().__init__(seed=seed, objective=objective)
        self.population, self.mutation, self.fbi, self.patience = population, mutation, fbi, patience
        self.random_share, self.second_move, self.tiebreak = random_share, second_move, tiebreak
        self.tournament, self.threads = tournament, threads
        self.fixed = fixed or {}
        self.initial = initial or []

    def solve(self, problem: Problem, *, budget: Budget, device: torch.device) -> Schedule:
        with cpu_threads(device, self.threads):
            return self._solve(problem, budget=budget, device=device)

    def _solve(self, problem: Problem, *, budget: Budget, device: torch.device) -> Schedule:
        c = compile_problem(problem, device, fixed=self.fixed)
        if c.n == 0:
            return Schedule(start={}, makespan=0, objective=self.objective, solver=self.name, seed=self.seed,
                            device=str(c.device))
        run = _Run(c, self.objective, budget, self.seed, self.tiebreak)
        pop = self._seed(problem, run)
        size = self._size(budget, c.n)
        pop = self._first_population(problem, run, pop, size)
        generations = stale = 0
        best = int(pop.value.min().item())
        while run.left() > 0 and c.n > 1:
            t = time.perf_counter()
            pop = self._generation(run, pop, size)
            run.last_generation_s = time.perf_counter() - t
            run.shrink(pop)
            generations += 1
            now = int(pop.value.min().item())
            stale = 0 if now < best else stale + 1
            best = min(best, now)
            if stale >= self.patience:
                pop, stale = self._restart(problem, run, pop, size), 0
        best = int(pop.value.argmin().item())
        logger.debug("scheduler.ga: {} generations, {} schedules, best {}", generations, run.count,
                     int(pop.value[best]))
        return to_schedule(problem, c, pop.dec.start[best], solver=self.name, objective=self.objective,
                           seed=self.seed, schedules=run.count, seconds=time.perf_counter() - run.t0,
                           fixed=self.fixed)

    def _size(self, budget: Budget, n: int) -> int:
        if self.population:
            return self.population
        if budget.schedules is None:  # time only: small batches keep a short budget from overrunning
            return 16 if (budget.ms or 0) < 200 else 32
        # measured on PSPLIB at 5,000 schedules: about 80 suits 30 activities, about 40 suits 120
        return int(min(512, max(16, 6.4 * math.sqrt(budget.schedules / max(n, 1)))))

    def _seed(self, problem: Problem, run: _Run) -> Population:
        """Rule schedules (plus any given starting schedules): the instant answer and first incumbent."""
        keys = [rules.RULES[r](problem) for r in ("lft", "minslack", "wspt")]
        idx = problem.index()
        for start in self.initial:
            order = sorted(idx, key=lambda k: (start.get(k, INF), idx[k]))
            keys.append(torch.tensor([order.index(a.id) for a in problem.activities], dtype=torch.long))
        pop = run.decode_guessed(torch.stack(keys).to(run.c.device), _horizon_guess(problem, run.c))
        run.shrink(pop)
        return pop

    def _fresh(self, problem: Problem, run: _Run, count: int) -> Population:
        """``count`` new members: noisy copies of the rules (narrow to wide noise) and, for a quarter,
        uniformly random lists; justified when the objective is the makespan."""
        bases = [rules.lft(problem), rules.min_slack(problem)]
        if self.objective != Objective.makespan:
            bases.append(rules.wspt(problem))
        parts = []
        for k in range(count):
            if self.random_share and k % round(1 / self.random_share) == round(1 / self.random_share) - 1:
                parts.append(torch.randperm(run.c.n, generator=run.gen).unsqueeze(0))
            else:
                spread = 0.05 + 0.5 * k / max(1, count - 1)
                parts.append(rules.sample_keys(bases[k % len(bases)], 1, run.gen, spread))
        fresh = run.decode(torch.cat(parts).to(run.c.device))
        if self._fbi and run.left() >= 2 * count:
            fresh = run.improve(fresh)
        return fresh

    @property
    def _fbi(self) -> bool:
        return self.fbi if self.fbi is not None else self.objective == Objective.makespan

    def _first_population(self, problem: Problem, run: _Run, pop: Population, size: int) -> Population:
        count = min(size, run.left())
        if count <= 0:
            return pop
        return _survivors(Population.cat(self._fresh(problem, run, count), pop), size)

    def _restart(self, problem: Problem, run: _Run, pop: Population, size: int) -> Population:
        """After a long stall, keep the better half and refill the rest with fresh members."""
        keep = pop.take(torch.arange(min(pop.value.numel(), max(1, size // 2)), device=run.c.device))
        count = min(size - keep.value.numel(), run.left())
        if count <= 0:
            return pop
        return _survivors(Population.cat(keep, self._fresh(problem, run, count)), size)

    def _generation(self, run: _Run, pop: Population, size: int) -> Population:
        n = run.c.n
        left = run.left()
        fbi = self._fbi and left >= 3 * 2
        B = max(1, min(size, left // 3 if fbi else left))
        mother = _tournament(run, pop, B, self.tournament)
        father = _tournament(run, pop, B, self.tournament)
        q = run.ints(n + 1, (B, 2)).sort(1).values
        keys = crossover(pop.dec.order[mother], pop.dec.order[father], q[:, 0], q[:, 1])
        # a second move now and then escapes optima of single moves
        for rate in (self.mutation, self.mutation / 2)[: 2 if self.second_move else 1]:
            who = run.ints(1000, (B,)) < int(rate * 1000)
            keys = mutate(keys, who, run.ints(n, (B,)), run.ints(n + 1, (B,)))
        children = run.decode(keys)
        if fbi:
            children = run.improve(children)
        return _survivors(Population.cat(children, pop), size)


def _horizon_guess(problem: Problem, c: Compiled) -> int:
    """Twice a lower bound on the makespan (critical path with releases, started work, the busiest
    resource's total demand over its capacity), in decoder steps: most rule schedules fit in it."""
    if c.n == 0:
        return c.horizon
    _, ef, _, _ = rules.critical_path(problem)
    bound = -(-max(ef) // c.quantum)
    fixed = c.fixed >= 0
    if bool(fixed.any()):
        bound = max(bound, int((c.fixed + c.dur)[fixed].max().item()))
    if c.cap.numel():
        work = (c.dur.unsqueeze(1) * c.dem.long()).sum(0)
        bound = max(bound, int((-(-work // c.cap.long().clamp(min=1))).max().item()))
    return 2 * bound + c.max_dur + 1


def _tournament(run: _Run, pop: Population, count: int, size: int = 2) -> torch.Tensor:
    """Tournament: the best of ``size`` random members (the first drawn on a tie)."""
    P = pop.value.numel()
    pick = run.ints(P, (count,))
    for _ in range(size - 1):
        other = run.ints(P, (count,))
        pick = torch.where(pop.value[other] < pop.value[pick], other, pick)
    return pick


def _survivors(pop: Population, size: int) -> Population:
    """The ``size`` best distinct schedules (identical start vectors count once; earlier rows win ties)."""
    _, inverse = torch.unique(pop.dec.start, dim=0, return_inverse=True)
    rows = torch.arange(inverse.numel(), device=inverse.device)
    first = torch.full((int(inverse.max().item()) + 1,), inverse.numel(), dtype=torch.long,
                       device=inverse.device)
    first = first.scatter_reduce(0, inverse, rows, reduce="amin")
    keep = first.sort().values
    order = pop.value[keep].argsort(stable=True)
    return pop.take(keep[order[:size]])
