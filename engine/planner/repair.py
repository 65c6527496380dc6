"""Planner repair: the failed step's intent, matched again on the page as it is now.

The failed step keeps its verb and value; only its target changes, to an element of the current
observation (old locators stay as fallbacks). The loop validates the result before using it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loguru import logger

from bots.observe import Observation
from engine.plan import Action, Locator, Plan
from engine.planner.candidates import EpisodeState, candidates
from engine.planner.models import Goal

if TYPE_CHECKING:
    from engine.planner.planner import Planner

_GOAL_VERB = {Action.click: "click", Action.fill: "fill", Action.select: "select", Action.check: "check",
              Action.uncheck: "uncheck", Action.download: "click", Action.hover: "click"}


def _locator_words(loc: Locator) -> str:
    return " ".join(str(v) for v in (loc.name, loc.label, loc.placeholder, loc.text, loc.title, loc.alt_text,
                                     loc.test_id) if v).replace("-", " ").replace("_", " ")


def repair_plan(planner: Planner, plan: Plan, failed_step_id: str, error: str, observation: Observation) -> Plan | None:
    step = plan.step(failed_step_id)
    verb = _GOAL_VERB.get(step.action)
    if step.target is None or verb is None or not isinstance(observation, Observation):
        return None
    target_words = " ".join(_locator_words(loc) for loc in step.target.locators)
    goal = Goal(verb=verb, text=step.description or f"{verb} {target_words}", target=target_words,  # type: ignore[arg-type]
                value=step.value if verb in ("fill", "select") else None)
    instruction = plan.instruction or plan.description or plan.name
    cands = [c for c in candidates(goal, observation, instruction, EpisodeState())
             if c.verb == step.action.value and c.lexical > 0]
    if verb == "fill":
        cands = [c for c in cands if c.value == step.value]
    if not cands:
        return None
    chosen, _ = planner.choose(instruction, goal, observation, cands, [])
    new_target = observation.selector_map[chosen.ref]
    old = [loc for loc in step.target.locators if loc.describe() not in {n.describe() for n in new_target.locators}]
    data = plan.model_dump(mode="json")
    for s in data["steps"]:
        if s["id"] == failed_step_id:
            s["target"] = [loc.model_dump(mode="json") for loc in new_target.locators + old]
    logger.info("planner: repair of step '{}' after {!r}: {}", failed_step_id, error[:80], new_target.describe())
    return Plan.model_validate(data)
