"""``rpa bench soak``: a job every few seconds while a real daemon is SIGKILLed and restarted.

Everything happens in a throw-away ``RPA_HOME``. The job is a one-step plan against the bundled
sandbox when the bots are installed, else a tiny program (``command`` job); either way the daemon
path (claims, child processes, recovery) is the one users run. At the end, every scheduled time up
to shortly before the stop must have a history row (else it is ``lost``), and no scheduled time may
have succeeded twice or hold two rows for one attempt (``duplicates``).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine.config import Settings
from engine.history import History
from engine.jobs.models import JobDef
from engine.jobs.store import JobStore
from engine.jobs.triggers import build_trigger, fire_times, to_utc

GRACE_S = 5.0


class SoakResult(BaseModel):
    runs: int
    duplicates: int
    lost: int
    interrupted_recorded: int
    kills: int
    succeeded: int
    missed: int
    failed: int
    expected_slots: int
    job: str
    seconds: float


def _sandbox_plan(home: Path) -> tuple[Path, Any] | None:
    """A one-step plan on the sandbox, when the bots and the sandbox are both installed."""
    try:
        import bots.runner  # noqa: F401
        from bots.sandbox import start_sandbox
    except ImportError:
        return None
    server = start_sandbox(port=0)
    path = home / "soak.yaml"
    path.write_text(f"name: soak\nsteps:\n  - id: open\n    action: goto\n    value: {server.url}/\n", encoding="utf-8")
    return path, server


def _start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "engine.cli.main", "daemon", "--grace", str(GRACE_S)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _add_job(env: dict[str, str], every_s: float, plan: Path | None) -> str:
    work = [str(plan)] if plan else ["--command", f"{sys.executable} -c 'import time; time.sleep(0.2)'"]
    args = [sys.executable, "-m", "engine.cli.main", "schedule", "add", *work, "--every", f"{every_s:g}s",
            "--retries", "1", "--timeout", "60s", "--name", "soak"]
    subprocess.run(args, env=env, check=True, capture_output=True)
    store = JobStore(Settings(home=Path(env["RPA_HOME"]), db_url=env["RPA_DB"]))
    return store.all()[0].id


def _kill_times(seconds: float, kills: int, rng: random.Random) -> list[float]:
    """Random moments, spread out, none in the last stretch (a restart needs time to recover)."""
    window = max(seconds - 8.0, 1.0)
    slots = sorted(rng.uniform(2.0, 2.0 + window) for _ in range(kills))
    return [max(t, slots[i - 1] + 2.5) if i else t for i, t in enumerate(slots)]


def analyse(home: Path, url: str, job_id: str, until: datetime) -> dict[str, int]:
    settings = Settings(home=home, db_url=url)
    store = JobStore(settings, url=url)
    job: JobDef = store.get(job_id)
    rows = History(settings, url=url).list_runs(job_id=job_id, limit=100_000)
    expected = fire_times(build_trigger(job.trigger), job.anchor, until)
    seen = {to_utc(r.scheduled_for) for r in rows if r.scheduled_for}
    per_attempt = Counter((to_utc(r.scheduled_for), r.attempt) for r in rows if r.scheduled_for)
    succeeded = Counter(to_utc(r.scheduled_for) for r in rows if r.scheduled_for and r.status == "succeeded")
    statuses = Counter(r.status for r in rows)
    return {
        "runs": sum(n for s, n in statuses.items() if s != "missed"),
        "duplicates": sum(n - 1 for n in per_attempt.values() if n > 1) + sum(n - 1 for n in succeeded.values() if n > 1),
        "lost": sum(1 for t in expected if to_utc(t) not in seen),
        "interrupted_recorded": statuses.get("interrupted", 0),
        "succeeded": statuses.get("succeeded", 0),
        "missed": statuses.get("missed", 0),
        "failed": sum(n for s, n in statuses.items() if s not in ("succeeded", "missed", "interrupted", "running")),
        "expected_slots": len(expected),
    }


def soak(*, seconds: float = 60.0, kills: int = 3, every_s: float = 2.0, seed: int | None = None,
         keep: bool = False, browser_jobs: bool = True) -> SoakResult:
    """``browser_jobs``: a sandbox plan when the bots are installed, else a short program."""
    home = Path(tempfile.mkdtemp(prefix="rpa-soak-"))
    url = f"sqlite:///{home / 'rpa.db'}"
    env = {**os.environ, "RPA_HOME": str(home), "RPA_DB": url}
    sandbox = _sandbox_plan(home) if browser_jobs else None
    rng = random.Random(seed)
    daemon: subprocess.Popen[bytes] | None = None
    clock = time.monotonic()
    done_kills = 0
    try:
        job_id = _add_job(env, every_s, sandbox[0] if sandbox else None)
        daemon = _start_daemon(env, home / "daemon.log")
        for at in _kill_times(seconds, kills, rng):
            time.sleep(max(0.0, at - (time.monotonic() - clock)))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            done_kills += 1
            daemon = _start_daemon(env, home / "daemon.log")
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
        if sandbox:
            sandbox[1].stop()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    return SoakResult(kills=done_kills, job="sandbox-plan" if sandbox else "command",
                      seconds=round(time.monotonic() - clock, 1), **counts)
