"""Scheduling a batch: the fallback rule is feasible, dispatch never exceeds a capacity."""

from __future__ import annotations

import asyncio

from engine.loop.dispatch import ResourcePool, dispatch
from engine.loop.schedule import JobWork, problem_of, schedule_batch
from engine.scheduler import check_feasible


def test_batch_schedule_respects_capacities() -> None:
    work = [JobWork(id=f"j{i}", seconds=1.0 + i % 3, demands={"browser": 1, "site:a": 1 if i % 2 else 0})
            for i in range(8)]
    work += [JobWork(id="acct", seconds=2.0, demands={"browser": 1, "account": 1}),
             JobWork(id="acct2", seconds=2.0, demands={"browser": 1, "account": 1})]
    cap = {"browser": 3, "site:a": 1, "account": 1}
    sched = schedule_batch(work, cap)
    assert sched.solver == "ga" and set(sched.order()) == {w.id for w in work}
    check_feasible(problem_of(work, cap), sched.schedule)  # raises on any violation
    assert sched.makespan_s > 0


def test_weight_moves_a_job_forward() -> None:
    work = [JobWork(id="a", seconds=2.0, demands={"browser": 1}),
            JobWork(id="b", seconds=2.0, demands={"browser": 1}, weight=5.0)]
    assert schedule_batch(work, {"browser": 1}).order() == ["b", "a"]


def test_an_unknown_solver_falls_back_to_the_rule() -> None:
    work = [JobWork(id="a", seconds=1.0, demands={"browser": 1}), JobWork(id="b", seconds=1.0, demands={"browser": 1})]
    assert schedule_batch(work, {"browser": 1}, solver="no-such-solver").solver == "wspt"


async def test_dispatch_never_exceeds_capacity() -> None:
    demands = {f"j{i}": {"browser": 1, "account": 1 if i < 3 else 0} for i in range(10)}
    live: dict[str, int] = {"browser": 0, "account": 0}
    seen = {"browser": 0, "account": 0}
    done: list[str] = []

    async def work(key: str) -> None:
        for r, q in demands[key].items():
            live[r] += q
            seen[r] = max(seen[r], live[r])
        await asyncio.sleep(0.01)
        for r, q in demands[key].items():
            live[r] -= q
        done.append(key)

    peak = await dispatch(list(demands), demands, {"browser": 3, "account": 1}, 3, work)
    assert sorted(done) == sorted(demands)
    assert seen["browser"] <= 3 and seen["account"] <= 1
    assert peak["browser"] == 3


def test_unfit_demand_is_named() -> None:
    pool = ResourcePool({"browser": 2})
    assert pool.fits_at_all({"browser": 1, "gpu": 1}) == "gpu"
    assert pool.fits_at_all({"browser": 2}) is None


def test_empty_schedule() -> None:
    assert schedule_batch([], {"browser": 1}).solver == "none"
