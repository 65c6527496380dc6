"""Planner repair: the failed step's intent, matched again on the page as it is now.

The failed step keeps its verb and value; only its target changes, to an element of the current
observation (old locators stay as fallbacks). The words the old locators looked for are the query;
the model ranks the best few elements fit for the verb. The loop validates the result before use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loguru import logger

from bots.observe import Element, Observation
from engine.plan import Action, Locator, Plan
from engine.planner.actions import element_words
from engine.planner.prompts import decision_messages, format_action
from engine.planner.task import words

if TYPE_CHECKING:
    from engine.planner.planner import Planner

TOP_K = 6
_FITS: dict[Action, tuple[str, ...]] = {
    Action.fill: ("textbox", "searchbox", "combobox", "spinbutton"), Action.select: ("combobox", "listbox"),
    Action.check: ("checkbox", "radio", "switch"), Action.uncheck: ("checkbox", "radio", "switch"),
}


def _locator_words(loc: Locator) -> str:
    return " ".join(str(v) for v in (loc.name, loc.label, loc.placeholder, loc.text, loc.title, loc.alt_text,
                                     loc.test_id) if v).replace("-", " ").replace("_", " ")


def _fit(action: Action, el: Element) -> bool:
    roles = _FITS.get(action)
    return el.role in roles if roles else el.role not in ("textbox", "searchbox") or action is Action.click


def repair_plan(planner: Planner, plan: Plan, failed_step_id: str, error: str, observation: Observation) -> Plan | None:
    step = plan.step(failed_step_id)
    if step.target is None or not isinstance(observation, Observation):
        return None
    query = set(words(" ".join(_locator_words(loc) for loc in step.target.locators) + " " + (step.description or "")))
    scored = []
    for el in observation.controls:
        if not _fit(step.action, el):
            continue
        overlap = len(query & element_words(el))
        if overlap:
            scored.append((overlap, el))
    if not scored:
        return None
    scored.sort(key=lambda t: -t[0])
    top = [el for _, el in scored[:TOP_K]]
    chosen = top[0]
    if len(top) > 1:
        answers = [format_action(step.action.value, el.ref, el.name or el.label) for el in top]
        page = "\n".join(el.line() for el in top)
        instruction = plan.instruction or plan.description or plan.name
        ranked = planner.rank_sync(decision_messages(instruction, page, step.description or error, []), answers)
        if ranked.scores is not None:
            chosen = max(zip(top, ranked.scores, [s for s, _ in scored[:TOP_K]]), key=lambda t: t[2] + t[1])[0]
    new_target = observation.selector_map[chosen.ref]
    old = [loc for loc in step.target.locators if loc.describe() not in {n.describe() for n in new_target.locators}]
    data = plan.model_dump(mode="json")
    for s in data["steps"]:
        if s["id"] == failed_step_id:
            s["target"] = [loc.model_dump(mode="json") for loc in new_target.locators + old]
    logger.info("planner: repair of step '{}' after {!r}: {}", failed_step_id, error[:80], new_target.describe())
    return Plan.model_validate(data)
