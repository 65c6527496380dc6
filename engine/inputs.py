"""What a run needs from the user, checked before any browser starts: parameters and secrets.

``secret_resolver`` reads secrets (given values, the encrypted store, ``RPA_SECRET_<NAME>``) and
registers each value for masking; ``check_inputs`` names the step that needs a missing input;
``record_failure`` records a run that could not start, so history shows every attempt.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from engine.config import Settings, get_settings
from engine.errors import MissingInputError, RpaError, SecretError
from engine.history import History
from engine.logs import register_secret
from engine.outcome import RunOutcome
from engine.plan import Plan, topological_order
from engine.plan.models import step_templates
from engine.plan.template import resolve_params

SecretResolver = Callable[[str], str]


def secret_resolver(settings: Settings, given: Mapping[str, str] | None = None) -> SecretResolver:
    """Secrets from ``given``, then the encrypted store, then ``RPA_SECRET_<NAME>``; each value is
    registered for masking the moment it is read."""
    from engine.secrets import SecretStore

    store = SecretStore(settings)

    def resolve(name: str) -> str:
        if given and name in given:
            value = given[name]
        else:
            value = os.environ.get(f"RPA_SECRET_{name.upper()}") or None
            if value is None:
                value = store.get(name)  # raises SecretError naming the secret
        register_secret(value)
        return value

    return resolve


def _users_of(plan: Plan, kind: str, name: str) -> str | None:
    for sid in topological_order(plan):
        if (kind, name) in step_templates(plan.step(sid)):
            return sid
    return None


def check_inputs(plan: Plan, params: Mapping[str, str] | None, secret: SecretResolver) -> dict[str, str]:
    """Everything a run needs from the user, checked before a browser starts."""
    try:
        resolved = resolve_params(plan, dict(params or {}))
    except MissingInputError as err:
        step = _users_of(plan, "params", err.name)
        if step is None or err.input_kind != "parameter" or err.name not in plan.params:
            raise
        raise MissingInputError(
            "parameter", err.name, f"Step '{step}' needs it. Pass it with --param {err.name}=VALUE."
        ) from None
    for name in plan.secrets:
        try:
            secret(name)
        except SecretError as err:
            step = _users_of(plan, "secrets", name)
            if step is None:
                raise
            raise SecretError(f"Step '{step}': {err.message}") from None
    return resolved


def record_failure(plan_name: str, error: RpaError, *, plan_path: str | None = None,
                   settings: Settings | None = None, job_id: str | None = None) -> RunOutcome:
    """A run that could not start (a plan file that does not load, a missing input) is still
    recorded as a failed run, so history shows every attempt; nothing else is written."""
    history = History(settings or get_settings())
    run_id = history.start_run(plan_name, plan_path=plan_path, job_id=job_id)
    outcome = RunOutcome.failed(run_id, plan_name, error)
    history.finish_run(outcome)
    return outcome


def record_invalid_plan(path: str, error: RpaError, *, settings: Settings | None = None,
                        job_id: str | None = None) -> RunOutcome:
    return record_failure(Path(path).stem, error, plan_path=str(path), settings=settings, job_id=job_id)
