"""Each kind of bad input ends in one clear line on stderr, a non-zero exit, a failed run in history
(with a screenshot where a browser was involved) and an untouched input file. Real CLI, real Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.history import History

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
RPA = REPO / ".venv" / "bin" / "rpa"


def rpa(*args: str) -> subprocess.CompletedProcess[str]:
    exe = [str(RPA)] if RPA.exists() else [sys.executable, "-m", "engine.cli.main"]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("RPA_SECRET_PASSWORD", None)
    return subprocess.run([*exe, *args], capture_output=True, text=True, env=env, timeout=110)


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> tuple[Path, bytes]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path, path.read_bytes()


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def last_run():
    runs = History().list_runs(limit=1)
    assert runs, "no run was recorded"
    return History().get_run(runs[0].id)


@pytest.fixture
def site(request):
    """The sandbox (the session fixture lives in conftest)."""
    return request.getfixturevalue("sandbox")


def assert_failed_with_screenshot(run, step_id: str) -> None:
    assert run.status.startswith("failed"), run.status
    step = next(s for s in run.steps if s.step_id == step_id)
    assert step.status == "failed"
    shots = list((Path(run.run_dir) / "screens").glob("*.png")) if run.run_dir else []
    assert step.screenshot or shots, "no screenshot of the failed step"
    assert run.report and Path(run.report).exists()


def test_malformed_yaml(tmp_path):
    path, before = write(tmp_path, "name: x\nsteps:\n  - id: a\n    action: [goto\n")
    proc = rpa("run", str(path))
    assert proc.returncode == 1
    line = error_line(proc)
    assert "plan.yaml:" in line and "malformed YAML" in line
    assert last_run().status == "failed_business"
    assert path.read_bytes() == before


def test_unknown_action(tmp_path):
    path, before = write(tmp_path, "name: x\nsteps:\n  - id: a\n    action: goto\n    value: http://127.0.0.1:9\n"
                                   "  - id: b\n    action: clik\n    target: {css: a}\n")
    proc = rpa("run", str(path))
    assert proc.returncode == 1
    line = error_line(proc)
    assert "plan.yaml:7" in line and "steps[1](id=b).action" in line and "'clik'" in line
    run = last_run()
    assert run.status == "failed_business" and "clik" in run.error
    assert path.read_bytes() == before


def test_missing_parameter(tmp_path):
    path, before = write(tmp_path, "name: x\nparams:\n  query: {description: q}\nsteps:\n  - id: open\n"
                                   "    action: goto\n    value: 'http://127.0.0.1:9/?q={{ params.query }}'\n")
    proc = rpa("run", str(path))
    assert proc.returncode == 1
    line = error_line(proc)
    assert "missing parameter 'query'" in line and "Step 'open'" in line and "--param query=" in line
    run = last_run()
    assert run.status == "failed_business" and "query" in run.error
    assert path.read_bytes() == before


def test_missing_secret(tmp_path):
    path, before = write(tmp_path, "name: x\nsecrets: [password]\nsteps:\n  - id: open\n    action: goto\n"
                                   "    value: http://127.0.0.1:9\n  - id: pw\n    action: fill\n"
                                   "    target: {css: input}\n    value: '{{ secrets.password }}'\n")
    proc = rpa("run", str(path))
    assert proc.returncode == 1
    line = error_line(proc)
    assert "Step 'pw'" in line and "'password'" in line and "rpa secret set password" in line
    assert last_run().status == "failed_business"
    assert path.read_bytes() == before


def test_selector_matching_nothing(tmp_path, site):
    path, before = write(tmp_path, f"name: x\nsteps:\n  - id: open\n    action: goto\n    value: {site.url}/\n"
                                   "  - id: ghost\n    action: click\n    target: {css: '#no-such-element'}\n"
                                   "    timeout_ms: 1500\n")
    proc = rpa("run", str(path))
    assert proc.returncode == 1
    line = error_line(proc)
    assert "Step 'ghost'" in line and "no-such-element" in line
    assert_failed_with_screenshot(last_run(), "ghost")
    assert path.read_bytes() == before


def test_selector_matching_several(tmp_path, site):
    path, before = write(tmp_path, f"name: x\nsteps:\n  - id: open\n    action: goto\n    value: {site.url}/\n"
                                   "  - id: many\n    action: click\n    target: {css: 'body *'}\n"
                                   "    timeout_ms: 1500\n")
    proc = rpa("run", str(path))
    assert proc.returncode == 1
    line = error_line(proc)
    assert "Step 'many'" in line and ("several" in line or "elements" in line)
    assert_failed_with_screenshot(last_run(), "many")
    assert path.read_bytes() == before


def test_navigation_outside_allowed_domains(tmp_path, site):
    path, before = write(tmp_path, f"name: x\nallowed_domains: [127.0.0.1]\nsteps:\n  - id: open\n"
                                   f"    action: goto\n    value: {site.url}/\n"
                                   "  - id: away\n    action: goto\n    value: http://blocked.example.org/\n")
    proc = rpa("run", str(path))
    assert proc.returncode == 1
    line = error_line(proc)
    assert "Step 'away'" in line and "blocked.example.org" in line
    run = last_run()
    assert run.status == "failed_business"
    assert_failed_with_screenshot(run, "away")
    assert path.read_bytes() == before


def test_site_that_is_down(tmp_path):
    path, before = write(tmp_path, "name: x\nsteps:\n  - id: open\n    action: goto\n    value: http://127.0.0.1:9/\n"
                                   "    timeout_ms: 3000\n")
    proc = rpa("run", str(path))
    assert proc.returncode == 1
    line = error_line(proc)
    assert "Step 'open'" in line and "cannot reach http://127.0.0.1:9" in line
    run = last_run()
    assert run.status == "failed_application"
    assert_failed_with_screenshot(run, "open")
    assert path.read_bytes() == before


def test_bad_command_line_is_a_usage_error(tmp_path):
    proc = rpa("run", "--param", "novalue", str(tmp_path / "x.yaml"))
    assert proc.returncode == 2 and "KEY=VALUE" in proc.stderr
    assert rpa("no-such-command").returncode == 2


def test_unknown_model_is_refused_before_any_run(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text("name: p\nsteps:\n  - {id: s1, action: goto, value: 'http://127.0.0.1:9/'}\n")
    proc = rpa("run", str(plan), "--model", "never-trained")
    assert proc.returncode == 1 and "no model 'never-trained'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "rpa-home").glob("runs/*"))  # nothing ran
