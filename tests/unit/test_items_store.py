"""An item's state comes from the history's runs: done once succeeded, cut off runs retried once,
a non-idempotent plan's cut-off item held for a person; one process per queue."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.config import get_settings
from engine.errors import ConfigError, FailureKind
from engine.items.models import Item
from engine.items.store import QueueBusyError, QueueLock, QueueStore
from engine.outcome import RunOutcome, RunStatus


def store(idempotent: bool = True) -> QueueStore:
    s = QueueStore(get_settings().ensure())
    s.upsert_queue(
        queue_id="q-1",
        key="k",
        items_path=Path("/x/in.csv"),
        plan_path=Path("/x/p.yaml"),
        plan_name="p",
        params={},
        sheet=None,
        output=None,
        concurrency=1,
        idempotent=idempotent,
    )
    s.sync_items(
        "q-1",
        [
            Item(
                job_id=f"item-{n}",
                row_key=str(n),
                line=n + 1,
                position=n,
                values={"n": str(n)},
                params={"n": str(n)},
            )
            for n in range(3)
        ],
    )
    return s


def run(s: QueueStore, job_id: str, attempt: int, status: str | None) -> str:
    """A run of ``job_id`` ending ``status`` (None: still running, as a killed process leaves it)."""
    run_id = s.history.start_run("p", job_id=job_id, attempt=attempt)
    if status is not None:
        kind = (
            None
            if status == "succeeded"
            else FailureKind.business
            if status == "failed_business"
            else FailureKind.application
        )
        s.history.finish_run(
            RunOutcome(
                run_id=run_id,
                plan_name="p",
                attempt=attempt,
                error_kind=kind,
                status=RunStatus.succeeded if status == "succeeded" else RunStatus.failed,
                outputs={"total": "1.00"} if status == "succeeded" else {},
                error=None if status == "succeeded" else "boom",
                finished_at=datetime.now(UTC),
            )
        )
    return run_id


def states(s: QueueStore) -> dict[str, str]:
    return {v.job_id: v.state.value for v in s.refresh("q-1")}


def test_states_follow_history() -> None:
    s = store()
    assert set(states(s).values()) == {"pending"}
    run(s, "item-0", 1, "failed_application")
    run(s, "item-0", 2, "succeeded")
    run(s, "item-1", 1, "failed_business")
    run(s, "item-2", 1, None)
    assert states(s) == {"item-0": "succeeded", "item-1": "failed_business", "item-2": "running"}
    done = next(v for v in s.refresh("q-1") if v.job_id == "item-0")
    assert done.attempt == 2 and done.outputs == {"total": "1.00"} and done.error is None
    summary = s.summary(s.queue("q-1"))
    assert (summary.items, summary.done, summary.failed, summary.left, summary.running) == (3, 1, 1, 1, 1)


def test_a_succeeded_run_wins_over_anything_later() -> None:
    s = store()
    run(s, "item-0", 1, "succeeded")
    run(s, "item-0", 2, "failed_application")
    assert states(s)["item-0"] == "succeeded"


def test_cut_off_runs_are_retried_once_then_held() -> None:
    s = store()
    run(s, "item-0", 1, None)
    assert s.interrupt_stale("q-1") and states(s)["item-0"] == "interrupted"
    run(s, "item-0", 2, None)
    s.interrupt_stale("q-1")
    assert states(s)["item-0"] == "held"  # cut off again: it may be what kills the runner
    assert s.release("q-1") == 1 and states(s)["item-0"] == "interrupted"
    run(s, "item-0", 3, "succeeded")
    assert states(s)["item-0"] == "succeeded"


def test_a_non_idempotent_plan_is_held_after_one_cut_off() -> None:
    s = store(idempotent=False)
    run(s, "item-1", 1, None)
    s.interrupt_stale("q-1")
    assert states(s)["item-1"] == "held"
    s.release("q-1")
    assert states(s)["item-1"] == "interrupted"


def test_rows_gone_from_the_file_are_kept_but_not_counted() -> None:
    s = store()
    s.sync_items("q-1", [Item(job_id="item-0", row_key="0", line=2, position=0, values={}, params={})])
    views = s.refresh("q-1")
    assert [v.job_id for v in views if v.present] == ["item-0"] and len(views) == 3
    assert s.summary(s.queue("q-1"), views).items == 1


def test_find_queue_by_prefix(tmp_path: Path) -> None:
    s = store()
    assert s.find_queue("q-").id == "q-1"
    with pytest.raises(ConfigError, match="Items.find: no queue 'nope'"):
        s.find_queue("nope")


def test_one_process_per_queue() -> None:
    settings = get_settings().ensure()
    with QueueLock(settings, "q-1"), pytest.raises(
        QueueBusyError, match=r"Items.lock: queue q-1 is being run by another process \(pid \d+\)"
    ):
        QueueLock(settings, "q-1").acquire()
    QueueLock(settings, "q-1").acquire().release()
