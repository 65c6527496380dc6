"""The LLM planner: instructions become plans (``engine.plan.Plan``), with a model that runs offline.

``get_planner(settings)`` loads the backend once per process. ``Planner.plan(instruction, url=...)``
returns a ``PlanResult``; ``await Planner.run_stepwise(page, instruction)`` acts on a live page;
``Planner.repair`` proposes a new target for a failed step; ``Planner.invalidate`` drops cached
plans. Decisions are recorded as ``Decision`` (the format the trainer learns from).
"""

from __future__ import annotations

import threading

from engine.config import Settings, get_settings
from engine.errors import ConfigError
from engine.planner.cache import CacheKey, DisabledCache, FileCache, MemoryCache, PlanCache, normalize_url
from engine.planner.models import Candidate, Decision, Goal, PlanResult
from engine.planner.planner import Planner, StepwiseResult

__all__ = [
    "CacheKey", "Candidate", "Decision", "DisabledCache", "FileCache", "Goal", "MemoryCache", "PlanCache",
    "PlanResult", "Planner", "StepwiseResult", "get_planner", "make_backend", "normalize_url",
]

_LOCK = threading.Lock()
_PLANNERS: dict[tuple[str, str, str], Planner] = {}


def make_backend(settings: Settings, backend: str | None = None, model: str | None = None):  # noqa: ANN201
    kind = (backend or settings.planner_backend or "local").lower()
    if kind == "local":
        from engine.planner.inference import LocalBackend
        from engine.planner.model import load_model

        return LocalBackend(load_model(settings, model or settings.model))
    if kind == "openai":
        from engine.planner.openai_backend import OpenAIBackend

        return OpenAIBackend(settings, model=model)
    raise ConfigError(f"Planner.backend: unknown backend '{kind}'. Use 'local' or 'openai' (RPA_PLANNER_BACKEND).")


def get_planner(settings: Settings | None = None, *, backend: str | None = None, model: str | None = None,
                cache: PlanCache | None = None) -> Planner:
    """The process-wide planner for this backend and model (the model loads once and stays resident)."""
    settings = settings or get_settings()
    kind = (backend or settings.planner_backend or "local").lower()
    key = (kind, model or settings.model or "", str(settings.home))
    with _LOCK:
        if key not in _PLANNERS or cache is not None:
            planner = Planner(settings, make_backend(settings, kind, model),
                              cache if cache is not None else FileCache(settings.home / "plancache"))
            if cache is not None:
                return planner
            _PLANNERS[key] = planner
        return _PLANNERS[key]
