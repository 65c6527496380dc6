"""The job store on real SQLite: definitions, APScheduler's table, claims, the lock, start-up recovery."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.config import get_settings
from engine.errors import ConfigError, PlanValidationError
from engine.history import HistoryStatus
from engine.jobs.lock import StoreLock
from engine.jobs.manage import JobRequest, add_job, list_jobs, remove_job, set_paused
from engine.jobs.models import JobDef, TriggerSpec
from engine.jobs.recovery import recover
from engine.jobs.store import JobStore
from engine.jobs.tasks import record_missed
from engine.jobs.triggers import slot_key

PLAN = "name: hello\nsteps:\n  - id: open\n    action: goto\n    value: http://127.0.0.1:9/\n"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def store() -> JobStore:
    return JobStore(get_settings().ensure())


def interval_job(job_id: str, *, every_s: float, start: datetime, anchor: datetime, retries: int = 1) -> JobDef:
    return JobDef(id=job_id, name=job_id, command=["true"], retries=retries, anchor=anchor,
                  trigger=TriggerSpec(kind="interval", every_s=every_s, start=start))


def test_add_list_pause_resume_remove(tmp_path: Path) -> None:
    plan = tmp_path / "hello.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    job = add_job(JobRequest(file=plan, cron="0 9 * * MON-FRI", tz="Europe/Berlin", retries=2, timeout="10m"))
    assert job.name == "hello" and job.plan_path == str(plan.resolve()) and job.timeout_s == 600
    [view] = list_jobs()
    assert view.job.id == job.id and view.next_run_time is not None
    assert view.next_run_time.astimezone(ZoneInfo("Europe/Berlin")).hour == 9

    assert set_paused(job.id, True).paused
    assert list_jobs()[0].next_run_time is None
    resumed = set_paused(job.id, False)
    assert not resumed.paused and resumed.anchor > job.anchor  # times owed while paused are not owed
    assert list_jobs()[0].next_run_time is not None

    remove_job(job.id)
    assert list_jobs() == []
    with pytest.raises(ConfigError, match=r"^Jobs.get: no job 'nope'. See `rpa schedule list`"):
        remove_job("nope")


def test_bad_input_at_add_stores_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nsteps: []\n", encoding="utf-8")
    with pytest.raises(PlanValidationError, match="broken.yaml"):
        add_job(JobRequest(file=broken, every="15m"))
    with pytest.raises(ConfigError, match="invalid cron expression"):
        add_job(JobRequest(command=["true"], cron="99 * * * *"))
    with pytest.raises(ConfigError, match="needs --url"):
        add_job(JobRequest(instruction="download the invoices", every="1h"))
    with pytest.raises(ConfigError, match="exactly one of FILE.yaml"):
        add_job(JobRequest(every="1h"))
    assert list_jobs() == []


def test_a_claim_is_taken_once(store: JobStore) -> None:
    slot = slot_key(utc(2026, 11, 24, 9))
    assert store.claim("j", slot, 1)
    assert not store.claim("j", slot, 1)  # a second daemon, or a re-fire after a crash
    assert not store.claim("j", slot, 2)  # attempt 1 still runs
    store.close_open_claims("j", slot, status=HistoryStatus.succeeded)
    assert not store.claim("j", slot, 2)  # a later attempt of a time that succeeded never runs
    assert store.claim("j", slot_key(utc(2026, 11, 24, 10)), 1, manual=True)
    assert store.last_slot("j") == slot  # manual runs are off the trigger's grid


def test_store_lock_refuses_a_second_holder(store: JobStore) -> None:
    home = store.settings.home
    first = StoreLock(store.url, home)
    first.acquire()
    try:
        with pytest.raises(ConfigError, match=r"^Daemon.start: another daemon \(pid \d+\) is already running"):
            StoreLock(store.url, home).acquire()
    finally:
        first.release()
    with StoreLock(store.url, home):  # released: free again
        pass


def test_corrupt_store_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"cannot open the database|job store .* failed"):
        JobStore(get_settings(), url=f"sqlite:///{bad}")


def test_recovery_closes_interrupted_runs_and_plans_one_retry(store: JobStore) -> None:
    now = utc(2026, 11, 24, 12)
    job = interval_job("crashy", every_s=3600, start=utc(2026, 11, 24, 11), anchor=utc(2026, 11, 24, 10, 30))
    store.put(job)
    slot = slot_key(utc(2026, 11, 24, 11))
    assert store.claim(job.id, slot, 1)
    run_id = store.history.start_run(job.name, job_id=job.id, scheduled_for=utc(2026, 11, 24, 11), attempt=1)

    first = recover(store, now=now)
    assert first.interrupted == [f"crashy@{slot}#1"]
    assert [(r.slot, r.attempt) for r in first.retries] == [(slot, 2)]
    assert store.history.get_run(run_id).status == "interrupted"
    assert first.due[0].slot == slot_key(utc(2026, 11, 24, 12))  # the time owed at 12:00 runs once

    # the retry was interrupted too: retries=1 allows no third attempt
    assert store.claim(job.id, slot, 2)
    second = recover(store, now=now)
    assert second.retries == [] and second.interrupted == [f"crashy@{slot}#2"]


def test_recovery_runs_the_latest_owed_time_and_records_the_rest_missed(store: JobStore) -> None:
    now = utc(2026, 11, 24, 12, 0, 30)
    job = interval_job("every-minute", every_s=60, start=utc(2026, 11, 24, 11, 50), anchor=utc(2026, 11, 24, 11, 49))
    store.put(job)
    result = recover(store, now=now)
    assert [r.slot for r in result.due] == [slot_key(utc(2026, 11, 24, 12))]
    assert result.missed == 10  # 11:50 .. 11:59
    rows = store.history.list_runs(job_id=job.id)
    assert {r.status for r in rows} == {"missed"} and len(rows) == 10
    assert recover(store, now=now).missed == 0  # recorded once


def test_recovery_beyond_the_grace_records_everything_missed(store: JobStore) -> None:
    job = interval_job("nightly", every_s=86400, start=utc(2026, 11, 20, 2), anchor=utc(2026, 11, 19))
    store.put(job)
    result = recover(store, now=utc(2026, 11, 24, 12))
    assert result.due == [] and result.missed == 5  # the 20th .. 24th at 02:00, all past the 5 min grace
    paused = interval_job("paused", every_s=60, start=utc(2026, 11, 24), anchor=utc(2026, 11, 24))
    store.put(paused.model_copy(update={"paused": True}))
    assert recover(store, now=utc(2026, 11, 24, 12)).missed == 0


def test_claims_survive_a_new_store_object(store: JobStore) -> None:
    job = interval_job("x", every_s=3600, start=utc(2026, 1, 1), anchor=utc(2026, 1, 1))
    store.put(job)
    when = utc(2026, 1, 1) + timedelta(hours=1)
    assert record_missed(store, job, when, "n")
    assert not record_missed(store, job, when, "n")  # once
    again = JobStore(store.settings)
    assert [(c.slot, c.state, c.status) for c in again.claims("x")] == [(slot_key(when), "missed", "missed")]
    assert [r.status for r in again.slot_runs("x", when)] == ["missed"]
