"""Learning from runs: fine-tune the planner's model (LoRA) on its own decisions and on recordings.

``collect(...)`` gathers masked examples in the planner's decision format from the history, the
recordings and datasets; ``train(examples, TrainConfig(name=...), settings)`` writes
``RPA_HOME/models/NAME/{adapter,merged,training.json}``; the planner loads ``merged`` with
``--model NAME`` (``resolve_model`` gives its path). Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from loguru import logger

from engine.config import Settings
from engine.errors import ConfigError
from engine.training.examples import (Collected, Example, from_dataset, from_history, masked,
                                      register_known_secrets)
from engine.training.store import TrainingInfo, list_models, model_dir, read_info, resolve_model
from engine.training.trainer import (Progress, TrainConfig, TrainResult, answer_loss, load_adapter, train,
                                     write_jsonl)

__all__ = [
    "Collected", "Example", "Progress", "TrainConfig", "TrainResult", "TrainingInfo", "answer_loss", "collect",
    "from_dataset", "from_history", "list_models", "load_adapter", "model_dir", "read_info", "resolve_model",
    "train", "write_jsonl",
]


def collect(settings: Settings, *, history: bool = False, recordings: str | Path | None = None,
            datasets: list[str | Path] | None = None) -> Collected:
    """Examples from the chosen sources, every text masked; malformed datasets fail here, before
    any model is loaded."""
    if not (history or recordings or datasets):
        raise ConfigError("Training: no source. Give --from-history, --recordings DIR or --dataset FILE.")
    out = Collected()
    for path in datasets or []:
        out.add(from_dataset(path))
    if history:
        out.add(from_history(settings))
    if recordings:
        from engine.training.recordings import from_recordings

        out.add(asyncio.run(from_recordings(recordings, settings)))
    # Values read during replay are registered as they are resolved; the store's values now.
    register_known_secrets(settings)
    out.examples = [masked(e) for e in out.examples]
    logger.info("train: {} example(s) {}", len(out.examples), out.counts())
    return out
