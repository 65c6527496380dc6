"""Scale-out on Dask: a local scheduler and two `rpa worker` processes run sandbox jobs; a worker
is SIGKILLed mid-job and every job still ends exactly once."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.cluster import ClusterError, ClusterOptions, connect, make_security
from engine.bench.cluster import fault_counts
from engine.cluster.client import browser_slots
from engine.cluster.local import LocalCluster
from engine.config import get_settings
from engine.errors import ConfigError
from engine.history import History
from engine.loop import JobSpec, run_batch
from engine.plan import dump_plan, load_plan

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "recordings" / "login_and_search.yaml"


# -- without a browser ----------------------------------------------------------------------------
def test_tls_required_beyond_localhost(tmp_path):
    assert make_security("tcp://127.0.0.1:8786") is None
    with pytest.raises(ConfigError, match="TLS is required"):
        make_security("tcp://10.0.0.5:8786")
    with pytest.raises(ConfigError, match="not found"):
        make_security("tls://10.0.0.5:8786", str(tmp_path / "ca.pem"), str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    for name in ("ca.pem", "c.pem", "k.pem"):
        (tmp_path / name).write_text("x")
    with pytest.raises(ConfigError, match="must start with tls://"):
        make_security("tcp://10.0.0.5:8786", *(str(tmp_path / n) for n in ("ca.pem", "c.pem", "k.pem")))


def test_unreachable_scheduler_is_one_clear_line():
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:9 "):
        connect("tcp://127.0.0.1:9", timeout_s=1)
    assert time.monotonic() - t0 < 10


def test_worker_cli_refuses_plain_tcp_to_another_machine():
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "worker", "--scheduler", "tcp://10.0.0.5:8786"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "TLS is required" in lines[0], proc.stderr


# -- a real cluster ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    worker_home = tmp_path_factory.mktemp("worker-home")
    env = {"RPA_HOME": str(worker_home), "RPA_SECRET_PASSWORD": "wonderland", "RPA_STEP_TIMEOUT_MS": "5000"}
    with LocalCluster(workers=2, env=env) as cl:
        yield cl


def _jobs(url: str, n: int, tag: str, plan_path: Path = PLAN) -> list[JobSpec]:
    return [JobSpec(plan_path=str(plan_path), params={"base_url": url}, job_id=f"{tag}-{i:02d}", retries=0)
            for i in range(n)]


def _run_and_kill(cluster: LocalCluster, jobs: list[JobSpec]):
    settings = get_settings()
    while browser_slots(cluster.client) < 2:  # a worker killed by an earlier test is back
        time.sleep(0.2)
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(batch=run_batch(jobs, cluster=cluster.address,
                                                                        settings=settings)))
    thread.start()
    killed = cluster.kill_busy_worker(min_running_s=0.3, timeout_s=60)
    thread.join(timeout=120)
    assert not thread.is_alive()
    return box["batch"], killed, settings


@pytest.mark.browser
def test_worker_killed_mid_job_reruns_once_as_attempt_2(cluster, sandbox, monkeypatch):
    monkeypatch.delenv("RPA_SECRET_PASSWORD", raising=False)  # only the workers know it
    t0 = time.monotonic()
    batch, killed, settings = _run_and_kill(cluster, _jobs(sandbox.url, 8, "kill"))
    assert killed is not None, "no job was seen running on a worker"
    assert [e.status.value for e in batch.entries] == ["succeeded"] * 8, [e.error for e in batch.entries]
    counts = fault_counts(batch, settings)
    assert counts == {"jobs": 8, "succeeded": 8, "duplicates": 0, "rerun": 1, "held_for_person": 0,
                      "ended_exactly_once": 8}
    history = History(settings)
    first = history.get_run(killed[1])
    assert first.status == "interrupted" and first.attempt == 1 and "died during this run" in first.error
    rows = history.list_runs(job_id=first.job_id)
    assert sorted((r.attempt, r.status) for r in rows) == [(1, "interrupted"), (2, "succeeded")]
    rerun = next(r for r in rows if r.attempt == 2)
    entry = next(e for e in batch.entries if e.job_id == first.job_id)
    assert entry.run_ids == [first.id, rerun.id] and entry.attempts == 2
    assert next(r for r in batch.runs if r.run_id == rerun.id).attempt == 2
    # Artifacts came back into this machine's run folder; no secret reached the coordinator.
    local = settings.runs_dir / rerun.id
    assert list((local / "screens").glob("*.jpg"))
    shots = [s.screenshot for r in batch.runs if r.run_id == rerun.id for s in r.steps if s.screenshot]
    assert shots and all(Path(s).is_file() and Path(s).is_relative_to(local) for s in shots)
    assert (settings.runs_dir / rerun.id / "report.html").exists()
    for run in batch.runs:
        assert "wonderland" not in run.model_dump_json()
        assert run.outputs.get("count")
    assert time.monotonic() - t0 < 90


@pytest.mark.browser
def test_non_idempotent_job_is_held_not_rerun(cluster, sandbox, tmp_path, monkeypatch):
    monkeypatch.delenv("RPA_SECRET_PASSWORD", raising=False)
    plan = load_plan(PLAN).model_copy(update={"idempotent": False, "name": "pay_once"})
    path = tmp_path / "pay_once.yaml"
    path.write_text(dump_plan(plan), encoding="utf-8")
    batch, killed, settings = _run_and_kill(cluster, _jobs(sandbox.url, 4, "once", path))
    assert killed is not None
    counts = fault_counts(batch, settings)
    assert counts["rerun"] == 0 and counts["held_for_person"] == 1 and counts["duplicates"] == 0
    assert counts["succeeded"] == 3 and counts["ended_exactly_once"] == 4
    held = History(settings).get_run(killed[1])
    assert held.status == "interrupted" and "not idempotent" in held.error
    entry = next(e for e in batch.entries if e.job_id == held.job_id)
    assert not entry.ok and entry.run_ids == [held.id] and "by hand" in entry.error


def _certs(where: Path) -> tuple[str, str, str]:
    """A CA and one certificate signed by it, as docs/cluster.md makes them."""
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=where, check=True, capture_output=True, timeout=60)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=node", "-keyout", "node.key", "-out", "node.csr")
    ssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-out", "node.pem")
    return str(where / "ca.pem"), str(where / "node.pem"), str(where / "node.key")


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make certificates")
def test_tls_cluster_runs_a_job_and_refuses_plain_tcp(sandbox, tmp_path, monkeypatch):
    monkeypatch.delenv("RPA_SECRET_PASSWORD", raising=False)
    tls = _certs(tmp_path)
    env = {"RPA_HOME": str(tmp_path / "worker-home"), "RPA_SECRET_PASSWORD": "wonderland"}
    with LocalCluster(workers=1, env=env, tls=tls) as cl:
        assert cl.address.startswith("tls://")
        batch = run_batch(_jobs(sandbox.url, 1, "tls"), settings=get_settings(),
                          cluster=ClusterOptions(address=cl.address, **cl.tls_kwargs()))
        assert batch.ok and batch.runs[0].outputs["count"]
        with pytest.raises(ConfigError, match="TLS address"):
            connect(cl.address)
        with pytest.raises(ClusterError, match="cannot reach"):
            connect(cl.address.replace("tls://", "tcp://"), timeout_s=2)
