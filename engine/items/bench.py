"""``rpa bench items``: a sandbox plan over N items while the runner is SIGKILLed and resumed.

Everything happens in a throw-away ``RPA_HOME``: the bench starts the bundled sandbox, writes an
items CSV (one invoice number per row, searched by ``recordings/login_and_search.yaml``), and runs
``rpa run PLAN --items CSV --output OUT`` as a child process. Each kill comes at a random moment
after the child finished at least one more item (plus a random fraction of a second, so it often
lands mid-item); the same command is then started again, and once more at the end to finish.
From history: ``duplicates`` = succeeded runs beyond the first per item, ``lost`` = items of the
file with no succeeded run and no recorded failure.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from engine.config import Settings
from engine.history import History, HistoryStatus
from engine.history.models import RunRow

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "recordings" / "login_and_search.yaml"
RUN_LIMIT_S = 900.0


def _write_items(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["supplier"])
        for i in range(n):
            writer.writerow([f"INV-{1001 + i % 60}"])


def _done(history: History) -> int:
    with Session(history.engine) as s:
        return (
            s.scalar(
                select(func.count(distinct(RunRow.job_id))).where(
                    RunRow.status == HistoryStatus.succeeded.value, RunRow.job_id.like("item-%")
                )
            )
            or 0
        )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the runner alone (the crash), then its leftover browser (cleanup: it records nothing)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def bench_items(
    *, items: int = 40, kills: int = 2, concurrency: int = 2, seed: int | None = None, keep: bool = False
) -> dict[str, Any]:
    from bots.sandbox import start_sandbox

    home = Path(tempfile.mkdtemp(prefix="rpa-items-bench-"))
    env = {k: v for k, v in os.environ.items() if k != "RPA_DB"}
    env.update(RPA_HOME=str(home), RPA_SECRET_PASSWORD="wonderland")
    settings = Settings(home=home, db_url=None)
    items_csv, out = home / "items.csv", home / "out.csv"
    _write_items(items_csv, items)
    rng = random.Random(seed)
    server = start_sandbox(port=0)
    history = History(settings)
    cmd = [
        sys.executable,
        "-m",
        "engine.cli.main",
        "run",
        str(PLAN),
        "--items",
        str(items_csv),
        "--param",
        f"base_url={server.url}",
        "--output",
        str(out),
        "--concurrency",
        str(concurrency),
        "--json",
    ]
    started = time.monotonic()
    done_kills, starts, last_rc = 0, 0, None
    try:
        for k in range(kills):
            before = _done(history)
            if before >= items:
                break
            proc = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            starts += 1
            target = rng.randint(before + 1, max(before + 1, items - (kills - k)))
            while (
                proc.poll() is None and _done(history) < target and time.monotonic() - started < RUN_LIMIT_S
            ):
                time.sleep(0.1)
            time.sleep(rng.uniform(0.0, 1.5))
            if proc.poll() is None:
                _kill_group(proc)
                done_kills += 1
        proc = subprocess.run(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=RUN_LIMIT_S,
            start_new_session=True,
        )
        starts += 1
        last_rc = proc.returncode
        seconds = time.monotonic() - started
        result = _analyse(history, items_csv, out)
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    return {
        "items": items,
        **result,
        "kills": done_kills,
        "starts": starts,
        "concurrency": concurrency,
        "last_exit_code": last_rc,
        "seconds": round(seconds, 1),
        "items_per_min": round(result["succeeded"] / seconds * 60, 1) if seconds else 0.0,
    }


def _analyse(history: History, items_csv: Path, out: Path) -> dict[str, Any]:
    from engine.items import QueueStore

    store = QueueStore(history.settings)
    [queue] = store.queues()
    views = [v for v in store.refresh(queue.id) if v.present]
    ids = {v.job_id for v in views}
    with Session(history.engine) as s:
        runs = [(r.job_id, r.status) for r in s.scalars(select(RunRow).where(RunRow.job_id.like("item-%")))]
    ok = Counter(j for j, st in runs if st == HistoryStatus.succeeded.value)
    states = Counter(v.state.value for v in views)
    rows: list[dict[str, str]] = []
    if out.exists():
        with open(out, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    return {
        "succeeded": sum(1 for j in ids if ok[j]),
        "duplicates": sum(n - 1 for n in ok.values() if n > 1),
        "lost": sum(1 for v in views if not ok[v.job_id] and not v.state.failed and v.state.value != "held"),
        "failed": sum(1 for v in views if v.state.failed),
        "held": states.get("held", 0),
        "cut_off": sum(1 for _, st in runs if st == HistoryStatus.interrupted.value),
        "runs": len(runs),
        "out_rows": len(rows),
        "out_succeeded": sum(1 for r in rows if r.get("status") == "succeeded"),
    }
