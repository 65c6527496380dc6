"""A queue under a real ``rpa daemon``: each fire reads the items file anew, so a row added between
fires runs at the next one, and done rows never run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from engine.config import get_settings
from engine.history import History

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

SEARCH = Path(__file__).resolve().parents[2] / "recordings" / "login_and_search.yaml"
T = TypeVar("T")


def wait_for(check: Callable[[], T], what: str, limit_s: float = 120.0) -> T:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def rpa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )


def succeeded_items() -> dict[str, int]:
    out: dict[str, int] = {}
    for r in History(get_settings()).list_runs(limit=1000):
        if (r.job_id or "").startswith("item-") and r.status == "succeeded":
            out[r.job_id] = out.get(r.job_id, 0) + 1
    return out


def test_a_row_added_between_fires_runs_at_the_next_fire(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPA_SECRET_PASSWORD", "wonderland")
    items = tmp_path / "daily.csv"
    items.write_text("supplier\nINV-1001\n", encoding="utf-8")
    bad = rpa("schedule", "add", str(SEARCH), "--items", str(tmp_path / "nope.csv"), "--every", "2s")
    assert bad.returncode == 1 and "Items.read: cannot read" in bad.stderr  # checked at add, not at a fire
    added = rpa(
        "schedule",
        "add",
        str(SEARCH),
        "--items",
        str(items),
        "--every",
        "2s",
        "--name",
        "queue",
        "--param",
        f"base_url={sandbox.url}",
    )
    assert added.returncode == 0, added.stderr
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "engine.cli.main", "daemon"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_for(lambda: len(succeeded_items()) == 1, "the first row to run")
        with open(items, "a", encoding="utf-8") as f:
            f.write("INV-1002\n")
        wait_for(lambda: len(succeeded_items()) == 2, "the added row to run at a later fire")
        job_id = next(
            r.job_id
            for r in History(get_settings()).list_runs(limit=1000)
            if r.job_id and not r.job_id.startswith("item-")
        )
        wait_for(
            lambda: any(
                r.status == "succeeded" and (r.outputs or {}).get("done") == 2
                for r in History(get_settings()).list_runs(job_id=job_id)
            ),
            "a fire that saw both",
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    assert set(succeeded_items().values()) == {1}, log.read_text(errors="replace")[-3000:]
    shown = rpa("items", "show", str(items))
    assert shown.returncode == 0 and "2 items, 2 done" in shown.stdout
