"""Work-item queues on the dashboard (``engine.items``): items done, failed and left; retry failed.

The page and its action exist only in a build with ``engine.items`` (``available()``); without it
``/queues`` answers 404 and stays out of the navigation. Counts come from the queue store as
``rpa items list`` reads them; "retry failed" runs ``rpa items retry QUEUE --failed --json`` in a
child process, as on the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

from engine.config import Settings


def _items() -> Any | None:
    try:
        return importlib.import_module("engine.items")
    except ModuleNotFoundError as err:
        if (err.name or "").startswith("engine.items"):
            return None
        raise


def available() -> bool:
    items = _items()
    return items is not None and hasattr(items, "QueueStore")


def summaries(settings: Settings, limit: int = 50) -> list[Any]:
    """Each queue's counts (the store derives item states from the history first, as the CLI does)."""
    items = _items()
    assert items is not None
    store = items.QueueStore(settings)
    return [store.summary(q, store.refresh(q.id)) for q in store.queues(limit=limit)]


def find(settings: Settings, name: str) -> Any:
    """The queue named by its id (or a unique prefix); a ``ConfigError`` names what is wrong."""
    items = _items()
    assert items is not None
    return items.QueueStore(settings).find_queue(name)
