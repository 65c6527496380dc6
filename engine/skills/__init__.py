"""Skills: an instruction runs the user's own recorded bots, with params taken from its words.

``route_instruction(instruction, settings)`` -> ``Routing`` (the chosen skills with their params, the
one-line reason, the candidates, the confidence); ``routed_plan(routing)`` is the plan to run. The
library (``load_library``) and the router are built once per process and rebuilt when a skill file
changes; the model loads only when a close call needs it (``LazyBackend``).
"""

from __future__ import annotations

import threading
from typing import Any

from engine.config import Settings, get_settings
from engine.skills.compose import routed_plan
from engine.skills.library import Library, load_library
from engine.skills.models import Candidate, ChosenSkill, Filled, RouteStatus, Routing, Skill
from engine.skills.router import Router, RouterConfig

__all__ = [
    "Candidate", "ChosenSkill", "Filled", "Library", "Routing", "RouteStatus", "Router", "RouterConfig", "Skill",
    "get_router", "load_library", "record_routing", "route_instruction", "routed_plan",
]

_LOCK = threading.Lock()
_ROUTERS: dict[tuple, Router] = {}
_BACKENDS: dict[tuple, Any] = {}


def _backend(settings: Settings) -> Any:
    from engine.planner import LazyBackend

    key = ((settings.planner_backend or "local").lower(), settings.model or "")
    if key not in _BACKENDS:
        _BACKENDS[key] = LazyBackend(settings, key[0], settings.model)
    return _BACKENDS[key]


def get_router(settings: Settings | None = None, *, library: Library | None = None, backend: Any = None) -> Router:
    """The process-wide router for this library (rebuilt when a skill file changes)."""
    settings = settings or get_settings()
    lib = library if library is not None else load_library(settings)
    with _LOCK:
        be = backend if backend is not None else _backend(settings)
        key = (lib.signature(), id(be))
        if key not in _ROUTERS:
            _ROUTERS[key] = Router(lib, be)
        return _ROUTERS[key]


def route_instruction(instruction: str, settings: Settings | None = None, *, library: Library | None = None,
                      backend: Any = None, params: dict[str, str] | None = None) -> Routing:
    """Choose the skill(s) for ``instruction`` and fill their params from its words (nothing runs).

    ``params`` are values the user gives besides (``--param``): they count as stated. Raises
    ``MissingInputError`` (kind input_missing) when a chosen skill needs a param nobody states."""
    return get_router(settings, library=library, backend=backend).route(instruction, params=params)


def _page(routing: Routing) -> tuple[str, dict[str, str]]:
    """The candidates as the planner's page lines, so a routing decision trains like a planner one."""
    names = [c.name for c in routing.candidates if c.name != "none"]
    refs = {n: f"e{i + 1}" for i, n in enumerate(names)}
    lines = [f'[{refs[n]}] button "{n}"' for n in names]  # skill names are identifiers: nothing to quote
    lines.append(f'[e{len(names) + 1}] button "none"')
    return "\n".join(lines), refs


def record_routing(history: Any, routing: Routing, run_id: str, outcome: str) -> None:
    """Store a routing decision with its run: `rpa train --from-history` reads it as an example
    (instruction, the candidates as a page, the chosen one as the action line)."""
    from engine.planner.prompts import format_action

    page, refs = _page(routing)
    for c in routing.chosen:
        answer = format_action("click", refs.get(c.name, "e1"), c.name)
        history.record_decision(
            run_id=run_id, step_id="route", instruction=routing.instruction, observation=page,
            action={"skill": c.name, "path": str(c.path), "params": c.values(), "part": c.part,
                    "confidence": round(c.confidence, 4)},
            outcome=outcome, context={"goal": f"choose the bot for: {c.part}", "history": [], "answer": answer})

