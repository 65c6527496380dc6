"""`rpa record --describe`: a skill description and param names/descriptions a person would choose.

Deterministic, from the recorded steps: a param named after nothing (``value``, ``value_3``) takes the
name of the field it is typed into (label, placeholder, accessible name, test id or CSS id, in that
order), every param without a description gets one naming that field, its type is guessed from its
value (email, date, url, number), and an empty plan description becomes a sentence of what the steps
do. The user can edit all of it in the YAML; nothing here needs the model.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from engine.plan import Plan
from engine.plan.models import TEMPLATE_RE
from engine.skills.compose import _rename
from engine.skills.text import value_type

POOR_NAME = re.compile(r"^(value|field|input|text|param)(_\d+)?$")


def _snake(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return s if s and s[0].isalpha() else ""


def _field_names(step) -> list[str]:  # noqa: ANN001
    out = []
    for loc in step.target.locators if step.target is not None else []:
        for v in (loc.label, loc.placeholder, loc.name, loc.test_id, loc.title):
            if v and "{{" not in v:
                out.append(v)
        if loc.css and loc.css.startswith("#"):
            out.append(loc.css[1:].replace("-", " "))
    return out


def _sentence(plan: Plan) -> str:
    parts: list[str] = []
    for step in plan.steps:
        names = _field_names(step)
        what = names[0] if names else ""
        if step.action.value == "goto" and not parts:
            host = urlsplit(str(step.value or "")).hostname
            parts.append(f"open {host}" if host and "{{" not in host else "open the start page")
        elif step.action.value in ("fill", "select") and what:
            parts.append(f"fill {what}")
        elif step.action.value == "click" and what:
            parts.append(f"click {what}")
        elif step.action.value in ("extract", "download") and (step.output or what):
            parts.append(f"{'download' if step.action.value == 'download' else 'read'} {step.output or what}")
    seen: list[str] = []
    for p in parts:
        if p not in seen:
            seen.append(p)
    text = ", ".join(seen[:10])
    return (text[:1].upper() + text[1:] + ".") if text else ""


def describe_plan(plan: Plan) -> Plan:
    used_by: dict[str, list[str]] = {}
    for step in plan.steps:
        for m in TEMPLATE_RE.finditer(str(step.value or "")):
            if m.group(1) == "params":
                used_by.setdefault(m.group(2), []).extend(_field_names(step))
    renames: dict[str, str] = {}
    taken = set(plan.params)
    for name in plan.params:
        if POOR_NAME.match(name):
            for label in used_by.get(name, []):
                new = _snake(label)
                if new and new not in taken:
                    renames[name], taken = new, (taken - {name}) | {new}
                    break
    params = {}
    for name, p in plan.params.items():
        field = (used_by.get(name) or [""])[0]
        update = {}
        if not p.description and field:
            update["description"] = f"What to type into '{field}'."
        if p.type is None and value_type(None, p.default) in ("email", "date", "url", "number"):
            update["type"] = value_type(None, p.default)
        params[renames.get(name, name)] = p.model_copy(update=update)
    data = plan.model_dump(mode="json", exclude_none=True)
    data["steps"] = _rename(data["steps"], renames, {})
    data["params"] = {k: p.model_dump(exclude_none=True) for k, p in params.items()}
    if not plan.description.strip() or plan.description.startswith("NEEDS ATTENTION"):
        data["description"] = f"{_sentence(plan)} {plan.description}".strip()
    return Plan.model_validate(data)
