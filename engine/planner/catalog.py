"""What models this machine can plan with (``rpa models``), and a check that one works (``rpa doctor``).

Listed: the embedded model, models trained with ``rpa train``, GGUF files and Hugging Face folders
under ``RPA_HOME/models``, and the configured OpenAI-compatible server. Each entry names the
backends that can load it. ``check`` loads one (the same way the planner does) and answers one
fixed decision, with its timings.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

from pydantic import BaseModel, Field

from engine.config import Settings
from engine.errors import ConfigError

DOCTOR_LINES = (
    '[e1] link "Home"', '[e2] link "Invoices"', '[e3] heading "Sign in to Sandbox Invoices"',
    '[e4] textbox "Username"', '[e5] textbox "Password"', '[e6] button "Sign in"', '[e7] link "Forgot password?"')
DOCTOR_PAGE = "\n".join(DOCTOR_LINES)
DOCTOR_ANSWERS = ['click e6 "Sign in"', 'click e7 "Forgot password?"', 'click e1 "Home"', 'click e2 "Invoices"']


class ModelEntry(BaseModel):
    name: str = Field(description="What --model / RPA_MODEL take.")
    source: str = Field(description="embedded, trained, gguf, folder or server.")
    backends: list[str] = Field(description="Backends that can load it (--backend).")
    path: str | None = None
    size_bytes: int | None = None
    note: str = ""


class CheckResult(BaseModel):
    backend: str
    model: str
    ok: bool
    load_s: float
    decision_ms: float
    prompt_tokens: int
    tokens_per_s: float
    rss_mb: float
    chosen: str
    answers: list[str]
    stats: dict = Field(default_factory=dict)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def llama_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def list_usable(settings: Settings) -> list[ModelEntry]:
    from engine.planner.model import DEFAULT_NAME, embedded_gguf
    from engine.training import list_models

    llama = ["llama"] if llama_installed() else []
    no_llama = "" if llama else "--backend llama needs: pip install '.[llama]'"
    out: list[ModelEntry] = []
    try:
        gguf = embedded_gguf()
        out.append(ModelEntry(name=DEFAULT_NAME, source="embedded", backends=["local", *llama], path=str(gguf),
                              size_bytes=gguf.stat().st_size, note=f"the default (no --model). {no_llama}".strip()))
    except ConfigError as err:
        out.append(ModelEntry(name=DEFAULT_NAME, source="embedded", backends=[], note=err.message))
    trained = {m.name: m for m in list_models(settings)}
    root = settings.models_dir
    for name, info in sorted(trained.items()):
        merged = root / name / "merged"
        out.append(ModelEntry(name=name, source="trained", backends=["local"] if merged.is_dir() else [],
                              path=str(merged), size_bytes=_size(merged) if merged.is_dir() else None,
                              note=f"base {info.base}, {sum(info.examples.values())} examples"))
    if root.is_dir():
        for path in sorted([*root.glob("*.gguf"), *root.glob("*/*.gguf")]):
            if path.parent.name in trained:
                continue
            name = path.stem if path.parent == root else str(path.relative_to(root).parent)
            out.append(ModelEntry(name=name, source="gguf", backends=[*llama, "local"], path=str(path),
                                  size_bytes=path.stat().st_size, note=no_llama))
        for cfg in sorted(root.glob("*/config.json")):
            if cfg.parent.name not in trained:
                out.append(ModelEntry(name=cfg.parent.name, source="folder", backends=["local"],
                                      path=str(cfg.parent), size_bytes=_size(cfg.parent)))
    if settings.openai_base_url:
        out.append(ModelEntry(name=settings.openai_model or "default", source="server", backends=["openai"],
                              path=settings.openai_base_url, note="not contacted here; `rpa doctor --backend openai`"))
    return out


def rss_mb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def check(settings: Settings, backend: str | None = None, model: str | None = None) -> CheckResult:
    """Load the backend and model the planner would use, and answer one decision."""
    from engine.planner import make_backend
    from engine.planner.prompts import decision_messages

    kind = (backend or settings.planner_backend or "local").lower()
    t0 = time.perf_counter()
    b = make_backend(settings, kind, model)
    load_s = time.perf_counter() - t0
    messages = decision_messages("Sign in as alice", DOCTOR_PAGE, 'click "Sign in"')
    t1 = time.perf_counter()
    ranked = b.rank(messages, DOCTOR_ANSWERS)
    seconds = time.perf_counter() - t1
    stats = b.stats() if hasattr(b, "stats") else {}
    return CheckResult(backend=kind, model=b.name, ok=0 <= ranked.chosen < len(DOCTOR_ANSWERS),
                       load_s=round(load_s, 3), decision_ms=round(seconds * 1000, 1),
                       prompt_tokens=ranked.prompt_tokens,
                       tokens_per_s=round(ranked.prompt_tokens / seconds, 1) if seconds > 0 else 0.0,
                       rss_mb=round(rss_mb(), 1), chosen=DOCTOR_ANSWERS[ranked.chosen], answers=DOCTOR_ANSWERS,
                       stats=stats)


def backend_figures(backend: object) -> dict[str, object]:
    """The same throughput and memory fields for every backend, for benchmark JSON.

    ``tokens_per_s``: tokens the model ran per second in the model (the prompt tokens a server
    reports, for ``openai``); ``rss_mb``: this process (a server's own memory is not in it).
    """
    stats = dict(backend.stats()) if hasattr(backend, "stats") else {}
    model_s = float(stats.get("model_s") or 0.0)
    tokens = int(stats.get("forwarded_tokens") or stats.get("prompt_tokens") or 0)
    return {"backend_kind": getattr(backend, "kind", "?"), "load_s": stats.get("load_s"),
            "tokens_per_s": round(tokens / model_s, 1) if model_s > 0 else None, "rss_mb": round(rss_mb(), 1),
            "backend_stats": stats}
