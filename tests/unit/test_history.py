"""Run history on a real SQLite file in a temp RPA_HOME."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import datetime, timezone

import pytest

from engine.config import get_settings
from engine.history import History, HistoryStatus
from engine.logs import register_secret
from engine.errors import FailureKind
from engine.outcome import RunOutcome, RunStatus, StepOutcome, StepStatus


def _outcome(run_id: str, status: RunStatus = RunStatus.succeeded, kind: FailureKind | None = None) -> RunOutcome:
    return RunOutcome(
        run_id=run_id, plan_name="p", status=status, error_kind=kind,
        error=None if status is RunStatus.succeeded else "Step 'b': boom",
        steps=[
            StepOutcome(id="a", action="goto", status=StepStatus.succeeded, seconds=0.5, locator=None),
            StepOutcome(id="b", action="click", status=StepStatus.succeeded, seconds=0.2, attempts=2,
                        locator='test_id="go"', screenshot="screens/b.png"),
        ],
        outputs={"total": "42", "rows": [{"a": "1"}]}, seconds=0.7,
    )


def test_run_is_written_before_it_finishes_and_closed_after():
    history = History()
    run_id = history.start_run("p", job_id="job1", plan_path="/x/p.yaml", attempt=2)
    rec = history.get_run(run_id)
    assert rec is not None and rec.status == "running" and rec.attempt == 2 and rec.job_id == "job1"
    history.finish_run(_outcome(run_id), sites={"a": "127.0.0.1", "b": "127.0.0.1"})
    rec = history.get_run(run_id)
    assert rec.status == "succeeded"
    assert rec.outputs["rows"] == [{"a": "1"}]
    assert [s.step_id for s in rec.steps] == ["a", "b"]
    assert rec.steps[1].attempts == 2 and rec.steps[1].locator == 'test_id="go"'
    assert rec.steps[0].site == "127.0.0.1"
    assert rec.finished_at is not None and rec.finished_at.tzinfo is not None


def test_database_lives_under_rpa_home_in_wal_mode(rpa_home):
    History().start_run("p")
    db = rpa_home / "rpa.db"
    assert db.exists()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (RunStatus.failed, FailureKind.business, HistoryStatus.failed_business),
        (RunStatus.failed, FailureKind.application, HistoryStatus.failed_application),
        (RunStatus.failed, None, HistoryStatus.failed_application),
        (RunStatus.interrupted, None, HistoryStatus.interrupted),
    ],
)
def test_failure_statuses(status, kind, expected):
    history = History()
    run_id = history.start_run("p")
    history.finish_run(_outcome(run_id, status, kind))
    rec = history.get_run(run_id)
    assert rec.status == expected.value
    assert rec.error == "Step 'b': boom"


def test_explicit_status_for_timeouts_and_missed_runs():
    history = History()
    run_id = history.start_run("p")
    history.set_status(run_id, HistoryStatus.timeout.value, error="Job.run: timed out after 10 s.")
    assert history.get_run(run_id).status == "timeout"
    missed = history.start_run("p", status=HistoryStatus.missed.value)
    assert history.get_run(missed).status == "missed"


def test_list_filters_by_job_newest_first_and_limits():
    history = History()
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ids = [history.start_run("p", job_id="j" if i % 2 else "k", started_at=t0.replace(hour=i)) for i in range(6)]
    runs = history.list_runs(job_id="j")
    assert [r.id for r in runs] == [ids[5], ids[3], ids[1]]
    assert len(history.list_runs(limit=2)) == 2


def test_get_run_by_unique_prefix():
    history = History()
    run_id = history.start_run("p", run_id="20260101-000000-abcdef")
    history.start_run("p", run_id="20260101-000000-abc999")
    assert history.get_run("20260101-000000-abcd").id == run_id
    assert history.get_run("20260101-000000-abc") is None  # ambiguous
    assert history.get_run("nope") is None


def test_running_runs_become_interrupted_after_a_crash():
    history = History()
    alive = history.start_run("p")
    done = history.start_run("p")
    history.finish_run(_outcome(done))
    assert history.mark_running_as_interrupted() == [alive]
    assert history.get_run(alive).status == "interrupted"
    assert history.get_run(done).status == "succeeded"
    assert history.mark_running_as_interrupted() == []


def test_durations_keep_a_running_mean_and_variance():
    history = History()
    assert history.duration_estimate("s", "click") is None
    for x in (1.0, 2.0, 3.0, 4.0):
        history.update_duration("s", "click", x)
    assert history.duration_estimate("s", "click") == pytest.approx(2.5)
    n, mean, var = history.duration_stats("s", "click")
    assert (n, mean, var) == (4, pytest.approx(2.5), pytest.approx(5 / 3))
    assert history.duration_estimate("s", "fill") is None


def test_decisions_are_stored_with_secrets_masked():
    register_secret("hunter2-secret")
    history = History()
    history.record_decision(run_id="r", step_id="s", instruction="log in", observation="[1]<textbox> hunter2-secret",
                            action={"verb": "fill", "value": "hunter2-secret"}, outcome="succeeded")
    [d] = [d.model_dump(mode='json') for d in history.decisions()]
    assert "hunter2-secret" not in d["observation"] and "hunter2-secret" not in str(d["action"])
    assert d["outcome"] == "succeeded"


def test_a_database_from_an_older_version_gains_new_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # the decisions table as the first release wrote it
        db.execute("CREATE TABLE decisions (pk INTEGER PRIMARY KEY, run_id VARCHAR(64), step_id VARCHAR(200), "
                   "instruction TEXT, observation TEXT, action JSON, outcome VARCHAR(64), created_at DATETIME)")
        db.execute("INSERT INTO decisions (run_id, instruction, outcome, created_at) "
                   "VALUES ('old', 'kept', 'succeeded', '2026-01-01 00:00:00')")
    history = History(url=f"sqlite:///{path}")
    history.record_decision(run_id="new", step_id="s2", instruction="i", observation="[e1] button \"Go\"",
                            action={"action": "click"}, outcome="succeeded",
                            context={"goal": "click Go", "history": [], "answer": 'click e1 "Go"'})
    rows = [d.model_dump(mode='json') for d in history.decisions()]
    assert [r["instruction"] for r in rows] == ["kept", "i"]
    assert rows[0]["context"] is None and rows[1]["context"]["answer"] == 'click e1 "Go"'
    assert [d.model_dump(mode="json") for d in History(url=f"sqlite:///{path}").decisions()] == rows  # a second open changes nothing


def test_errors_and_outputs_are_masked():
    register_secret("topsecret-value")
    history = History()
    run_id = history.start_run("p")
    out = _outcome(run_id, RunStatus.failed, FailureKind.business)
    out.error = "bad password topsecret-value"
    out.outputs = {"x": "topsecret-value"}
    history.finish_run(out)
    rec = history.get_run(run_id)
    assert "topsecret-value" not in rec.error and "topsecret-value" not in str(rec.outputs)


def test_any_url_through_settings(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("RPA_DB", url)
    history = History(get_settings())
    assert history.url == url
    history.start_run("p")
    assert (tmp_path / "other.db").exists()


def _writer(url: str, n: int) -> None:
    history = History(url=url)
    for _ in range(n):
        run_id = history.start_run("p")
        history.update_duration("s", "click", 1.0)
        history.set_status(run_id, "succeeded")


def test_several_processes_write_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    History(url=url)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, 15)) for _ in range(2)]
    for p in procs:
        p.start()
    _writer(url, 15)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    history = History(url=url)
    assert len(history.list_runs(limit=100)) == 45
    assert history.duration_stats("s", "click")[0] == 45
