"""Work-item queues on the dashboard (``engine.items``): items done, failed and left; retry failed.

Counts come from the queue store as
``rpa items list`` reads them; "retry failed" runs ``rpa items retry QUEUE --failed --json`` in a
child process, as on the command line.
"""

from __future__ import annotations

from typing import Any

from engine.config import Settings
from engine.items import QueueStore


def available() -> bool:
    return True


def summaries(settings: Settings, limit: int = 50) -> list[Any]:
    """Each queue's counts (the store derives item states from the history first, as the CLI does)."""
    store = QueueStore(settings)
    return [store.summary(q, store.refresh(q.id)) for q in store.queues(limit=limit)]


def find(settings: Settings, name: str) -> Any:
    """The queue named by its id (or a unique prefix); a ``ConfigError`` names what is wrong."""
    return QueueStore(settings).find_queue(name)
