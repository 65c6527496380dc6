"""Hand jobs to bots in the scheduler's order without ever exceeding a resource's capacity.

Workers take the first job (in schedule order) whose demands fit the free capacity now; a job
that does not fit waits while later ones that fit go first (list scheduling).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


class ResourcePool:
    def __init__(self, capacity: dict[str, int]) -> None:
        self.capacity = dict(capacity)
        self.free = dict(capacity)
        self.peak: dict[str, int] = {r: 0 for r in capacity}
        self._cond = asyncio.Condition()

    def fits_at_all(self, demand: dict[str, int]) -> str | None:
        """The first resource this demand can never get, or None."""
        for name, qty in demand.items():
            if qty > self.capacity.get(name, 0):
                return name
        return None

    def _fits_now(self, demand: dict[str, int]) -> bool:
        return all(self.free.get(r, 0) >= q for r, q in demand.items())

    async def take_first(self, queue: list[K], demands: dict[K, dict[str, int]]) -> K | None:
        """Remove and return the first queued key whose demand fits; None when the queue is empty."""
        async with self._cond:
            while True:
                if not queue:
                    return None
                for i, key in enumerate(queue):
                    if self._fits_now(demands[key]):
                        del queue[i]
                        for r, q in demands[key].items():
                            self.free[r] -= q
                            self.peak[r] = max(self.peak.get(r, 0), self.capacity[r] - self.free[r])
                        return key
                await self._cond.wait()

    async def release(self, demand: dict[str, int]) -> None:
        async with self._cond:
            for r, q in demand.items():
                self.free[r] += q
            self._cond.notify_all()


async def dispatch(order: Sequence[K], demands: dict[K, dict[str, int]], capacity: dict[str, int],
                   workers: int, work: Callable[[K], Awaitable[None]]) -> dict[str, int]:
    """Run ``work(key)`` for every key with ``workers`` concurrent workers; returns peak usage."""
    pool = ResourcePool(capacity)
    queue = list(order)

    async def worker() -> None:
        while (key := await pool.take_first(queue, demands)) is not None:
            try:
                await work(key)
            finally:
                await pool.release(demands[key])

    await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    return pool.peak
