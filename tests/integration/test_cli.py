"""The ``rpa`` command end to end: subprocesses of .venv/bin/rpa against the sandbox, real Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.history import History

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
RPA = REPO / ".venv" / "bin" / "rpa"


def rpa(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    exe = [str(RPA)] if RPA.exists() else [sys.executable, "-m", "engine.cli.main"]
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **env}
    return subprocess.run([*exe, *args], capture_output=True, text=True, env=full_env, timeout=170)


SUCCESS_PLAN = """\
name: invoice-download
params:
  base_url: http://127.0.0.1:1
secrets: [password]
allowed_domains: [127.0.0.1]
steps:
__STEPS__
"""


def test_schema_is_json():
    proc = rpa("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert "steps" in schema["properties"]


def test_validate(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("name: g\nsteps:\n  - id: a\n    action: goto\n    value: http://127.0.0.1:9\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nsteps:\n  - id: a\n    action: click\n")
    proc = rpa("validate", str(good))
    assert proc.returncode == 0 and "ok" in proc.stdout
    proc = rpa("validate", str(good), str(bad))
    assert proc.returncode == 1
    assert "bad.yaml:3" in proc.stderr and "needs a target" in proc.stderr


def test_history_and_show(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text("name: p\nparams:\n  q: {description: x}\nsteps:\n  - id: a\n    action: goto\n"
                    "    value: 'http://127.0.0.1:9/{{ params.q }}'\n")
    assert rpa("run", str(plan)).returncode == 1
    proc = rpa("history", "--json")
    assert proc.returncode == 0
    runs = json.loads(proc.stdout)["runs"]
    assert len(runs) == 1 and runs[0]["status"] == "failed_business" and runs[0]["plan_name"] == "p"
    run_id = runs[0]["id"]
    shown = json.loads(rpa("show", run_id[:-2], "--json").stdout)
    assert shown["id"] == run_id and "missing parameter 'q'" in shown["error"]
    assert run_id in rpa("history").stdout
    proc = rpa("show", "no-such-run")
    assert proc.returncode == 1 and proc.stderr.startswith("error: History.get")
