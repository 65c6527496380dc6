"""One way to run a step: the same plan through `rpa run`, the daemon's worker and a Dask worker ends
with the same step outcomes and failure kinds; final kinds are never retried on any path; an
ambiguous target is repaired, not retried; the picture of a navigating step shows the new page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import get_settings
from engine.errors import FailureKind
from engine.history import History
from engine.loop import EntryStatus, JobSpec, run_batch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Signs in, searches, then clicks a link that is not there: target_missing at step 'open'.
MISSING = """\
name: {name}
params: {{base_url: {{default: "http://127.0.0.1:1"}}}}
secrets: [password]
allowed_domains: [127.0.0.1]
steps:
  - {{id: login, action: goto, value: "{{{{ params.base_url }}}}/login?next=/invoices"}}
  - {{id: user, action: fill, target: {{label: Username}}, value: alice}}
  - {{id: pass, action: fill, target: {{label: Password}}, value: "{{{{ secrets.password }}}}"}}
  - {{id: sign_in, action: click, target: {{role: button, name: Sign in}}, expect: {{url: /invoices}}}}
  - {{id: open, action: click, target: {{role: link, name: INV-9999, exact: true}}, timeout_ms: 800}}
"""


def _plan(tmp_path: Path, name: str, secret: str = "password") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(MISSING.format(name=name).replace("secrets.password", f"secrets.{secret}")
                    .replace("[password]", f"[{secret}]"), encoding="utf-8")
    return path


def _rpa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli.main", *args], capture_output=True, text=True,
                          timeout=240, stdin=subprocess.DEVNULL)


def test_local_cli_daemon_and_dask_give_the_same_outcomes(sandbox, tmp_path: Path, monkeypatch) -> None:
    from engine.cluster.local import LocalCluster

    monkeypatch.setenv("RPA_SECRET_PASSWORD", "wonderland")
    plan = _plan(tmp_path, "same_everywhere")
    params = {"base_url": sandbox.url}
    local = run_batch([JobSpec(plan_path=str(plan), params=params, retries=0)]).runs[0]
    cli = _rpa("run", str(plan), "--param", f"base_url={sandbox.url}", "--json")
    assert cli.returncode == 1, cli.stderr
    via_cli = json.loads(cli.stdout)
    added = _rpa("schedule", "add", str(plan), "--every", "1h", "--name", "same", "--retries", "0",
                 "--param", f"base_url={sandbox.url}")
    assert added.returncode == 0, added.stderr
    job_id = added.stdout.split()[1]  # "scheduled same-1a2b (same): every 1h"
    daemon = _rpa("schedule", "run-now", job_id)
    daemon_run = next(r for r in History().list_runs(limit=10) if r.job_id and r.plan_name == "same_everywhere")
    worker_env = {"RPA_HOME": str(tmp_path / "worker-home"), "RPA_SECRET_PASSWORD": "wonderland"}
    with LocalCluster(workers=1, env=worker_env) as cl:
        dask = run_batch([JobSpec(plan_path=str(plan), params=params, retries=0)], cluster=cl.address).runs[0]
    expected = [("login", "succeeded"), ("user", "succeeded"), ("pass", "succeeded"), ("sign_in", "succeeded"),
                ("open", "failed")]
    for steps, kind in (([(s.id, s.status.value) for s in local.steps], local.error_kind),
                        ([(s["id"], s["status"]) for s in via_cli["steps"]], FailureKind(via_cli["error_kind"])),
                        ([(s.step_id, s.status) for s in History().get_run(daemon_run.id).steps],
                         FailureKind(daemon_run.error_kind)),
                        ([(s.id, s.status.value) for s in dask.steps], dask.error_kind)):
        assert steps == expected and kind is FailureKind.target_missing, (steps, kind, daemon.stdout)
    assert local.steps[-1].error_kind is dask.steps[-1].error_kind is FailureKind.target_missing


def test_a_missing_secret_is_never_retried_on_any_path(sandbox, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("RPA_SECRET_NO_SUCH", raising=False)
    plan = _plan(tmp_path, "no_secret", secret="no_such")
    batch = run_batch([JobSpec(plan_path=str(plan), params={"base_url": sandbox.url}, retries=5)])
    entry = batch.entries[0]
    assert entry.status is EntryStatus.failed_business and entry.attempts == 0 and entry.retries == 0
    assert entry.error_kind is FailureKind.input_missing and "no_such" in entry.error
    cli = _rpa("run", str(plan), "--param", f"base_url={sandbox.url}", "--json")
    assert cli.returncode == 1 and json.loads(cli.stdout)["error_kind"] == "input_missing"
    rows = History().list_runs(limit=10)
    assert [r.status for r in rows if r.plan_name in ("no_secret", str(plan))] == ["failed_business"] * 2


def test_an_ambiguous_target_is_repaired_not_retried(sandbox, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RPA_SECRET_PASSWORD", "wonderland")
    plan = tmp_path / "ambiguous.yaml"
    plan.write_text(MISSING.format(name="ambiguous").replace(
        "{role: link, name: INV-9999, exact: true}, timeout_ms: 800", "{role: link, name: INV-10}, timeout_ms: 800"),
        encoding="utf-8")
    batch = run_batch([JobSpec(plan_path=str(plan), params={"base_url": sandbox.url}, retries=3)])
    entry = batch.entries[0]
    assert entry.retries == 0  # retrying an ambiguous target would guess again
    runs = [History().get_run(r) for r in entry.run_ids]
    first = next(s for s in runs[0].steps if s.step_id == "open")
    assert first.status in ("failed", "succeeded")
    assert entry.repairs or entry.status in (EntryStatus.repaired, EntryStatus.repair_failed), entry


def test_the_picture_of_a_navigating_step_shows_the_new_page(sandbox, monkeypatch) -> None:
    monkeypatch.setenv("RPA_SECRET_PASSWORD", "wonderland")
    plan_path = Path(__file__).resolve().parents[2] / "recordings" / "download_invoice.yaml"
    run = run_batch([JobSpec(plan_path=str(plan_path), params={"base_url": sandbox.url})]).runs[0]
    assert run.ok, run.error
    shots = {s.id: Path(s.screenshot).read_bytes() for s in run.steps if s.screenshot}
    assert {"password", "sign_in", "query"} <= set(shots)
    # Signing in shows the invoice list, not the login page: its picture differs from the step before
    # it and from the next one (which types into the list's search box).
    assert shots["sign_in"] != shots["password"] and shots["sign_in"] != shots["query"]
    assert shots["open_invoice"] != shots["search"]
    assert get_settings().runs_dir in Path(run.steps[0].screenshot).parents
