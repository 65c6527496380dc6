"""Exactly once on real SQLite: history is the truth about a scheduled time, and the row that ends a
time closes its claim in the same transaction, whoever writes it (here a plain ``History``, as the
engine loop in a worker does). Each kill point leaves a store that recovery settles without re-running
a time that ended."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from engine.config import get_settings
from engine.errors import FailureKind
from engine.history import History
from engine.jobs.models import JobDef, TriggerSpec
from engine.jobs.recovery import recover
from engine.jobs.store import ClaimState, JobStore
from engine.jobs.tasks import record_missed
from engine.jobs.triggers import slot_key
from engine.outcome import RunOutcome, RunStatus

WHEN = datetime(2026, 11, 24, 11, tzinfo=timezone.utc)
SLOT = slot_key(WHEN)
NOW = datetime(2026, 11, 24, 11, 0, 30, tzinfo=timezone.utc)  # before the next hourly time: nothing else owed


@pytest.fixture
def store() -> JobStore:
    return JobStore(get_settings().ensure())


def put_job(store: JobStore, retries: int = 1) -> JobDef:
    job = JobDef(id="job", name="job", command=["true"], retries=retries, anchor=WHEN,
                 trigger=TriggerSpec(kind="interval", every_s=3600, start=WHEN))
    store.put(job)
    return job


def start(history: History, attempt: int = 1) -> str:
    return history.start_run("job", job_id="job", scheduled_for=WHEN, attempt=attempt)


def finish(history: History, run_id: str, attempt: int, kind: FailureKind | None) -> None:
    history.finish_run(RunOutcome(run_id=run_id, plan_name="job", attempt=attempt, error_kind=kind,
                                  status=RunStatus.succeeded if kind is None else RunStatus.failed,
                                  error=None if kind is None else f"failed ({kind.value})"))


def claim_of(store: JobStore) -> list[tuple[int, str, str | None]]:
    return [(c.attempt, c.state.value, c.status.value if c.status else None) for c in store.claims("job", slot=SLOT)]


def test_the_row_that_ends_a_time_closes_its_claim_in_the_same_transaction(store: JobStore) -> None:
    put_job(store)
    history = History(get_settings())  # another object on the same database, as the loop's in a worker
    assert store.claim("job", SLOT, 1)
    run_id = start(history)
    assert claim_of(store) == [(1, "running", None)]
    with store.engine.begin() as conn:  # a claim that cannot be closed must take the row down with it
        conn.execute(text("CREATE TRIGGER refuse BEFORE UPDATE ON job_claims "
                          "BEGIN SELECT RAISE(ABORT, 'no'); END"))
    with pytest.raises(Exception, match="no"):
        finish(history, run_id, 1, None)
    assert history.get_run(run_id).status == "running" and claim_of(store) == [(1, "running", None)]
    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse"))
    finish(history, run_id, 1, None)
    assert history.get_run(run_id).status == "succeeded"
    assert claim_of(store) == [(1, "finished", "succeeded")]


def test_an_application_failure_with_an_attempt_left_keeps_the_claim_open(store: JobStore) -> None:
    put_job(store, retries=1)
    history = store.history
    assert store.claim("job", SLOT, 1)
    finish(history, start(history, 1), 1, FailureKind.application)
    assert claim_of(store) == [(1, "running", None)]  # the worker goes on to attempt 2
    finish(history, start(history, 2), 2, FailureKind.application)
    assert claim_of(store) == [(1, "finished", "failed_application")]


def test_claim_asks_history(store: JobStore) -> None:
    put_job(store, retries=2)
    history = store.history
    finish(history, start(history, 1), 1, FailureKind.application)  # a row whose claim was lost
    assert not store.claim("job", SLOT, 1)  # attempt 1 ran already
    assert store.claim("job", SLOT, 2)  # the owed one
    assert not store.claim("job", SLOT, 3)  # attempt 2 still runs
    finish(history, start(history, 2), 2, FailureKind.business)
    assert not store.claim("job", SLOT, 3)  # a business failure is never retried


# What a SIGKILL of the daemon (its worker dies with it) leaves behind at each moment of one time,
# and what recovery must make of it: (rows as (attempt, status or None = still running), retries)
# -> (rows after recovery, the attempt retried or None).
KILL_POINTS = {
    "claimed, no row yet": ([], 1, [(1, "interrupted")], 2),
    "row written, work running": ([(1, None)], 1, [(1, "interrupted")], 2),
    "between attempts (backoff)": ([(1, FailureKind.application)], 1, [(1, "failed_application")], 2),
    "last attempt running": ([(1, None)], 0, [(1, "interrupted")], None),
    "claim open after success (older store)": ([(1, "ok")], 1, [(1, "succeeded")], None),
    "claim open after business failure (older store)": (
        [(1, FailureKind.business)], 3, [(1, "failed_business")], None),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_recovery_at_each_kill_point(store: JobStore, point: str) -> None:
    before, retries, after, retried = KILL_POINTS[point]
    put_job(store, retries=retries)
    assert store.claim("job", SLOT, 1)
    for attempt, end in before:
        run_id = start(store.history, attempt)
        if end is not None:
            finish(store.history, run_id, attempt, None if end == "ok" else end)
    if point.endswith("(older store)"):  # what the daemon closing claims later left: reopen it
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE job_claims SET state = 'running', status = NULL"))

    result = recover(store, now=NOW)
    rows = sorted((r.attempt, r.status) for r in store.history.list_runs(job_id="job"))
    assert rows == after
    assert [r.attempt for r in result.retries] == ([retried] if retried else [])
    assert all(c.state is not ClaimState.running for c in store.claims("job"))
    if retried is None:
        assert not store.claim("job", SLOT, 2)
    assert recover(store, now=NOW).retries == result.retries  # settled once: a second start plans the same


def test_a_missed_time_is_recorded_once_and_never_over_a_claim(store: JobStore) -> None:
    job = put_job(store)
    assert store.claim("job", SLOT, 1)
    assert not record_missed(store, job, WHEN, "late")
    later = WHEN.replace(hour=12)
    assert record_missed(store, job, later, "late") and not record_missed(store, job, later, "late")
    assert [(r.status, r.attempt) for r in store.history.list_runs(job_id="job")] == [("missed", 1)]
    missed = store.claims("job", states=(ClaimState.missed,))
    assert [(c.slot, c.state) for c in missed] == [(slot_key(later), "missed")]
