"""Work items: one plan over the rows of a CSV, XLSX or JSON-lines file, each item succeeded at most once.

``run_queue(QueueRequest(plan_path=..., items_path=..., output=...))`` runs what is left of a queue;
the queue's state lives in the history database (``QueueStore``), the items file is only read.
"""

from engine.items.models import Item, ItemsTable, ItemState, ItemView, QueueOutcome, QueueSummary, Row
from engine.items.reader import read_items
from engine.items.runner import QueueRequest, prepare, run_queue, run_scheduled
from engine.items.store import QueueLock, QueueStore

__all__ = [
    "Item",
    "ItemState",
    "ItemView",
    "ItemsTable",
    "QueueLock",
    "QueueOutcome",
    "QueueRequest",
    "QueueStore",
    "QueueSummary",
    "Row",
    "prepare",
    "read_items",
    "run_queue",
    "run_scheduled",
]
