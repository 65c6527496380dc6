"""The plan a routing runs: the chosen skill with the instruction's values, or one plan for a sequence.

Values the instruction states become the params' defaults of a copy of the skill (``--param`` still
overrides them; nothing is written to the user's file). A sequence becomes ONE plan whose parts run in
order (each part's first step waits for every step of the part before), so a failed part stops the
rest and the run fails naming the step. Step ids get the part's prefix (``p1.open_login``); a param
that two parts fill differently, and an output two parts write, get it too (``p2_invoice``).
"""

from __future__ import annotations

import re
from typing import Any

from engine.errors import ConfigError
from engine.plan import Param, Plan
from engine.plan.models import TEMPLATE_RE
from engine.skills.models import ChosenSkill, Routing


def _with_values(c: ChosenSkill) -> dict[str, Param]:
    out = {}
    for name, p in c.plan.params.items():
        out[name] = p.model_copy(update={"default": c.params[name].value}) if name in c.params else p
    return out


def _describe(routing: Routing, base: str) -> str:
    return f"{base} Routed from the instruction \"{routing.instruction}\": {routing.reason}.".strip()


def routed_plan(routing: Routing) -> Plan:
    """The plan to run for a routed instruction (raises ValueError when it routed nowhere)."""
    if not routing.ok or not routing.chosen:
        raise ValueError("routed_plan needs a routing that chose at least one skill")
    if len(routing.chosen) == 1:
        c = routing.chosen[0]
        return c.plan.model_copy(update={"params": _with_values(c), "instruction": routing.instruction,
                                         "description": _describe(routing, c.plan.description)})
    return _sequence(routing)


def _rename(data: Any, params: dict[str, str], outputs: dict[str, str]) -> Any:
    if isinstance(data, str):
        def sub(m: re.Match[str]) -> str:
            table = params if m.group(1) == "params" else outputs if m.group(1) == "outputs" else {}
            return "{{ %s.%s }}" % (m.group(1), table.get(m.group(2), m.group(2)))
        return TEMPLATE_RE.sub(sub, data)
    if isinstance(data, list):
        return [_rename(x, params, outputs) for x in data]
    if isinstance(data, dict):
        return {k: _rename(v, params, outputs) for k, v in data.items()}
    return data


def _sequence(routing: Routing) -> Plan:
    chosen = routing.chosen
    values: dict[str, set[str | None]] = {}
    writers: dict[str, int] = {}
    for c in chosen:
        for name, p in _with_values(c).items():
            values.setdefault(name, set()).add(p.default)
        for s in c.plan.steps:
            if s.output:
                writers[s.output] = writers.get(s.output, 0) + 1
    params: dict[str, Param] = {}
    steps: list[dict[str, Any]] = []
    secrets: list[str] = []
    domains: list[str] = []
    previous: list[str] = []
    if any(not c.plan.allowed_domains for c in chosen) and any(c.plan.allowed_domains for c in chosen):
        raise ConfigError("Skills.compose: cannot run " + " then ".join(c.name for c in chosen) + " as one "
                          "plan: some of them restrict allowed_domains and some do not. Give every skill "
                          "an allowed_domains list, or run them one by one.")
    for i, c in enumerate(chosen, start=1):
        prefix = f"p{i}"
        pmap = {n: (n if len(values[n]) == 1 else f"{prefix}_{n}") for n in c.plan.params}
        omap = {s.output: (s.output if writers[s.output] == 1 else f"{prefix}_{s.output}")
                for s in c.plan.steps if s.output}
        for name, p in _with_values(c).items():
            params[pmap[name]] = p
        ids = {s.id: f"{prefix}.{s.id}" for s in c.plan.steps}
        mine = []
        for n, step in enumerate(c.plan.steps):
            d = _rename(step.model_dump(mode="json", exclude_none=True), pmap, omap)
            d["id"] = ids[step.id]
            if step.depends_on:
                d["depends_on"] = [ids[x] for x in step.depends_on]
            elif n == 0 and previous:
                d["depends_on"] = list(previous)
            if step.output:
                d["output"] = omap[step.output]
            mine.append(d)
        steps += mine
        previous = [d["id"] for d in mine]
        secrets += [s for s in c.plan.secrets if s not in secrets]
        domains += [h for h in c.plan.allowed_domains if h not in domains]
    name = "_then_".join(c.name for c in chosen)
    base = "; then ".join(c.plan.description.rstrip(".") for c in chosen if c.plan.description) + "."
    return Plan.model_validate({
        "name": name, "description": _describe(routing, base), "instruction": routing.instruction,
        "params": {k: p.model_dump(exclude_none=True) for k, p in params.items()}, "secrets": secrets,
        "allowed_domains": domains, "idempotent": all(c.plan.idempotent for c in chosen),
        "steps": steps,
    })
