"""``rpa bench soak``: a job every few seconds while a real daemon is SIGKILLed and restarted.

Everything happens in a throw-away ``RPA_HOME``. The job is a one-step plan on ``page_url`` when
the caller serves a page (the CLI starts the sandbox), else a tiny program (``command`` job) that
notes each time it completed; either way the daemon path (claims, child processes, recovery) is the
one users run. Kills land at random moments, or with ``kill_after_run`` right after a run's final
history row is committed (the moment at which a daemon that closed its claim later would re-run a
finished time). At the end, every scheduled time up to shortly before the stop must have a history
row (else it is ``lost``); ``duplicates`` counts a time that succeeded twice, two rows for one
attempt, and any attempt after the one that ended its time (a business failure retried).
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pydantic import BaseModel

from engine.config import Settings
from engine.errors import ApplicationError
from engine.history import History, HistoryStatus, RunRecord
from engine.jobs.store import JobStore
from engine.jobs.triggers import build_trigger, fire_times, to_utc

GRACE_S = 5.0
WATCH_S = 0.005  # how often kill_after_run looks for a run's end
# Statuses only a run writes when it ends (recovery writes interrupted and missed).
RUN_ENDS = (HistoryStatus.succeeded, HistoryStatus.failed_business, HistoryStatus.failed_application,
            HistoryStatus.timeout)
ENDS_TIME = (HistoryStatus.succeeded, HistoryStatus.failed_business, HistoryStatus.timeout, HistoryStatus.missed)


class SoakResult(BaseModel):
    runs: int
    duplicates: int
    lost: int
    repeated_work: int | None  # command jobs: times whose program completed more than once
    interrupted_recorded: int
    kills: int
    kill_after_run: bool
    succeeded: int
    missed: int
    failed: int
    expected_slots: int
    job: str
    seconds: float
    home: str | None = None  # kept for a look (keep=True)


def _start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "engine.cli.main", "daemon", "--grace", str(GRACE_S)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _add_job(env: dict[str, str], every_s: float, work: list[str]) -> str:
    args = [sys.executable, "-m", "engine.cli.main", "schedule", "add", *work, "--every", f"{every_s:g}s",
            "--retries", "1", "--timeout", "60s", "--name", "soak"]
    subprocess.run(args, env=env, check=True, capture_output=True)
    store = JobStore(Settings(home=Path(env["RPA_HOME"]), db_url=env["RPA_DB"]))
    return store.all()[0].id


def _work(home: Path, page_url: str | None) -> list[str]:
    if page_url:
        path = home / "soak.yaml"
        path.write_text(f"name: soak\nsteps:\n  - id: open\n    action: goto\n    value: {page_url}\n",
                        encoding="utf-8")
        return [str(path)]
    done = home / "completed.txt"  # one line per completed program: a time twice is work done twice
    code = f"import os, time; time.sleep(0.2); open({str(done)!r}, 'a').write(os.environ['RPA_SCHEDULED_FOR'] + chr(10))"
    return ["--command", shlex.join([sys.executable, "-c", code])]


def _kill_times(seconds: float, kills: int, rng: random.Random) -> list[float]:
    """Random moments, spread out, none in the last stretch (a restart needs time to recover)."""
    window = max(seconds - 8.0, 1.0)
    slots = sorted(rng.uniform(2.0, 2.0 + window) for _ in range(kills))
    return [max(t, slots[i - 1] + 2.5) if i else t for i, t in enumerate(slots)]


def _ended(history: History, job_id: str, since: datetime | None = None) -> set[str]:
    rows = history.list_runs(job_id=job_id, limit=20, statuses=[s.value for s in RUN_ENDS])
    return {r.id for r in rows if since is None or (r.scheduled_for and to_utc(r.scheduled_for) >= since)}


def _wait_for_run_end(history: History, job_id: str, daemon: subprocess.Popen[bytes], limit_s: float,
                      since: datetime | None = None) -> None:
    """Until a run (of a time from ``since`` on) ends; polled often, so the kill that follows is early."""
    seen = _ended(history, job_id, since)
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if _ended(history, job_id, since) - seen:
            return
        if daemon.poll() is not None:
            raise ApplicationError(None, f"Soak.run: the daemon exited with code {daemon.returncode}. See its log (--keep).")
        time.sleep(WATCH_S)
    raise ApplicationError(None, f"Soak.run: no run ended within {limit_s:g} s. See the daemon log (--keep).")


def _wait_started(log: Path, offset: int, daemon: subprocess.Popen[bytes], limit_s: float = 120.0) -> datetime:
    """Until the daemon logs its start after ``offset`` of its log (recovery's runs are queued by then)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        with open(log, "rb") as fh:
            fh.seek(offset)
            if b"daemon: started" in fh.read():
                return datetime.now(timezone.utc)
        if daemon.poll() is not None:
            raise ApplicationError(None, f"Soak.run: the daemon exited with code {daemon.returncode}. See its log (--keep).")
        time.sleep(0.05)
    raise ApplicationError(None, f"Soak.run: the daemon did not start within {limit_s:g} s. See its log (--keep).")


def duplicates(rows: list[RunRecord]) -> int:
    """Rows that should not exist: an attempt after the one that ended its time (a second success, a
    retried business failure), or a second row of one attempt."""
    by_time: dict[datetime, list[RunRecord]] = defaultdict(list)
    for r in rows:
        if r.scheduled_for:
            by_time[to_utc(r.scheduled_for)].append(r)
    extra = 0
    for runs in by_time.values():
        end = min((r.attempt for r in runs if r.status in ENDS_TIME), default=None)
        kept = [r for r in runs if end is None or r.attempt <= end]
        extra += len(runs) - len(kept) + sum(n - 1 for n in Counter(r.attempt for r in kept).values())
    return extra


def analyse(home: Path, url: str, job_id: str, until: datetime) -> dict[str, int | None]:
    settings = Settings(home=home, db_url=url)
    job = JobStore(settings, url=url).get(job_id)
    rows = History(settings, url=url).list_runs(job_id=job_id, limit=100_000)
    expected = fire_times(build_trigger(job.trigger), job.anchor, until)
    seen = {to_utc(r.scheduled_for) for r in rows if r.scheduled_for}
    statuses = Counter(HistoryStatus(r.status) for r in rows)
    done = home / "completed.txt"
    repeated = (sum(1 for n in Counter(done.read_text().split()).values() if n > 1) if done.exists()
                else 0 if job.command else None)
    return {
        "runs": sum(n for s, n in statuses.items() if s is not HistoryStatus.missed),
        "duplicates": duplicates(rows),
        "lost": sum(1 for t in expected if to_utc(t) not in seen),
        "repeated_work": repeated,
        "interrupted_recorded": statuses.get(HistoryStatus.interrupted, 0),
        "succeeded": statuses.get(HistoryStatus.succeeded, 0),
        "missed": statuses.get(HistoryStatus.missed, 0),
        "failed": sum(n for s, n in statuses.items() if s in RUN_ENDS and s is not HistoryStatus.succeeded),
        "expected_slots": len(expected),
    }


def soak(*, seconds: float = 60.0, kills: int = 3, every_s: float = 2.0, seed: int | None = None,
         keep: bool = False, page_url: str | None = None, kill_after_run: bool = False) -> SoakResult:
    """``page_url``: the job is a one-step plan on that page (else a short program).
    ``kill_after_run``: each kill follows a run's end (``seconds`` is then the least the soak takes)."""
    home = Path(tempfile.mkdtemp(prefix="rpa-soak-"))
    url = f"sqlite:///{home / 'rpa.db'}"
    env = {**os.environ, "RPA_HOME": str(home), "RPA_DB": url}
    rng = random.Random(seed)
    daemon: subprocess.Popen[bytes] | None = None
    clock = time.monotonic()
    done_kills = 0
    try:
        job_id = _add_job(env, every_s, _work(home, page_url))
        offset = 0
        history = History(Settings(home=home, db_url=url), url=url)
        daemon = _start_daemon(env, home / "daemon.log")
        moments = [None] * kills if kill_after_run else _kill_times(seconds, kills, rng)
        for at in moments:
            if at is None:
                _wait_for_run_end(history, job_id, daemon, limit_s=3 * every_s + 60)
            else:
                time.sleep(max(0.0, at - (time.monotonic() - clock)))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            done_kills += 1
            offset = (home / "daemon.log").stat().st_size
            daemon = _start_daemon(env, home / "daemon.log")
        if done_kills:  # the last daemon has done what recovery gave it once a time fired after its start ends
            started = _wait_started(home / "daemon.log", offset, daemon)
            _wait_for_run_end(history, job_id, daemon, limit_s=3 * every_s + 60, since=started)
        time.sleep(max(0.0, seconds - (time.monotonic() - clock)))
        stop = datetime.now(timezone.utc)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=GRACE_S + 30)
        # the last times may be due while the daemon stops; they belong to the next start
        counts = analyse(home, url, job_id, stop - timedelta(seconds=2 * every_s))
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    return SoakResult(kills=done_kills, kill_after_run=kill_after_run, job="plan" if page_url else "command",
                      seconds=round(time.monotonic() - clock, 1), home=str(home) if keep else None, **counts)
