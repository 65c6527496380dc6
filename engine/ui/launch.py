"""Runs started from the dashboard go through the command line, as a user's would.

``rpa run PLAN --param k=v --json`` and ``rpa schedule run-now JOB`` in a child process: history,
allowed domains, secrets and masking are exactly the CLI's, and a hung bot never blocks the web
server. Each child starts its own session, so stopping the dashboard lets started runs finish.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

from loguru import logger
from pydantic import BaseModel, Field

from engine.logs import mask

KEEP = 50  # launches remembered for the runs page
CHILD_ENV_DROP = ("RPA_UI_TOKEN",)


class Launch(BaseModel):
    id: str
    kind: str  # "bot" or "job"
    label: str
    started_at: datetime
    pid: int | None = None
    finished: bool = False
    returncode: int | None = None
    run_ids: list[str] = Field(default_factory=list)
    status: str | None = None  # succeeded / failed / queued, from the child's answer
    message: str | None = None  # the child's one-line error, masked


def _rpa(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli.main", *args]


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROP}
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class Launcher:
    """Starts child processes and remembers what became of the last ``KEEP``."""

    def __init__(self, cwd: Path | None = None) -> None:
        self.cwd = cwd
        self._launches: deque[Launch] = deque(maxlen=KEEP)
        self._procs: dict[str, subprocess.Popen[str]] = {}
        self._lock = threading.Lock()

    def run_plan(self, plan_path: Path, params: dict[str, str], label: str) -> Launch:
        args = ["run", str(plan_path), "--json"]
        for key, value in params.items():
            args += ["--param", f"{key}={value}"]
        return self._start("bot", label, _rpa(*args))

    def run_job(self, job_id: str) -> Launch:
        return self._start("job", job_id, _rpa("schedule", "run-now", job_id))

    def retry_queue(self, queue_id: str) -> Launch:
        return self._start("queue", queue_id, _rpa("items", "retry", queue_id, "--failed", "--json"))

    def launches(self) -> list[Launch]:
        with self._lock:
            return [launch.model_copy() for launch in reversed(self._launches)]

    def running(self) -> int:
        with self._lock:
            return sum(1 for launch in self._launches if not launch.finished)

    def _start(self, kind: str, label: str, argv: list[str]) -> Launch:
        launch = Launch(
            id=secrets.token_hex(4), kind=kind, label=label, started_at=datetime.now(timezone.utc)
        )
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(),
            cwd=self.cwd,
            start_new_session=True,
        )
        launch.pid = proc.pid
        with self._lock:
            self._launches.append(launch)
            self._procs[launch.id] = proc
        logger.info("ui: started {} {} (pid {})", kind, label, proc.pid)
        threading.Thread(
            target=self._wait, args=(launch, proc), name=f"ui-launch-{launch.id}", daemon=True
        ).start()
        return launch

    def _wait(self, launch: Launch, proc: subprocess.Popen[str]) -> None:
        out, err = proc.communicate()
        run_ids, status = _parse_answer(launch.kind, out)
        lines = [line.strip() for line in (err or "").splitlines() if line.strip()]
        message = next((line for line in reversed(lines) if line.startswith("error:")), None)
        if message is None and proc.returncode != 0 and lines:
            message = lines[-1]  # not one of our one-line errors (a crash): its last line says most
        with self._lock:
            launch.finished, launch.returncode = True, proc.returncode
            launch.run_ids, launch.status = (
                run_ids,
                status or ("succeeded" if proc.returncode == 0 else "failed"),
            )
            launch.message = mask(message[:500]) if message else None
            self._procs.pop(launch.id, None)
        logger.info("ui: {} {} ended with exit code {}", launch.kind, launch.label, proc.returncode)

    def stop_all(self, timeout_s: float = 0.0) -> None:
        """For tests and shutdown hooks that want no child left: terminate what still runs."""
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=timeout_s or None)
            except subprocess.TimeoutExpired:
                proc.kill()


def _parse_answer(kind: str, out: str | None) -> tuple[list[str], str | None]:
    """Run ids and status from ``rpa run --json`` (one object, or ``{"runs": [...]}``); a job's last word."""
    text = (out or "").strip()
    if kind == "job":
        last = text.splitlines()[-1] if text else ""
        word = last.rsplit(":", 1)[-1].strip()
        return [], ("queued" if "queued" in last else word or None)
    try:
        data = json.loads(text)
    except ValueError:
        return [], None
    runs = data.get("runs", [data]) if isinstance(data, dict) else []
    return [r["run_id"] for r in runs if isinstance(r, dict) and r.get("run_id")], data.get("status")
