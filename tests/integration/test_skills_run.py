"""A routed run end to end: `rpa run --instruction` picks the recorded bot, fills its params from the
words, runs it on the sandbox through the loop, and says so in history, the report and the training data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def _rpa(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RPA_HOME": str(home), "RPA_SECRET_PASSWORD": "wonderland",
           "RPA_CACHE_DIR": str(REPO / ".cache")}
    return subprocess.run([sys.executable, "-m", "engine.cli.main", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=240)


def test_routed_run_on_the_sandbox(sandbox, rpa_home, monkeypatch):
    done = _rpa("run", "--instruction", "download invoice INV-1042 and give me its total", "--url", sandbox.url,
                "--json", home=rpa_home)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "succeeded" and out["outputs"]["total"] and out["outputs"]["csv_file"]
    assert "wonderland" not in done.stdout + done.stderr

    monkeypatch.setenv("RPA_HOME", str(rpa_home))
    from engine.config import get_settings
    from engine.history import History
    from engine.training.examples import example_from_row

    history = History(get_settings())
    run = history.get_run(out["run_id"])
    assert run.plan_name == "download_invoice" and run.status == "succeeded"
    route = [d for d in [d.model_dump(mode='json') for d in history.decisions()] if d["step_id"] == "route"]
    assert len(route) == 1 and route[0]["action"]["params"]["invoice"] == "INV-1042"
    assert route[0]["run_id"] == out["run_id"]
    example, why = example_from_row(route[0], "history")  # `rpa train --from-history` learns the routing
    assert example is not None, why
    assert example.answer == 'click e1 "download_invoice"' or example.answer.endswith('"download_invoice"')
    report = Path(out["report"]).read_text()
    assert "Routed from the instruction" in report and "wonderland" not in report


def test_ambiguous_exits_2_and_runs_nothing(rpa_home):
    done = _rpa("run", "--instruction", "sign out of the sandbox", home=rpa_home)
    assert done.returncode == 2
    assert "ambiguous:" in done.stderr and "login_and_search" in done.stderr
    none = _rpa("run", "--instruction", "book a meeting room for Friday at 10", home=rpa_home)
    assert none.returncode != 0 and "no skill fits" in none.stderr and "--url" in none.stderr
