"""Data of a work-item queue: rows as read, items bound to a plan, and their state.

A *queue* is one plan over one items file with one set of ``--param`` values; an *item* is one row
of that file. Both are named by content hashes (``keys.py``), so reordering rows changes nothing
and editing a row makes a new item.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class ItemState(str, Enum):
    """Where an item stands. Derived from the history's runs (the source of truth) at each refresh."""

    pending = "pending"  # never ran
    running = "running"  # a run of it is in progress
    succeeded = "succeeded"  # one run succeeded: never run again
    failed_business = "failed_business"  # the site refused it (not retried within a batch)
    failed_application = "failed_application"  # technical failure after the plan's retries
    interrupted = "interrupted"  # its run was cut off: the next run retries it once
    held = "held"  # cut off and not safe to re-run: a person decides

    @property
    def final(self) -> bool:
        return self in (ItemState.succeeded, ItemState.held)

    @property
    def failed(self) -> bool:
        return self in (ItemState.failed_business, ItemState.failed_application)


class Row(BaseModel):
    """One row as read: ``line`` is the file's line (CSV, JSONL) or sheet row (XLSX), 1-based."""

    line: int
    values: dict[str, Any]


class ItemsTable(BaseModel):
    """An items file as read; never written back."""

    path: Path
    format: str  # csv | xlsx | jsonl
    sheet: str | None = None
    columns: list[str]
    rows: list[Row]

    def where(self, line: int) -> str:
        """``file:line`` (``file[sheet]:row`` for a workbook) for messages."""
        name = self.path.name + (f"[{self.sheet}]" if self.sheet else "")
        return f"{name}:{line}"


class Item(BaseModel):
    """One row bound to the plan: its own values and the params its run gets."""

    job_id: str
    row_key: str
    line: int
    position: int
    values: dict[str, str] = Field(description="The row's own non-empty columns.")
    params: dict[str, str] = Field(description="--param values overlaid with the row's columns.")


class ItemView(BaseModel):
    """An item with its state, as OUT, ``rpa items show`` and the report print it."""

    job_id: str
    line: int
    position: int
    values: dict[str, str]
    state: ItemState
    attempt: int = 0
    run_id: str | None = None
    error_kind: str | None = None
    error: str | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    report: str | None = None
    cutoffs: int = 0
    present: bool = True


class QueueSummary(BaseModel):
    """Counts of one queue: ``left`` is everything not done and not failed (pending, cut off, held)."""

    queue: str
    plan: str
    items_path: str
    items: int = 0
    done: int = 0
    failed: int = 0
    held: int = 0
    left: int = 0
    running: int = 0
    updated_at: str | None = None
    output: str | None = None
    report: str | None = None

    @classmethod
    def of(cls, queue: str, plan: str, items_path: str, views: list[ItemView], **extra: Any) -> QueueSummary:
        present = [v for v in views if v.present]
        states = [v.state for v in present]
        return cls(
            queue=queue,
            plan=plan,
            items_path=items_path,
            items=len(present),
            done=states.count(ItemState.succeeded),
            failed=sum(1 for s in states if s.failed),
            held=states.count(ItemState.held),
            running=states.count(ItemState.running),
            left=sum(1 for s in states if s not in (ItemState.succeeded,) and not s.failed),
            **extra,
        )


class QueueOutcome(BaseModel):
    """What one run of a queue did; ``ok`` only when every item of the file has succeeded."""

    model_config = {"arbitrary_types_allowed": True}

    summary: QueueSummary
    ran: int = 0
    skipped: int = 0
    items: list[ItemView] = Field(default_factory=list)
    batch: Any = None
    emitted: int = 0

    @property
    def ok(self) -> bool:
        s = self.summary
        return s.items > 0 and s.done == s.items

    def summary_json(self) -> dict[str, Any]:
        return {
            "status": "succeeded" if self.ok else "failed",
            **self.summary.model_dump(),
            "ran": self.ran,
            "skipped": self.skipped,
            "emitted": self.emitted,
            "entries": [
                {
                    "job_id": v.job_id,
                    "line": v.line,
                    "status": v.state.value,
                    "error_kind": v.error_kind,
                    "error": v.error,
                    "attempt": v.attempt,
                    "run_id": v.run_id,
                    "report": v.report,
                }
                for v in self.items
                if v.present
            ],
        }
