"""Random small instances and a brute-force optimum, shared by the scheduler tests."""

from __future__ import annotations

import itertools
import random

from engine.scheduler import Activity, Objective, Problem, Resource, objective_value


def random_problem(seed: int, n: int = 6, resources: int = 2, *, releases: bool = False,
                   deadlines: bool = False) -> Problem:
    rng = random.Random(seed)
    caps = [rng.randint(2, 5) for _ in range(resources)]
    acts = []
    for j in range(n):
        preds = [f"a{i}" for i in range(j) if rng.random() < 0.25]
        demands = {f"r{k}": rng.randint(0, caps[k]) for k in range(resources) if rng.random() < 0.8}
        acts.append(Activity(id=f"a{j}", duration=rng.randint(0, 6), predecessors=preds, demands=demands,
                             weight=rng.choice([1.0, 2.0, 0.5, 3.0]),
                             release=rng.randint(0, 5) if releases else 0,
                             deadline=rng.randint(3, 15) if deadlines else None))
    return Problem(activities=acts, resources=[Resource(id=f"r{k}", capacity=c) for k, c in enumerate(caps)])


def serial_sgs(problem: Problem, order: list[str]) -> dict[str, int]:
    """Plain-Python serial SGS: each activity at the earliest time its predecessors are done, its
    release has passed and its demands fit for its whole duration."""
    acts = {a.id: a for a in problem.activities}
    caps = problem.capacity()
    start: dict[str, int] = {}
    usage: dict[int, dict[str, int]] = {}
    for k in order:
        a = acts[k]
        t = max([a.release] + [start[p] + acts[p].duration for p in a.predecessors])
        while not all(usage.get(u, {}).get(r, 0) + q <= caps[r]
                      for u in range(t, t + a.duration) for r, q in a.demands.items()):
            t += 1
        start[k] = t
        for u in range(t, t + a.duration):
            slot = usage.setdefault(u, {})
            for r, q in a.demands.items():
                slot[r] = slot.get(r, 0) + q
    return start


def feasible_orders(problem: Problem):
    acts = {a.id: a for a in problem.activities}
    for perm in itertools.permutations(acts):
        pos = {k: i for i, k in enumerate(perm)}
        if all(pos[p] < pos[k] for k in perm for p in acts[k].predecessors):
            yield list(perm)


def brute_force(problem: Problem, objective: Objective = Objective.makespan) -> float:
    """The optimum of a regular objective: some active schedule is optimal, and the serial SGS over
    all precedence-feasible lists generates every active schedule."""
    return min(objective_value(problem, serial_sgs(problem, order), objective)
               for order in feasible_orders(problem))
