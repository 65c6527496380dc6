"""The LLM planner: instructions become plans (``engine.plan.Plan``), with a model that runs offline.

``get_planner(settings)`` loads the backend once per process (lazily: a cached plan loads no
model). ``await Planner.act(session, instruction, url=...)`` does the instruction once on a bot
session and returns a ``PlanningResult``; ``Planner.cached`` replays need no model;
``Planner.repair`` proposes a new target for a failed step. Decisions are recorded as ``Decision``
(the format the trainer learns from).
"""

from __future__ import annotations

import threading

from engine.config import Settings, get_settings
from engine.errors import ConfigError
from engine.planner.cache import CacheKey, DisabledCache, FileCache, MemoryCache, PlanCache, normalize_url
from engine.planner.models import Decision, PlanningResult
from engine.planner.planner import Planner

__all__ = [
    "CacheKey", "Decision", "DisabledCache", "FileCache", "LazyBackend", "MemoryCache", "PlanCache", "Planner",
    "PlanningResult", "get_planner", "make_backend", "normalize_url",
]

_LOCK = threading.Lock()
_PLANNERS: dict[tuple[str, str, str], Planner] = {}


def make_backend(settings: Settings, backend: str | None = None, model: str | None = None):  # noqa: ANN201
    kind = (backend or settings.planner_backend or "local").lower()
    if kind == "local":
        from engine.planner.inference import LocalBackend
        from engine.planner.model import load_model

        return LocalBackend(load_model(settings, model or settings.model))
    if kind == "llama":
        from engine.planner.llama_backend import LlamaBackend

        return LlamaBackend(settings, model)
    if kind == "openai":
        from engine.planner.openai_backend import OpenAIBackend

        return OpenAIBackend(settings, model=model)
    raise ConfigError(f"Planner.backend: unknown backend '{kind}'. "
                      "Use 'local', 'llama' or 'openai' (RPA_PLANNER_BACKEND).")


class LazyBackend:
    """Loads the real backend on the first decision, so a plan-cache hit never loads a model."""

    def __init__(self, settings: Settings, kind: str, model: str | None) -> None:
        self._args = (settings, kind, model)
        self._backend = None
        self.kind = kind
        self._name = model or (settings.openai_model if kind == "openai" else settings.model or "SmolLM2-135M-Instruct")

    def _get(self):  # noqa: ANN202
        if self._backend is None:
            self._backend = make_backend(*self._args)
        return self._backend

    @property
    def name(self) -> str:
        return self._backend.name if self._backend is not None else str(self._name or "default")

    @property
    def calls(self) -> int:
        return self._backend.calls if self._backend is not None else 0

    def rank(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return self._get().rank(*args, **kwargs)

    def count_tokens(self, text: str) -> int:
        if self._backend is None:  # never load a model just to count: about 4 characters a token
            return max(1, len(text) // 4)
        return self._backend.count_tokens(text)

    def load(self) -> None:
        self._get()

    def stats(self) -> dict[str, float]:
        stats = getattr(self._backend, "stats", None)
        return stats() if stats is not None else {}


def get_planner(settings: Settings | None = None, *, backend: str | None = None, model: str | None = None,
                cache: PlanCache | None = None) -> Planner:
    """The process-wide planner for this backend and model (the model loads once and stays resident)."""
    settings = settings or get_settings()
    kind = (backend or settings.planner_backend or "local").lower()
    key = (kind, model or settings.model or "", str(settings.home))
    with _LOCK:
        if key not in _PLANNERS or cache is not None:
            planner = Planner(settings, LazyBackend(settings, kind, model),
                              cache if cache is not None else FileCache(settings.home / "plancache"))
            if cache is not None:
                return planner
            _PLANNERS[key] = planner
        return _PLANNERS[key]
