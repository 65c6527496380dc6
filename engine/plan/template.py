"""Resolve ``{{ params.X }}``, ``{{ secrets.X }}`` and ``{{ outputs.X }}`` in step values."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from engine.errors import MissingInputError
from engine.plan.models import TEMPLATE_RE, Plan


def resolve_params(plan: Plan, given: Mapping[str, str]) -> dict[str, str]:
    """Defaults overlaid with ``given``; unknown or missing names raise MissingInputError."""
    for name in given:
        if name not in plan.params:
            known = ", ".join(plan.params) or "none"
            raise MissingInputError("parameter", name, f"The plan declares: {known}.")
    out: dict[str, str] = {}
    for name, spec in plan.params.items():
        if name in given:
            out[name] = str(given[name])
        elif spec.default is not None:
            out[name] = spec.default
        else:
            raise MissingInputError("parameter", name, f"Pass it with --param {name}=VALUE.")
    return out


def render(
    text: str,
    params: Mapping[str, str],
    outputs: Mapping[str, object],
    secret: Callable[[str], str],
) -> str:
    """Substitute every reference; ``secret(name)`` fetches a secret value (never logged)."""

    def sub(m) -> str:  # type: ignore[no-untyped-def]
        kind, name = m.group(1), m.group(2)
        if kind == "params":
            if name not in params:
                raise MissingInputError("parameter", name, f"Pass it with --param {name}=VALUE.")
            return params[name]
        if kind == "outputs":
            if name not in outputs:
                raise MissingInputError("output", name, "An earlier step must extract it first.")
            return str(outputs[name])
        return secret(name)

    return TEMPLATE_RE.sub(sub, text)


def uses_secret(text: str | None) -> bool:
    return bool(text) and any(m.group(1) == "secrets" for m in TEMPLATE_RE.finditer(text or ""))
