"""Logging: library code logs through loguru, disabled until the CLI calls ``setup``.

Secret values registered with ``register_secret`` are masked in every sink, and in any text passed
through ``mask`` (reports, error messages, datasets).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from loguru import logger

MASK = "********"
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember a secret value so it is masked wherever text leaves the process."""
    if value and len(value) >= 3:
        with _lock:
            _secrets.add(value)


def mask(text: Any) -> Any:
    if not isinstance(text, str) or not _secrets:
        return text
    for value in sorted(_secrets, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def _patch(record: dict[str, Any]) -> None:
    record["message"] = mask(record["message"])
    for key, value in list(record["extra"].items()):
        record["extra"][key] = mask(value)


_configured = False


def setup(*, verbose: bool = False, json_file: Path | None = None, level: str | None = None) -> None:
    """Add a console sink (stderr) and optionally a JSON-lines file; enable library logs.

    ``level`` overrides the console level (commands that print their own one-line errors use WARNING)."""
    global _configured
    logger.configure(patcher=_patch)  # type: ignore[arg-type]
    if not _configured:
        logger.remove()
        logger.add(
            sys.stderr,
            level=level or ("DEBUG" if verbose else "INFO"),
            format="<dim>{time:HH:mm:ss}</dim> <level>{level: <7}</level> {message}",
            colorize=None,
        )
        _configured = True
    for package in ("engine", "bots"):
        logger.enable(package)
    if json_file is not None:
        add_json_file(json_file)


def add_json_file(path: Path, **filters: str) -> int:
    """A JSON-lines sink; with ``run_id=...`` only that run's lines go there."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def keep(record: dict[str, Any]) -> bool:
        return all(record["extra"].get(k) == v for k, v in filters.items())

    logger.configure(patcher=_patch)  # type: ignore[arg-type]
    return logger.add(str(path), serialize=True, level="DEBUG", filter=keep, enqueue=False)


def remove_sink(sink_id: int) -> None:
    try:
        logger.remove(sink_id)
    except ValueError:
        pass
