"""Export the stored decisions (observation, action, outcome) as JSON lines for fine-tuning.

Every text goes through ``engine.logs.mask`` after the secret store's values are registered, so a
secret typed during a run cannot reach the dataset even if it slipped into an observation.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from loguru import logger

from engine.config import Settings, get_settings
from engine.errors import ConfigError
from engine.history.store import masked_json as _masked
from engine.logs import register_secret


def _register_known_secrets(settings: Settings) -> int:
    from engine.secrets import SecretStore

    n = 0
    try:
        store = SecretStore(settings)
        for name in store.list():
            register_secret(store.get(name))
            n += 1
    except Exception as err:  # an unreadable store must not block an export; values stay masked by the log layer
        logger.warning("export-dataset: secret store unreadable ({}); masking registered values only",
                       type(err).__name__)
    return n




def example(decision: dict[str, Any]) -> dict[str, Any]:
    """One training example in the planner's decision format."""
    return _masked({
        "instruction": decision.get("instruction"),
        "observation": decision.get("observation"),
        "action": decision.get("action"),
        **{k: v for k, v in (decision.get("context") or {}).items() if k in ("goal", "history", "answer")},
        "outcome": decision.get("outcome"),
        "run_id": decision.get("run_id"),
        "step_id": decision.get("step_id"),
        "created_at": decision.get("created_at"),
    })


def export_dataset(out: str | os.PathLike[str], *, settings: Settings | None = None,
                   only_succeeded: bool = False, overwrite: bool = False) -> int:
    """Write one JSON object per decision to ``out`` (atomically); returns how many."""
    from engine.history import History

    settings = settings or get_settings()
    path = Path(out)
    if path.exists() and not overwrite:
        raise ConfigError(f"Dataset.export: {path} exists. Choose another --out or pass --force.")
    _register_known_secrets(settings)
    rows = [d.model_dump(mode="json") for d in History(settings).decisions()]
    if only_succeeded:
        rows = [r for r in rows if r.get("outcome") == "succeeded"]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(example(row), ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    logger.info("export-dataset: {} example(s) from the run history -> {}", len(rows), path)
    return len(rows)
