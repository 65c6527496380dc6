"""Batched serial schedule generation scheme (SGS) in torch.

A population of candidates is decoded at once: ``keys`` is a ``[P, n]`` integer tensor (lower key,
earlier choice). At each of the ``n`` steps every row picks its eligible activity (all predecessors
placed) with the lowest key and starts it at the earliest time its predecessors have finished and its
demands fit the resource profile for its whole duration. The profile is a ``[P, H, R]`` tensor over a
time horizon ``H``; a row whose activity cannot fit inside the horizon is marked invalid, so the
caller may pass a horizon cut at "no better than the incumbent" to save work.

Everything is integer arithmetic, first-index argmin/argmax and cumulative sums, so CPU and CUDA
decode the same keys to the same schedules.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.scheduler.check import objective_value
from engine.scheduler.models import Objective, Problem, Schedule

INF = 2**62
WEIGHT_SCALE = 1000  # weights become integers so objective sums are exact on every device


@dataclass(frozen=True)
class Compiled:
    """A problem as tensors on one device; activity ``i`` is ``problem.activities[i]``."""

    n: int
    dur: torch.Tensor  # [n] long
    dem: torch.Tensor  # [n, R] int16 (int32 for large capacities)
    cap: torch.Tensor  # [R], same dtype
    release: torch.Tensor  # [n] long
    pred: torch.Tensor  # [n, n] bool, pred[j, i]: i must finish before j starts
    weight: torch.Tensor  # [n] long, weight * WEIGHT_SCALE
    deadline: torch.Tensor  # [n] long (INF // 4 when none)
    fixed: torch.Tensor  # [n] long, a start that may not move, or -1
    fixed_order: torch.Tensor  # [m] long: the fixed activities by start time
    horizon: int  # enough for any serial-SGS schedule
    device: torch.device
    quantum: int = 1  # one tensor time step is this many problem time units (long horizons are coarsened)

    @property
    def max_dur(self) -> int:
        return int(self.dur.max().item()) if self.n else 0


MAX_HORIZON = 2048


def compile_problem(problem: Problem, device: torch.device | str = "cpu",
                    fixed: dict[str, int] | None = None, *, max_horizon: int = MAX_HORIZON) -> Compiled:
    """Tensors for ``problem``; resources nobody can overload are dropped (they never bind).

    When the horizon would exceed ``max_horizon`` steps, time is coarsened by a quantum ``q``:
    durations and releases round up to whole quanta, so a coarse schedule scaled by ``q`` stays
    feasible (each activity holds its resources a little longer than it needs)."""
    acts = problem.activities
    idx = problem.index()
    n = len(acts)
    fixed = fixed or {}
    full = max([a.release for a in acts] + [t + acts[idx[k]].duration for k, t in fixed.items()] + [0])
    full += sum(a.duration for a in acts) + 1
    q = max(1, -(-full // max_horizon))
    binding = [r for r in problem.resources
               if sum(a.demands.get(r.id, 0) for a in acts) > r.capacity]
    small = all(r.capacity < 2**15 for r in binding)  # int16 profiles halve the memory traffic
    dtype = torch.int16 if small else torch.int32
    dem = torch.tensor([[a.demands.get(r.id, 0) for r in binding] for a in acts], dtype=dtype)
    dem = dem.reshape(n, len(binding))
    cap = torch.tensor([r.capacity for r in binding], dtype=dtype)
    pred = torch.zeros(n, n, dtype=torch.bool)
    for j, a in enumerate(acts):
        for p in a.predecessors:
            pred[j, idx[p]] = True
    fix = torch.full((n,), -1, dtype=torch.long)
    durations = [-(-a.duration // q) for a in acts]
    for k, t in fixed.items():
        fix[idx[k]] = t // q
        durations[idx[k]] = -(-(t % q + acts[idx[k]].duration) // q)
    dur = torch.tensor(durations, dtype=torch.long)
    release = torch.tensor([-(-a.release // q) for a in acts], dtype=torch.long)
    fixed_order = torch.tensor(sorted((int(j) for j in (fix >= 0).nonzero().flatten()),
                                      key=lambda j: (int(fix[j]), j)), dtype=torch.long)
    fixed_end = int((fix + dur).where(fix >= 0, torch.zeros_like(fix)).max().item()) if n else 0
    horizon = max(fixed_end, int(release.max().item()) if n else 0) + int(dur.sum().item()) + 1
    return Compiled(
        n=n, dur=dur.to(device), dem=dem.to(device), cap=cap.to(device), release=release.to(device),
        pred=pred.to(device),
        weight=torch.tensor([round(a.weight * WEIGHT_SCALE) for a in acts], dtype=torch.long).to(device),
        deadline=torch.tensor([-(-a.deadline // q) if a.deadline is not None else INF // 4 for a in acts],
                              dtype=torch.long).to(device),
        fixed=fix.to(device), fixed_order=fixed_order.to(device), horizon=horizon, device=torch.device(device), quantum=q,
    )


@dataclass
class Decoded:
    start: torch.Tensor  # [P, n] long
    finish: torch.Tensor  # [P, n] long
    order: torch.Tensor  # [P, n] long: the activity placed at each step (a precedence-feasible list)
    valid: torch.Tensor  # [P] bool: every activity fitted inside the horizon

    def rows(self, idx: torch.Tensor) -> Decoded:
        return Decoded(self.start[idx], self.finish[idx], self.order[idx], self.valid[idx])


def decode(c: Compiled, keys: torch.Tensor, *, horizon: int | None = None, backward: bool = False) -> Decoded:
    """Serial SGS over a batch of priority keys ``[P, n]``; ``backward`` schedules the reversed project
    (successors first, no releases, no fixed starts), which forward-backward improvement needs."""
    P, n = keys.shape
    dev = c.device
    H = min(horizon or c.horizon, c.horizon)
    pred = c.pred.t() if backward else c.pred
    succ_i = pred.t().to(torch.int32)  # succ_i[i, j] = 1 when j waits for i
    remaining = pred.sum(1).to(torch.int32).unsqueeze(0).repeat(P, 1)
    keys = keys.to(dev)
    fixed_any = not backward and c.fixed_order.numel() > 0
    R = c.cap.numel()
    free = c.cap.to(c.dem.dtype).view(1, R, 1).repeat(P, 1, H)  # [P, R, H]: R outermost, so rows are contiguous
    start = torch.zeros(P, n, dtype=torch.long, device=dev)
    finish = torch.zeros(P, n, dtype=torch.long, device=dev)
    order = torch.empty(P, n, dtype=torch.long, device=dev)
    placed = torch.zeros(P, n, dtype=torch.bool, device=dev)
    valid = torch.ones(P, dtype=torch.bool, device=dev)
    times = torch.arange(H, device=dev).unsqueeze(0)
    zero_col = torch.zeros(P, 1, dtype=torch.int32, device=dev)
    pad = torch.zeros(P, c.max_dur, dtype=torch.int32, device=dev)
    rows = torch.arange(P, device=dev)
    inf = torch.full_like(keys, INF)
    first = 0
    if fixed_any:  # started activities are placed up front, at their own times
        first = _place_fixed(c, start, finish, order, placed, remaining, free, times, succ_i)
    for step in range(first, n):
        eligible = (remaining == 0) & ~placed
        j = torch.where(eligible, keys, inf).argmin(1)
        order[:, step] = j
        d = c.dur[j]
        est = finish.masked_fill(~pred[j], 0).amax(1)
        if not backward:
            est = torch.maximum(est, c.release[j])
        dem = c.dem[j].unsqueeze(2)  # [P, R, 1]
        end = times + d.unsqueeze(1)
        ok = (times >= est.unsqueeze(1)) & (end <= H)
        if R:
            fits = free[:, 0] >= dem[:, 0]
            for r in range(1, R):
                fits &= free[:, r] >= dem[:, r]
            bad = torch.cat([zero_col, (~fits).to(torch.int32).cumsum(1, dtype=torch.int32), pad], 1)
            ok &= bad.gather(1, end) == bad[:, :H]  # no infeasible step in [t, t + d); pad keeps end in range
        t = ok.to(torch.int8).argmax(1)
        valid &= ok.gather(1, t.unsqueeze(1)).squeeze(1)  # argmax is 0 when no step fits; any() is slower
        start[rows, j] = t
        finish[rows, j] = t + d
        placed[rows, j] = True
        remaining -= succ_i[j]
        if R:
            busy = (times >= t.unsqueeze(1)) & (times < (t + d).unsqueeze(1))
            free -= busy.unsqueeze(1).to(free.dtype) * dem
    return Decoded(start, finish, order, valid)


def _place_fixed(c: Compiled, start: torch.Tensor, finish: torch.Tensor, order: torch.Tensor,
                 placed: torch.Tensor, remaining: torch.Tensor, free: torch.Tensor, times: torch.Tensor,
                 succ_i: torch.Tensor) -> int:
    """Put the fixed activities in every row at once; returns how many there are."""
    fo = c.fixed_order
    fs, fd = c.fixed[fo], c.dur[fo]
    order[:, : fo.numel()] = fo
    start[:, fo] = fs
    finish[:, fo] = fs + fd
    placed[:, fo] = True
    remaining -= succ_i[fo].sum(0, dtype=torch.int32)
    if free.shape[1]:
        busy = (times >= fs.unsqueeze(1)) & (times < (fs + fd).unsqueeze(1))  # [m, H]
        used = (busy.unsqueeze(1).to(torch.int32) * c.dem[fo].unsqueeze(2).to(torch.int32)).sum(0)  # [R, H]
        free -= used.to(free.dtype).unsqueeze(0)
    return int(fo.numel())


def evaluate(c: Compiled, dec: Decoded, objective: Objective) -> torch.Tensor:
    """Objective per row as an exact integer (weighted ones scaled by WEIGHT_SCALE); INF when invalid."""
    if objective == Objective.makespan:
        value = dec.finish.amax(1) if c.n else torch.zeros(dec.valid.shape, dtype=torch.long, device=c.device)
    elif objective == Objective.weighted_completion:
        value = (dec.finish * c.weight).sum(1)
    else:
        value = ((dec.finish - c.deadline).clamp(min=0) * c.weight).sum(1)
    return torch.where(dec.valid, value, torch.full_like(value, INF))


def justify(c: Compiled, dec: Decoded, *, horizon: int | None = None) -> tuple[Decoded, Decoded]:
    """Forward-backward improvement: right-justify in order of decreasing finish, then left-justify in
    order of increasing start of that backward schedule. Returns (backward, forward) decodes."""
    back = decode(c, -dec.finish, horizon=horizon, backward=True)
    fwd = decode(c, -back.finish, horizon=horizon)
    fwd.valid &= dec.valid & back.valid
    return back, fwd


def keys_from_order(order: torch.Tensor) -> torch.Tensor:
    """Position of each activity in a list ``[P, n]`` -> keys that decode the list in that order."""
    pos = torch.empty_like(order)
    pos.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order).contiguous())
    return pos


def to_schedule(problem: Problem, c: Compiled, start: torch.Tensor, *, solver: str, objective: Objective,
                seed: int | None, schedules: int, seconds: float, fixed: dict[str, int] | None = None) -> Schedule:
    """Scale a decoded start row back to problem time units and score it exactly."""
    fixed = fixed or {}
    starts = [int(v) * c.quantum for v in start.tolist()]
    out = {a.id: fixed.get(a.id, s) for a, s in zip(problem.activities, starts)}
    makespan = max((out[a.id] + a.duration for a in problem.activities), default=0)
    return Schedule(start=out, makespan=makespan, objective=objective,
                    value=objective_value(problem, out, objective), solver=solver, seed=seed,
                    schedules=schedules, seconds=round(seconds, 6), device=str(c.device))
