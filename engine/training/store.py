"""Where trained models live and how they are found again.

``RPA_HOME/models/NAME/`` holds ``adapter/`` (the peft LoRA adapter), ``merged/`` (base + adapter
as one safetensors model the planner loads like any folder) and ``training.json`` (base, base
fingerprint, example counts by source, losses, timings). The shipped base model is never written.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from engine.config import Settings
from engine.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The config fields that decide whether an adapter's weight shapes fit a base model.
_SHAPE_KEYS = ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "vocab_size")


class TrainingInfo(BaseModel):
    """``training.json`` of a trained model."""

    name: str
    base: str = Field(description="The base model as given (--base), or the embedded model's name.")
    base_fingerprint: str
    examples: dict[str, int] = Field(default_factory=dict, description="Examples by source.")
    epochs: int = 1
    steps: int = 0
    lora_rank: int = 8
    losses: list[float] = Field(default_factory=list, description="Mean loss per epoch.")
    seconds: float = 0.0
    examples_per_s: float = 0.0
    device: str = "cpu"
    created_at: str = ""


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise ConfigError(f"Training: bad model name {name!r}. Use letters, digits, '.', '_' or '-' (up to 64).")
    return name


def model_dir(settings: Settings, name: str) -> Path:
    return settings.models_dir / check_name(name)


def fingerprint(config: Any) -> str:
    """A short hash of the shape-deciding fields of a transformers config (object or dict)."""
    get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
    text = json.dumps({k: get(k, None) for k in _SHAPE_KEYS}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_info(settings: Settings, name: str) -> TrainingInfo:
    path = model_dir(settings, name) / "training.json"
    if not path.exists():
        raise ConfigError(f"Training: no trained model '{name}' in {settings.models_dir}. "
                          f"Train one with `rpa train --name {name}`.")
    return TrainingInfo.model_validate_json(path.read_text(encoding="utf-8"))


def resolve_model(name: str, settings: Settings) -> Path:
    """The folder of the merged weights of the trained model ``name`` (what the planner loads).

    ``engine.planner.model.resolve_source`` already looks in ``RPA_HOME/models/NAME/merged``, so
    ``--model NAME`` / ``RPA_MODEL=NAME`` work without calling this; it is for code that wants the
    path or a clear error first.
    """
    merged = model_dir(settings, name) / "merged"
    if not (merged / "config.json").exists():
        raise ConfigError(f"Training: no merged weights for '{name}' in {settings.models_dir}. "
                          f"Train it with `rpa train --name {name}`.")
    return merged


def list_models(settings: Settings) -> list[TrainingInfo]:
    out = []
    if settings.models_dir.is_dir():
        for path in sorted(settings.models_dir.glob("*/training.json")):
            try:
                out.append(TrainingInfo.model_validate_json(path.read_text(encoding="utf-8")))
            except ValueError:
                continue
    return out
