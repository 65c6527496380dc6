"""``rpa bench skills``: route every case of a suite (nothing runs) and score the decisions per split.

A suite is a YAML list of ``{instruction, skill, params, split}``: ``skill`` is a name, a list of names
(an ordered sequence, with ``params`` a list of mappings) or null when no skill fits; ``params`` holds
only what the instruction states. Figures, per split and overall:
- ``skill_accuracy``: the decision is exactly the expected one (the skill, the sequence, or none);
  an abstention counts as wrong here;
- ``param_accuracy``: of the cases that expect a skill, the share routed to it with every param exact;
- ``wrong_skill_runs``: cases that would run a skill they should not (another one, or any when none fits);
- ``abstained``: cases answered "ambiguous" (nothing would run); ``p50_route_s``: median routing time.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, field_validator

from engine.errors import ConfigError, RpaError
from engine.skills.models import RouteStatus

SUITES = Path(__file__).resolve().parent / "suites"


class Case(BaseModel):
    instruction: str
    skill: list[str] | None = None
    params: list[dict[str, str]] = Field(default_factory=list)
    split: str = "tuned"

    @field_validator("skill", mode="before")
    @classmethod
    def _skills(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, v: Any) -> Any:
        if v is None:
            return []
        items = v if isinstance(v, list) else [v]
        return [{str(k): str(x) for k, x in (d or {}).items()} for d in items]


def load_suite(path: Path) -> list[Case]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"Bench.skills: cannot read the suite {path}: {err}. Give a YAML list of cases.") from None
    if not isinstance(data, list):
        raise ConfigError(f"Bench.skills: {path} is not a YAML list of {{instruction, skill, params}} cases.")
    cases = [Case.model_validate(c) for c in data]
    for c in cases:
        if c.skill and len(c.params) not in (0, len(c.skill)):
            raise ConfigError(f"Bench.skills: case '{c.instruction}' has {len(c.skill)} skills but "
                              f"{len(c.params)} params mappings. Give one mapping per skill.")
    return cases


def judge(case: Case, routing: Any | None) -> dict[str, Any]:
    """One case's result: what was expected, what the router said, and how it scores."""
    want = case.skill or []
    want_params = case.params or [{} for _ in want]
    status = routing.status if routing is not None else RouteStatus.ambiguous
    got = routing.names() if routing is not None and routing.ok else []
    got_params = [c.values() for c in routing.chosen] if routing is not None and routing.ok else []
    skill_ok = (status is RouteStatus.routed and got == want) or (status is RouteStatus.none and not want)
    return {
        "instruction": case.instruction, "split": case.split, "expected": want or None,
        "expected_params": want_params, "status": status.value, "routed": got or None, "params": got_params,
        "skill_ok": skill_ok, "params_ok": bool(want) and skill_ok and got_params == want_params,
        "wrong_run": status is RouteStatus.routed and got != want,
        "abstained": status is RouteStatus.ambiguous,
        "reason": routing.reason if routing is not None else "",
        "seconds": routing.seconds if routing is not None else 0.0,
    }


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    with_skill = [r for r in results if r["expected"]]
    secs = [r["seconds"] for r in results]
    return {
        "cases": n, "fit_no_skill": n - len(with_skill),
        "skill_accuracy": round(sum(r["skill_ok"] for r in results) / n, 4) if n else None,
        "param_accuracy": round(sum(r["params_ok"] for r in with_skill) / len(with_skill), 4) if with_skill else None,
        "wrong_skill_runs": sum(r["wrong_run"] for r in results),
        "abstained": sum(r["abstained"] for r in results),
        "p50_route_s": round(statistics.median(secs), 4) if secs else None,
        "max_route_s": round(max(secs), 4) if secs else None,
    }


def run_skills_bench(router: Any, cases: list[Case], *, splits: list[str] | None = None,
                     details: bool = False) -> dict[str, Any]:
    """Route every case of the chosen splits (all when None) with ``router``; nothing runs."""
    chosen = [c for c in cases if splits is None or c.split in splits]
    results = []
    t0 = time.perf_counter()
    for case in chosen:
        try:
            routing = router.route(case.instruction)
        except RpaError:  # a missing param of the chosen skill: nothing would run
            routing = None
        results.append(judge(case, routing))
    names = sorted({r["split"] for r in results})
    out: dict[str, Any] = {"skills": [s.name for s in router.skills], "total_s": round(time.perf_counter() - t0, 3),
                           "model_calls": getattr(getattr(router, "backend", None), "calls", 0),
                           "all": summarize(results)}
    out["splits"] = {name: summarize([r for r in results if r["split"] == name]) for name in names}
    if details:
        out["cases"] = results
    return out
