"""The planner: an instruction becomes a plan by doing it once, step by step, on a live page.

``Planner.act(session, instruction, url=...)`` runs the agent (``engine.planner.agent``) on a bot
session the loop lends it; it never launches a browser. A confirmed plan is stored
(``remember``), so the same instruction on the same page replays it with zero model calls
(``cached``); a stored plan that fails is dropped (``invalidate``). ``repair`` proposes a new
target for a step whose page changed. Decisions are serialized: one model, one lock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger

from bots.observe import Observation
from engine.config import Settings
from engine.plan import Plan
from engine.planner.agent import Agent, build_plan, plan_name
from engine.planner.cache import CacheKey, PlanCache
from engine.planner.inference import Ranked
from engine.planner.models import PlanningResult

if TYPE_CHECKING:
    from bots.runner import Session

__all__ = ["Backend", "Planner", "build_plan", "plan_name"]


class Backend(Protocol):
    kind: str
    name: str
    calls: int

    def rank(self, messages: list[dict[str, str]], answers: list[str], *, sample: bool = False,
             seed: int | None = None, temperature: float = 1.0) -> Ranked: ...

    def count_tokens(self, text: str) -> int: ...


class Planner:
    """One per process per backend (``get_planner``)."""

    def __init__(self, settings: Settings, backend: Backend, cache: PlanCache) -> None:
        self.settings = settings
        self.backend = backend
        self.cache = cache
        self.model_name = backend.name
        self._lock = threading.Lock()  # the backend is not thread-safe: planning and repairs share it

    @property
    def llm_calls(self) -> int:
        return self.backend.calls

    def rank_sync(self, messages: list[dict[str, str]], answers: list[str], **kw: Any) -> Ranked:
        """One model decision, one at a time."""
        with self._lock:
            return self.backend.rank(messages, answers, **kw)

    async def rank(self, messages: list[dict[str, str]], answers: list[str], **kw: Any) -> Ranked:
        """One model decision, off the event loop."""
        return await asyncio.to_thread(self.rank_sync, messages, answers, **kw)

    async def act(self, session: Session, instruction: str, *, url: str | None, params: dict[str, str] | None = None,
                  max_steps: int | None = None, done_when: Callable[[], Awaitable[bool]] | None = None,
                  sample: bool = False, seed: int | None = None, temperature: float = 1.0) -> PlanningResult:
        """Do ``instruction`` on ``session``'s page (opening ``url`` first); the performed steps as a plan."""
        agent = Agent(self, session, instruction, max_steps=max_steps, done_when=done_when, sample=sample,
                      seed=seed, temperature=temperature)
        result = await agent.run(url)
        logger.info("planner: {!r}: {} steps, {} model calls, {}", instruction, len(result.plan.steps),
                    result.llm_calls, result.error.message if result.error else f"confirmed: {result.confirmation}")
        return result

    # -- the plan cache -------------------------------------------------------------------------
    def cached(self, instruction: str, url: str, param_names: list[str]) -> Plan | None:
        plan = self.cache.get(CacheKey.make(instruction, url, "", param_names))
        if plan is not None:
            logger.info("planner: cache hit for {!r} at {}", instruction, url)
        return plan

    def remember(self, instruction: str, url: str, plan: Plan) -> None:
        """Store a plan whose run succeeded and was confirmed (the loop calls this)."""
        self.cache.put(CacheKey.make(instruction, url, "", sorted(plan.params)), plan)

    def invalidate(self, instruction: str, url: str) -> int:
        n = self.cache.invalidate(instruction, url)
        logger.info("planner: invalidated {} cached plan(s) for {!r}", n, instruction)
        return n

    # -- repair ---------------------------------------------------------------------------------
    def repair(self, plan: Plan, failed_step_id: str, error: str, observation: Observation) -> Plan | None:
        """A new target for the failed step, chosen on ``observation`` among elements fit for its verb."""
        from engine.planner.repair import repair_plan

        return repair_plan(self, plan, failed_step_id, error, observation)
