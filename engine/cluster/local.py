"""A throwaway cluster on 127.0.0.1: one ``dask scheduler`` and N ``rpa worker`` processes.

Used by ``rpa bench cluster`` and the tests; the same commands a user runs on real machines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loguru import logger

from engine.cluster.client import ClusterError, browser_slots, connect
from engine.cluster.tasks import running_jobs


def _tail(path: Path, n: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return ""


class LocalCluster:
    """``with LocalCluster(workers=2, env={...}) as cl:`` then ``cl.address``, ``cl.client``."""

    def __init__(self, workers: int = 2, *, browsers: int = 1, env: dict[str, str] | None = None,
                 start_timeout_s: float = 60.0, tls: tuple[str, str, str] | None = None) -> None:
        """``tls``: (CA file, certificate, key) used by every process; the addresses become tls://."""
        self.workers, self.browsers, self.tls = workers, browsers, tls
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.start_timeout_s = start_timeout_s
        self.dir = Path(tempfile.mkdtemp(prefix="rpa-local-cluster-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.address = ""
        self.client: Any = None
        self.killed: list[int] = []

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        out = open(self.dir / log, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=str(self.dir),
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> LocalCluster:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        sched_file = self.dir / "scheduler.json"
        tls_args = []
        if self.tls:
            tls_args = ["--tls-ca-file", self.tls[0], "--tls-cert", self.tls[1], "--tls-key", self.tls[2]]
        sched = self._spawn([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                             "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file),
                             *(["--protocol", "tls", *tls_args] if self.tls else [])], "scheduler.log")
        deadline = time.monotonic() + self.start_timeout_s
        while not sched_file.exists():
            if sched.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"LocalCluster.start: the scheduler did not start: {_tail(self.dir / 'scheduler.log')}")
            time.sleep(0.1)
        time.sleep(0.1)  # the file is written in one go, but give the writer a moment
        self.address = json.loads(sched_file.read_text())["address"]
        for i in range(self.workers):
            self.add_worker(f"w{i + 1}")
        self.client = connect(self.address, **self.tls_kwargs())
        while browser_slots(self.client) < self.workers * self.browsers:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = " || ".join(_tail(f) for f in sorted(self.dir.glob("w*.log")))
                raise ClusterError(f"LocalCluster.start: {self.workers} worker(s) did not join: {logs}")
            time.sleep(0.2)
        logger.info("local cluster at {} with {} worker(s)", self.address, self.workers)

    def tls_kwargs(self) -> dict[str, str]:
        """Keywords for ``connect`` and ``run_batch_on_cluster``."""
        if not self.tls:
            return {}
        return {"tls_ca_file": self.tls[0], "tls_cert": self.tls[1], "tls_key": self.tls[2]}

    def add_worker(self, name: str) -> subprocess.Popen[bytes]:
        tls_args = []
        if self.tls:
            tls_args = ["--tls-ca-file", self.tls[0], "--tls-cert", self.tls[1], "--tls-key", self.tls[2]]
        return self._spawn([sys.executable, "-m", "engine.cli.main", "worker", "--scheduler", self.address,
                            "--browsers", str(self.browsers), "--name", name, "--no-gpu", *tls_args], f"{name}.log")

    def running(self) -> dict[str, dict[str, Any]]:
        """Per worker address: its pid and the runs in progress there."""
        return self.client.run(running_jobs)

    def kill_busy_worker(self, *, min_running_s: float = 0.3, timeout_s: float = 60.0) -> tuple[int, str] | None:
        """SIGKILL the process of a worker that has had a run going for ``min_running_s``;
        returns (pid, run id) or None if no run was seen in ``timeout_s``. Its nanny restarts it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                state = self.running()
            except Exception:  # noqa: BLE001 - a worker joining or leaving; ask again
                state = {}
            for info in state.values():
                busy = [(s, r) for r, s in info["running"].items() if s >= min_running_s]
                if busy:
                    run_id = max(busy)[1]
                    os.kill(int(info["pid"]), signal.SIGKILL)
                    self.killed.append(int(info["pid"]))
                    logger.info("local cluster: killed worker pid {} during run {}", info["pid"], run_id)
                    return int(info["pid"]), run_id
            time.sleep(0.05)
        return None

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001 - shutting down
                pass
        for proc in reversed(self.procs):  # workers first, then the scheduler
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)

    def __exit__(self, *exc: object) -> None:
        self.close()
