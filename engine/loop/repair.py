"""Repair a plan whose page changed: ask the planner, else pick the best match from the observation.

A repair only swaps the target of the failed step (or, from the planner, replaces steps); it never
widens ``allowed_domains``, changes a step's verb, or touches other steps. An accepted repair is
saved as a new version beside the user's file (``x.yaml`` -> ``x.v2.yaml``), never over it.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from loguru import logger

from engine.errors import FailureKind
from engine.plan import Action, Locator, Plan, Target, dump_plan, next_version_path, save_plan

_WORD = re.compile(r"[a-z0-9]+")
# Roles that can take each verb; a candidate of another role is penalised, not excluded.
_ROLES_FOR: dict[Action, set[str]] = {
    Action.fill: {"textbox", "searchbox", "combobox", "spinbutton", "textarea"},
    Action.select: {"combobox", "listbox"},
    Action.check: {"checkbox", "radio", "switch"},
    Action.uncheck: {"checkbox", "radio", "switch"},
    Action.click: {"button", "link", "checkbox", "radio", "tab", "menuitem", "option", "switch"},
    Action.download: {"link", "button"},
    Action.upload: {"button", "textbox"},
}
MIN_SCORE = 0.45


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower().replace("_", " "))


def _locator_words(loc: Locator) -> tuple[str | None, str]:
    """(role or None, the words the locator looks for) for any locator kind."""
    if loc.kind == "role":
        return loc.role, " ".join(_words(loc.name))
    if loc.kind == "css":
        # '#login-btn', '[name=q]', 'button.primary' -> words of ids, names and classes.
        return None, " ".join(_words(re.sub(r"[#.\[\]=\"'>:()]", " ", loc.css or "")))
    return None, " ".join(_words(str(getattr(loc, loc.kind))))


def _element_texts(el: Any) -> list[str]:
    keys = ("name", "label", "text", "placeholder", "test_id", "title", "alt", "id", "value_hint")
    out = [" ".join(_words(str(v))) for k in keys if (v := _get(el, k))]
    attrs = _get(el, "attributes") or {}
    if isinstance(attrs, dict):
        out += [" ".join(_words(str(v))) for k, v in attrs.items() if k in ("id", "name", "aria-label") and v]
    return [t for t in out if t]


def _similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    ratio = difflib.SequenceMatcher(None, a, b).ratio()
    wa, wb = set(a.split()), set(b.split())
    jaccard = len(wa & wb) / len(wa | wb) if wa | wb else 0.0
    # A reworded label usually keeps one key word ("Sign in" -> "Sign in now"): containment counts.
    contained = 1.0 if (a in b or b in a) else 0.0
    return max(ratio, jaccard, 0.85 * contained)


def score_element(old: list[Locator], action: Action, el: Any) -> float:
    role = (_get(el, "role") or "").lower()
    texts = _element_texts(el)
    best = 0.0
    for loc in old:
        want_role, want = _locator_words(loc)
        s = max((_similarity(want, t) for t in texts), default=0.0)
        if want_role:
            s += 0.25 if want_role == role else -0.25
        best = max(best, s)
    roles = _ROLES_FOR.get(action)
    if roles and role:
        best += 0.1 if role in roles else -0.2
    if _get(el, "disabled") or _get(el, "hidden"):
        best -= 0.3
    return best


def _elements(observation: Any) -> list[Any]:
    return list(_get(observation, "elements") or [])


def _target_for(observation: Any, el: Any) -> Target | None:
    ref = _get(el, "ref") if _get(el, "ref") is not None else _get(el, "id")
    mapping = _get(observation, "selector_map") or {}
    target = mapping.get(ref) if isinstance(mapping, dict) else None
    if target is None:
        target = _get(el, "target") or _get(el, "locator")
    if target is None:
        return None
    return target if isinstance(target, Target) else Target.model_validate(
        target.model_dump() if hasattr(target, "model_dump") else target)


def _best_target(old: Target, action: Action, observation: Any) -> tuple[Target, float] | None:
    """The observed element that best matches ``old`` (and differs from it), with its score."""
    scored = sorted(((score_element(old.locators, action, el), i, el) for i, el in enumerate(_elements(observation))),
                    key=lambda t: (-t[0], t[1]))
    for score, _, el in scored:
        if score < MIN_SCORE:
            break
        target = _target_for(observation, el)
        if target is not None and target.describe() != old.describe():
            return target, score
    return None


def deterministic_repair(plan: Plan, failed_step_id: str, observation: Any,
                         kind: FailureKind = FailureKind.target_missing) -> Plan | None:
    """Swap the failed step's target (or, when its expectation failed, the element the expectation
    waits for) for the observed element that best matches the old one."""
    step = plan.step(failed_step_id)
    if kind is FailureKind.expectation_unmet and step.expect is not None and step.expect.visible is not None:
        old = step.expect.visible
        found = _best_target(old, Action.click, observation)
        if found is None:
            return None
        logger.info("repair: step '{}' expects {} instead of {} (score {:.2f})", step.id, found[0].describe(),
                    old.describe(), found[1])
        return expect_first(plan, failed_step_id, [loc.model_dump(mode="json") for loc in found[0].locators])
    if step.target is None:
        return None
    found = _best_target(step.target, step.action, observation)
    if found is None:
        return None
    logger.info("repair: step '{}' {} -> {} (score {:.2f})", step.id, step.target.describe(),
                found[0].describe(), found[1])
    return replace_target(plan, failed_step_id, found[0])


def expect_first(plan: Plan, step_id: str, locators: list[dict[str, Any]]) -> Plan:
    """A copy of ``plan`` whose step expects ``locators`` visible first, its old ones kept as fallbacks."""
    data = plan.model_dump(mode="json")
    old = plan.step(step_id).expect.visible  # type: ignore[union-attr]
    for s in data["steps"]:
        if s["id"] == step_id:
            s["expect"]["visible"] = locators + [loc.model_dump(mode="json") for loc in old.locators]  # type: ignore[union-attr]
    return Plan.model_validate(data)


async def loosen_expectation(plan: Plan, step_id: str, page: Any) -> Plan | None:
    """A reworded title (a dialog, a region) breaks ``role + name`` expectations that nothing in the
    observation can match by words: accept the role alone when the page shows exactly one such element."""
    step = plan.step(step_id)
    if step.expect is None or step.expect.visible is None or page is None:
        return None
    for loc in step.expect.visible.locators:
        if loc.role is None or loc.name is None:
            continue
        try:
            if await page.get_by_role(loc.role).filter(visible=True).count() != 1:
                continue
        except Exception:  # noqa: BLE001 - a page that went away offers nothing to repair with
            return None
        logger.info("repair: step '{}' expects any visible {} instead of {}", step_id, loc.role, loc.describe())
        return expect_first(plan, step_id, [{"role": loc.role}])
    return None


def replace_target(plan: Plan, step_id: str, target: Target) -> Plan:
    """A copy of ``plan`` where ``step_id`` uses ``target`` first and keeps its old locators as fallbacks."""
    data = plan.model_dump(mode="json")
    old = plan.step(step_id).target
    locators = [loc.model_dump(mode="json") for loc in target.locators]
    if old is not None:
        seen = {Locator.model_validate(x).describe() for x in locators}
        locators += [loc.model_dump(mode="json") for loc in old.locators if loc.describe() not in seen]
    for s in data["steps"]:
        if s["id"] == step_id:
            s["target"] = locators
    return Plan.model_validate(data)


def validate_repair(old: Plan, new: Plan, failed_step_id: str) -> str | None:
    """Why a proposed repair is unacceptable, or None if it is safe to try."""
    if set(new.allowed_domains) - set(old.allowed_domains):
        return "it widens allowed_domains"
    if set(new.secrets) - set(old.secrets):
        return "it asks for new secrets"
    if dump_plan(new) == dump_plan(old):
        return "it changes nothing"
    if new.allow_file and not old.allow_file:
        return "it allows file: URLs"
    old_ids = [s.id for s in old.steps]
    if failed_step_id in old_ids and failed_step_id in [s.id for s in new.steps]:
        if new.step(failed_step_id).action is not old.step(failed_step_id).action:
            return f"it changes the verb of step '{failed_step_id}'"
        lost = _identifiers(old.step(failed_step_id)) - _identifiers(new.step(failed_step_id), first_only=True)
        if lost:
            # "INV-9999" reworded is still INV-9999: a repair finds the same thing, never another record.
            return f"it targets something else (no {', '.join(sorted(lost))} in the new target)"
        if (why := _same_field(old.step(failed_step_id), new.step(failed_step_id))) is not None:
            return why
    for s in old.steps:
        if s.id == failed_step_id or s.id not in [n.id for n in new.steps]:
            continue
        if _step_data(old, s.id) != _step_data(new, s.id):
            return f"it changes step '{s.id}', which did not fail"
    return None


# Verbs that set a value: a repair may find the field reworded, never another field (a "Staff status"
# box is not healed into a "Disabled" radio because both can be checked).
_SETS = {Action.fill, Action.select, Action.check, Action.uncheck, Action.upload}


_GENERIC = {"input", "field", "form", "button", "btn", "label", "text", "name", "type", "nth", "child", "div",
            "span", "main", "content", "value"}


def _names(locators: list[Locator]) -> list[str]:
    return [w for loc in locators if loc.kind != "css" and (w := _locator_words(loc)[1])]


def _signals(locators: list[Locator]) -> set[str]:
    """Content words of every locator, CSS ids and test ids included ("#x-search-2" -> search)."""
    words = {w for loc in locators for w in _WORD.findall(_locator_words(loc)[1])}
    return {w for w in words if len(w) > 2 and not w.isdigit() and w not in _GENERIC}


def _same_field(old: Any, new: Any) -> str | None:
    if old.action not in _SETS or old.target is None or new.target is None:
        return None
    seen = {loc.describe() for loc in old.target.locators}
    fresh = [loc for loc in new.target.locators if loc.describe() not in seen]
    was, now = _signals(old.target.locators), _signals(fresh)
    if not fresh or not was or was & now:
        return None  # nothing new, nothing to compare with, or a word of the field kept (label, id, test id)
    # The label reworded ("Username" -> "User name", 0.94); "First name:" is not "Username:" (0.60).
    if any(_similarity(a, b) >= 0.7 for a in _names(old.target.locators) for b in _names(fresh)):
        return None
    return f"it sets another field ({fresh[0].describe()} is not {old.target.describe()})"


def _identifiers(step: Any, *, first_only: bool = False) -> set[str]:
    """The tokens with digits a step's target looks for (record numbers, ids of things)."""
    found: set[str] = set()
    for target in (step.target, step.expect.visible if step.expect else None):
        if target is None:
            continue
        locators = target.locators[:1] if first_only else target.locators
        for loc in locators:
            if loc.kind == "css":
                continue  # a CSS path's nth-child numbers name positions, not things
            found |= {t for t in _WORD.findall(_locator_words(loc)[1]) if any(c.isdigit() for c in t)}
    if first_only:
        return found
    # Only what every locator of the old target agrees on identifies the thing.
    per = [{t for t in _WORD.findall(_locator_words(loc)[1]) if any(c.isdigit() for c in t)}
           for loc in (step.target.locators if step.target else []) if loc.kind != "css"]
    return set.intersection(*per) if per else found


def _step_data(plan: Plan, step_id: str) -> dict[str, Any]:
    return plan.step(step_id).model_dump(mode="json", exclude={"depends_on"})


def plan_diff(old: Plan, new: Plan, old_name: str, new_name: str) -> str:
    return "".join(difflib.unified_diff(dump_plan(old).splitlines(keepends=True),
                                        dump_plan(new).splitlines(keepends=True),
                                        fromfile=old_name, tofile=new_name))


def save_repaired(old: Plan, new: Plan, source: str | None, fallback_dir: Path) -> tuple[Path, str]:
    """Save ``new`` as the next version beside ``source`` (or in ``fallback_dir``); return path and diff."""
    base = Path(source) if source else fallback_dir / f"{_slug(old.name)}.yaml"
    path = next_version_path(base)
    for _ in range(100):  # another bot may have taken this name a moment ago
        try:
            save_plan(new, path)
            break
        except Exception:
            if not path.exists():
                raise
            path = next_version_path(base)
    return path, plan_diff(old, new, base.name, path.name)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "plan"
