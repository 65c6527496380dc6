"""Repairs shared across a batch: a page that changed is repaired once, for every job of that plan.

A repair comes from the planner (a new target chosen on the failed page) or from the observation
alone (``engine.loop.repair``), is validated, and is tried; a repaired plan that then succeeds is
saved as a new version beside the user's file (``x.yaml`` -> ``x.v2.yaml``), never over it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from engine.errors import FailureKind
from engine.history import History
from engine.loop.models import JobEntry, Repair
from engine.loop.repair import (
    deterministic_repair,
    loosen_expectation,
    plan_diff,
    save_repaired,
    validate_repair,
)
from engine.plan import Plan

if TYPE_CHECKING:
    from bots.observe import Observation
    from engine.planner import Planner


@dataclass
class Repaired:
    """The latest repaired version of one plan within a batch."""

    version: int
    plan: Plan
    original: Plan
    source: str | None
    repairs: list[Repair]
    validated: Plan | None = None
    users: list[JobEntry] = field(default_factory=list)


class Healing:
    """Every repair of one batch, keyed by plan (jobs that run the same plan share its repairs)."""

    def __init__(self, history: History, planner: Callable[[], Planner | None], *, use_planner: bool) -> None:
        self.history, self.planner, self.use_planner = history, planner, use_planner
        self.repaired: dict[str, Repaired] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.llm_calls = 0

    def seen(self, plan_key: str) -> bool:
        """This plan's page changed already in this batch."""
        return plan_key in self.repaired

    def latest(self, plan_key: str, version: int, entry: JobEntry) -> tuple[Plan, int] | None:
        """A repaired plan newer than ``version`` (the repairs are copied into ``entry``)."""
        rep = self.repaired.get(plan_key)
        if rep is None or rep.version <= version:
            return None
        for r in rep.repairs:
            if all(x.step_id != r.step_id or x.new != r.new for x in entry.repairs):
                entry.repairs.append(r.model_copy(update={"source": f"{r.source} (shared)"}))
        if entry not in rep.users:
            rep.users.append(entry)
        return rep.plan, rep.version

    async def repair(self, plan_key: str, version: int, entry: JobEntry, plan: Plan, source: str | None,
                     original: Plan, step_id: str, kind: FailureKind, error: str, run_id: str,
                     observation: Observation | None, page: Any = None) -> tuple[Plan, int] | None:
        """A validated new version of ``plan`` for the failed step, or None."""
        lock = self._locks.setdefault(plan_key, asyncio.Lock())
        async with lock:
            newer = self.latest(plan_key, version, entry)
            if newer is not None and newer[0] is not plan:
                return newer  # another bot repaired this plan meanwhile
            if observation is None:
                return None
            candidates: list[tuple[str, Plan | None]] = []
            if self.use_planner:
                candidates.append(("planner", await self._planner_repair(plan, step_id, error, observation)))
            candidates.append(("observation", deterministic_repair(plan, step_id, observation, kind)))
            if kind is FailureKind.expectation_unmet and page is not None:
                candidates.append(("page", await loosen_expectation(plan, step_id, page)))
            tried = {r.new for r in entry.repairs if r.step_id == step_id}
            for how, new in candidates:
                if new is None:
                    continue
                why = validate_repair(plan, new, step_id)
                if why is not None:
                    logger.info("loop: {} repair of step '{}' rejected: {}", how, step_id, why)
                    continue
                repair = Repair(step_id=step_id, source=how, old=describe(plan, step_id), new=describe(new, step_id))
                if repair.new in tried:
                    continue
                return self._record(plan_key, entry, plan, new, source, original, repair, observation, run_id)
            return None

    async def _planner_repair(self, plan: Plan, step_id: str, error: str, observation: Observation) -> Plan | None:
        planner = self.planner()
        if planner is None:
            return None
        try:
            new = await asyncio.to_thread(planner.repair, plan, step_id, error, observation)
            self.llm_calls += 1
            return new
        except Exception as err:  # noqa: BLE001 - a planner that cannot repair leaves the other ways
            logger.info("loop: planner repair failed: {}", err)
            return None

    def _record(self, plan_key: str, entry: JobEntry, old: Plan, new: Plan, source: str | None, original: Plan,
                repair: Repair, observation: Observation, run_id: str) -> tuple[Plan, int]:
        rep = self.repaired.get(plan_key)
        if rep is None:
            rep = Repaired(version=0, plan=new, original=original, source=source, repairs=[])
            self.repaired[plan_key] = rep
        rep.version += 1
        rep.plan = new
        rep.repairs.append(repair)
        entry.repairs.append(repair)
        if entry not in rep.users:
            rep.users.append(entry)
        self.history.record_decision(run_id=run_id, step_id=repair.step_id, instruction=f"repair: {old.name}",
                                     observation=observation.to_prompt(1500),
                                     action=new.step(repair.step_id).model_dump(mode="json"), outcome="repair")
        logger.info("loop: repaired step '{}' of {} ({}): {} -> {}", repair.step_id, old.name, repair.source,
                    repair.old, repair.new)
        return new, rep.version

    def validated(self, plan_key: str, plan: Plan) -> None:
        """A job that used repairs of ``plan_key`` succeeded with ``plan``."""
        rep = self.repaired.get(plan_key)
        if rep is not None and (rep.validated is None or rep.plan is plan):
            rep.validated = plan

    def save(self, fallback: Path) -> None:
        """One new version per repaired plan that then succeeded, beside the user's file."""
        for key, rep in self.repaired.items():
            if rep.validated is None:
                for entry in rep.users:
                    if not entry.ok:
                        entry.diff = plan_diff(rep.original, rep.plan, "original", "rejected repair")
                continue
            try:
                path, diff = save_repaired(rep.original, rep.validated, rep.source, fallback)
            except Exception as err:  # noqa: BLE001 - the run succeeded; only the saved copy is lost
                logger.warning("loop: cannot save the repaired plan of {}: {}", key, err)
                continue
            for entry in rep.users:
                entry.repaired_path, entry.diff = str(path), diff


def describe(plan: Plan, step_id: str) -> str:
    try:
        step = plan.step(step_id)
    except KeyError:
        return "(removed)"
    out = step.target.describe() if step.target is not None else step.action.value
    if step.expect is not None and step.expect.visible is not None:
        out += f" (expects {step.expect.visible.describe()})"
    return out
