"""The daemon as users run it: real ``rpa daemon`` processes, SIGKILL and SIGTERM, real SQLite.

Jobs are ``command`` jobs (a tiny Python program) so each run costs a process, not a browser; the
path through claims, worker processes, history and recovery is the same as for plans. Waits poll
the store until a state is reached (bounded), nothing asserts on durations."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from engine.config import get_settings
from engine.history import History
from engine.jobs.daemon import Daemon, DaemonOptions
from engine.jobs.manage import JobRequest, add_job, run_now
from engine.jobs.soak import soak
from engine.jobs.store import JobStore

T = TypeVar("T")
PLAN = "name: hello\nsteps:\n  - id: open\n    action: goto\n    value: http://127.0.0.1:9/\n"


def wait_for(check: Callable[[], T], what: str, limit_s: float = 45.0, poll_s: float = 0.1) -> T:
    """Poll until ``check()`` is truthy; a bound on waiting, not an assertion on speed."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"gave up waiting for {what}")


def program(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


def rpa(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``rpa daemon`` processes; any still running at the end is killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> subprocess.Popen[bytes]:
        log = tmp_path / f"daemon-{len(started)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "daemon", *extra], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        proc.log = log  # type: ignore[attr-defined]
        started.append(proc)
        wait_for(lambda: "daemon: started" in log.read_text(errors="replace") or proc.poll() is not None,
                 "the daemon to start")
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper has finished)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def pid_in(path: Path) -> int | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.strip().isdigit() else None


def rows(job_id: str) -> list[Any]:
    return sorted(History(get_settings()).list_runs(job_id=job_id, limit=500), key=lambda r: (r.scheduled_for, r.attempt))


def soon(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def test_second_daemon_refuses_run_now_queues_and_the_lock_dies_with_its_holder(daemons: Callable[..., Any]) -> None:
    first = daemons()
    second = rpa("daemon")
    assert second.returncode == 1
    assert f"another daemon (pid {first.pid}) is already running on the job store" in second.stderr
    job = add_job(JobRequest(command=shlex.split(program("pass")), every="1h", name="manual"))
    queued = rpa("schedule", "run-now", job.id)
    assert queued.returncode == 0 and "queued for the running daemon" in queued.stdout
    wait_for(lambda: [r for r in rows(job.id) if r.status == "succeeded"], "the daemon to run the queued job")
    first.send_signal(signal.SIGKILL)
    first.wait()
    third = daemons()  # no stale lock after kill -9
    assert third.poll() is None
    third.send_signal(signal.SIGTERM)
    assert third.wait(timeout=30) == 0


def test_sigkill_mid_run_is_recorded_interrupted_and_retried_once(daemons: Callable[..., Any], tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    code = (f"import os, time; a = os.environ['RPA_ATTEMPT']; open(r'{pids}/' + a, 'w').write(str(os.getpid())); "
            "time.sleep(120 if a == '1' else 0)")
    job = add_job(JobRequest(command=shlex.split(program(code)), at=soon(1.5), retries=1, name="crashy"))
    daemon = daemons()
    pid = wait_for(lambda: pid_in(pids / "1"), "attempt 1 to start")
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()
    wait_for(lambda: not alive(pid), "the orphaned run to die with the daemon")
    assert [r.status for r in rows(job.id)] == ["running"]  # what a crash leaves behind

    restarted = daemons()
    done = wait_for(lambda: [r for r in rows(job.id) if r.status == "succeeded"], "the retry to succeed")
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(timeout=30) == 0
    history = rows(job.id)
    assert [(r.attempt, r.status) for r in history] == [(1, "interrupted"), (2, "succeeded")]
    assert len(done) == 1 and history[0].scheduled_for == history[1].scheduled_for
    assert "while this run was in progress" in (history[0].error or "")


def test_sigterm_lets_the_grace_run_out_then_interrupts(daemons: Callable[..., Any], tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time; open(r'{pid_file}', 'w').write(str(os.getpid())); time.sleep(120)"
    job = add_job(JobRequest(command=shlex.split(program(code)), at=soon(1.5), retries=0, name="slow"))
    daemon = daemons("--grace", "1")
    pid = wait_for(lambda: pid_in(pid_file), "the run to start")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    wait_for(lambda: not alive(pid), "the killed run to be gone")
    [row] = rows(job.id)
    assert row.status == "interrupted" and "daemon stopped before the run ended" in (row.error or "")
    assert "SIGTERM received" in daemon.log.read_text()


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RPA_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    _Hook.received = []
    yield _Hook.received
    server.shutdown()
    server.server_close()


def test_retries_timeouts_and_failure_notifications(tmp_path: Path, webhook: list[dict[str, Any]]) -> None:
    flaky = add_job(JobRequest(command=shlex.split(program("import os, sys; sys.exit(1 if os.environ['RPA_ATTEMPT'] == '1' else 0)")),
                               every="1h", retries=2, name="flaky"))
    assert run_now(flaky.id) == "succeeded"
    assert [(r.attempt, r.status) for r in rows(flaky.id)] == [(1, "failed_application"), (2, "succeeded")]

    refused = add_job(JobRequest(command=shlex.split(program("import sys; sys.exit(2)")), every="1h", retries=3,
                                 name="refused"))
    assert run_now(refused.id) == "failed_business"
    assert [(r.attempt, r.status) for r in rows(refused.id)] == [(1, "failed_business")]  # never retried

    pid_file = tmp_path / "pid"
    hung = add_job(JobRequest(command=shlex.split(program(f"import os, time; open(r'{pid_file}', 'w').write(str(os.getpid())); time.sleep(120)")),
                              every="1h", retries=1, timeout="1s", name="hung"))
    assert run_now(hung.id) == "timeout"
    [row] = rows(hung.id)
    assert row.status == "timeout" and "ran past its timeout of 1 s" in (row.error or "")
    wait_for(lambda: not alive(pid_in(pid_file) or 0), "the timed-out run to be gone")

    assert [(n["job_id"], n["status"]) for n in webhook] == [(refused.id, "failed_business"), (hung.id, "timeout")]
    assert webhook[0]["event"] == "job_failed" and "exited with code 2" in webhook[0]["text"]


def test_a_job_file_that_breaks_is_a_failed_run_and_the_others_go_on(tmp_path: Path) -> None:
    plan = tmp_path / "hello.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    broken = add_job(JobRequest(file=plan, every="1s", name="broken"))
    plan.write_text("name: hello\nsteps:\n  - id: open\n    action: teleport\n", encoding="utf-8")
    fine = add_job(JobRequest(command=shlex.split(program("pass")), every="1s", name="fine"))
    daemon = Daemon(get_settings(), options=DaemonOptions(grace_s=5, poll_s=0.5))
    daemon.start()
    try:
        wait_for(lambda: len([r for r in rows(fine.id) if r.status == "succeeded"]) >= 2, "two good runs")
        failed = wait_for(lambda: [r for r in rows(broken.id) if r.status == "failed_business"], "the broken run")
    finally:
        daemon.stop()
    assert failed[0].error and failed[0].error.startswith("Plan.validate:")


def test_short_soak_has_no_duplicates_and_loses_nothing() -> None:
    # Program jobs: a run shorter than the 1 s period, so every slot is due a run of its own. Kills at
    # random moments; whatever moment they hit, history decides, so the counts do not depend on it.
    result = soak(seconds=14, kills=2, every_s=1.0, seed=7)
    assert result.kills == 2 and result.expected_slots >= 8
    assert result.duplicates == 0 and result.lost == 0, result


def test_soak_with_ten_kills_right_after_a_run_ends_runs_nothing_twice() -> None:
    # The worst moment: the run's final row is committed, the daemon has not moved on. A daemon that
    # closed its claim after that (another transaction) re-ran the time after 8 of these 10 kills.
    result = soak(seconds=5, kills=10, every_s=1.0, kill_after_run=True)
    assert result.kills == 10 and result.kill_after_run
    assert result.duplicates == 0 and result.repeated_work == 0 and result.lost == 0, result


def test_a_business_failure_killed_right_after_it_ends_is_never_retried(
        daemons: Callable[..., Any], webhook: list[dict[str, Any]]) -> None:
    job = add_job(JobRequest(command=shlex.split(program("import sys; sys.exit(2)")), every="1s", retries=2,
                             name="refused"))
    history = History(get_settings())

    def refused(since: datetime | None = None) -> set[str]:
        found = history.list_runs(job_id=job.id, limit=50, statuses=["failed_business"])
        return {r.id for r in found if since is None or (r.scheduled_for and r.scheduled_for >= since)}

    for _ in range(3):
        before = refused()
        daemon = daemons()
        wait_for(lambda before=before: refused() - before, "a run to end", poll_s=0.005)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
    last = daemons()
    started = datetime.now(timezone.utc)
    wait_for(lambda: refused(started), "the restarted daemon to run a time of its own")
    last.send_signal(signal.SIGTERM)
    assert last.wait(timeout=30) == 0

    runs = rows(job.id)
    assert {r.status for r in runs} <= {"failed_business", "missed"}
    assert [(r.scheduled_for, r.attempt) for r in runs if r.attempt > 1] == []  # never a second attempt
    notified = Counter(n["scheduled_for"] for n in webhook)
    assert all(n == 1 for n in notified.values()) and {n["status"] for n in webhook} == {"failed_business"}


def test_a_plan_job_runs_through_the_loop_and_its_claim_closes_with_its_row(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        plan = tmp_path / "page.yaml"
        plan.write_text(f"name: page\nsteps:\n  - id: open\n    action: goto\n"
                        f"    value: http://127.0.0.1:{server.server_port}/\n", encoding="utf-8")
        job = add_job(JobRequest(file=plan, every="1h", retries=0, name="page"))
        assert run_now(job.id) == "succeeded"
    finally:
        server.shutdown()
        server.server_close()
    [row] = rows(job.id)
    [claim] = JobStore(get_settings()).claims(job.id)
    assert row.status == "succeeded" and (claim.state.value, claim.status.value) == ("finished", "succeeded")
    assert claim.note is None  # closed by the row's own transaction, not afterwards by the daemon


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body><h1>ok</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass
