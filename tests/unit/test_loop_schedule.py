"""Scheduling a batch: the fallback rule is feasible, dispatch never exceeds a capacity."""

from __future__ import annotations

import asyncio

import pytest

from engine.loop.dispatch import ResourcePool, dispatch
from engine.loop.schedule import Activity, make_schedule, serial_sgs


def _usage_ok(acts: list[Activity], start: dict[str, float], cap: dict[str, int]) -> bool:
    points = sorted(start.values())
    for t in points:
        for r, c in cap.items():
            used = sum(a.demands.get(r, 0) for a in acts if start[a.id] <= t < start[a.id] + a.duration)
            if used > c:
                return False
    return True


def test_serial_sgs_respects_capacities() -> None:
    acts = [Activity(id=f"j{i}", duration=1.0 + i % 3, demands={"browser": 1, "site:a": 1 if i % 2 else 0})
            for i in range(8)]
    acts.append(Activity(id="acct", duration=2.0, demands={"browser": 1, "account": 1}))
    acts.append(Activity(id="acct2", duration=2.0, demands={"browser": 1, "account": 1}))
    cap = {"browser": 3, "site:a": 1, "account": 1}
    sched = serial_sgs(acts, cap)
    assert set(sched.start) == {a.id for a in acts}
    assert _usage_ok(acts, sched.start, cap)
    assert sched.order()[0] in {a.id for a in acts}


def test_weight_moves_a_job_forward() -> None:
    acts = [Activity(id="a", duration=2.0, demands={"browser": 1}),
            Activity(id="b", duration=2.0, demands={"browser": 1}, weight=5.0)]
    assert serial_sgs(acts, {"browser": 1}).order() == ["b", "a"]


def test_broken_solver_falls_back() -> None:
    def solve(*_a, **_k):
        raise RuntimeError("boom")

    acts = [Activity(id="a", duration=1.0, demands={"browser": 1})]
    assert make_schedule(acts, {"browser": 1}, solve).solver == "sgs-wspt"


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


@pytest.mark.parametrize("n", [0])
def test_empty_schedule(n: int) -> None:
    assert make_schedule([], {"browser": 1}, None).solver == "none"
