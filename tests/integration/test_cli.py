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


def _shipped_recording_with(*actions: str) -> Path:
    """A recording from recordings/ that uses every one of ``actions`` (the sandbox ships them)."""
    from engine.plan import load_plan

    for path in sorted((REPO / "recordings").glob("*.yaml")):
        if "overhead" in path.name or ".v" in path.stem:
            continue
        verbs = {s.action.value for s in load_plan(path).steps}
        if set(actions) <= verbs:
            return path
    pytest.skip(f"no shipped recording uses {', '.join(actions)}")


def _site_params(path: Path, url: str) -> list[str]:
    from engine.plan import load_plan

    names = [n for n in load_plan(path).params if n in ("base_url", "url", "sandbox_url")]
    return [arg for n in names for arg in ("--param", f"{n}={url}")]


def test_successful_run_with_outputs_and_a_download(tmp_path, request):
    recording = _shipped_recording_with("extract", "download")
    sandbox = request.getfixturevalue("sandbox")
    before = recording.read_bytes()
    proc = rpa("run", str(recording), *_site_params(recording, sandbox.url), "--json",
               RPA_SECRET_PASSWORD="wonderland", RPA_SECRET_SANDBOX_PASSWORD="wonderland")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "succeeded" and out["error"] is None and out["llm_calls"] == 0
    assert {"run_id", "steps", "outputs", "seconds", "report"} <= set(out)
    assert out["outputs"], "the recording extracts values"
    assert all(s["status"] == "succeeded" and {"id", "action", "seconds", "error"} <= set(s) for s in out["steps"])
    assert out["downloads"] and all(Path(d).exists() and Path(d).stat().st_size > 0 for d in out["downloads"])
    report = Path(out["report"])
    html = report.read_text()
    assert report.exists() and "wonderland" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    run = History().get_run(out["run_id"])
    assert run.status == "succeeded" and len(run.steps) == len(out["steps"])
    log = Path(run.run_dir) / "log.jsonl"
    assert log.exists() and out["run_id"] in log.read_text() and "wonderland" not in log.read_text()
    assert recording.read_bytes() == before


def test_several_files_print_one_json_object(tmp_path, request):
    recording = _shipped_recording_with("goto")
    sandbox = request.getfixturevalue("sandbox")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: b\nsteps: [\n")
    proc = rpa("run", str(recording), str(broken), *_site_params(recording, sandbox.url), "--json",
               RPA_SECRET_PASSWORD="wonderland", RPA_SECRET_SANDBOX_PASSWORD="wonderland")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["status"] == "failed" and len(out["runs"]) == 2
    assert sorted(r["status"] for r in out["runs"]) == ["failed", "succeeded"]
