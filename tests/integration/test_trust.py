"""End to end with ``rpa run``: plans whose pages try every way out of ``allowed_domains`` toward a
second host on 127.0.0.2 (which must count 0 connections), a failed run with a secret whose trace
holds no form of it in any decompressed member, and an RPA_HOME that only its owner can read."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine.errors import FailureKind
from tests.integration.test_secret_free import encodings
from tests.integration.two_hosts import TwoHosts

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
SECRET = 'Tr0ub4dor&3 "horse"/staple'


@pytest.fixture(scope="module")
def hosts():
    h = TwoHosts()
    yield h
    h.stop()


def rpa(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    exe = REPO / ".venv" / "bin" / "rpa"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "engine.cli.main"]
    return subprocess.run([*cmd, *args], check=False, capture_output=True, text=True, timeout=280,
                          env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **env},
                          preexec_fn=lambda: os.umask(0o022))  # the usual umask: rpa must close files itself


def plan(name: str, *steps: str, allowed: str = "[127.0.0.1]", extra: str = "") -> str:
    body = "".join(f"  - {s}\n" for s in steps)
    return f"name: {name}\nallowed_domains: {allowed}\n{extra}steps:\n{body}"


def goto(sid: str, url: str) -> str:
    return f"id: {sid}\n    action: goto\n    value: '{url}'"


WAIT = "id: settle\n    action: wait_for\n    timeout_ms: 1500\n    target: {css: '#never-there'}\n    retries: 0"


def escapes(site: str, outside_port: int) -> dict[str, str]:
    userinfo = f"http://127.0.0.1:x@127.0.0.2:{outside_port}/"
    return {
        "redirect": plan("redirect", goto("open", f"{site}/redirect")),
        "userinfo-plan": plan("userinfo-plan", goto("open", userinfo)),
        "userinfo-script": plan("userinfo-script", goto("open", f"{site}/script-userinfo"), WAIT),
        "websocket": plan("websocket", goto("open", f"{site}/socket"), WAIT),
        "websocket-userinfo": plan("websocket-userinfo", goto("open", f"{site}/socket-userinfo"), WAIT),
        "image-redirect": plan("image-redirect", goto("open", f"{site}/img-redirect"), WAIT),
        "fetch": plan("fetch", goto("open", f"{site}/fetch"), WAIT),
        "iframe": plan("iframe", goto("open", f"{site}/iframe"), WAIT),
        "popup": plan("popup", goto("open", f"{site}/popup"), WAIT),
        "service-worker": plan("service-worker", goto("open", f"{site}/sw"), WAIT),
        "form-post": plan("form-post", goto("open", f"{site}/form"),
                          "id: send\n    action: click\n    target: {role: button, name: Send}"),
    }


def test_every_escape_is_blocked(hosts, tmp_path):
    files = []
    for name, text in escapes(hosts.url, hosts.outside.port).items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        files.append(str(path))
    hosts.outside.reset()
    proc = rpa("run", "--json", "--concurrency", "4", *files)
    assert proc.stdout, proc.stderr[-2000:]
    runs = {r["plan"]: r for r in json.loads(proc.stdout)["runs"]}
    assert hosts.outside.count == 0, hosts.outside.paths
    assert set(runs) == set(escapes("", 0))
    for name in ("redirect", "userinfo-plan", "userinfo-script", "iframe", "popup", "form-post"):
        run = runs[name]
        assert run["status"] == "failed" and FailureKind(run["error_kind"]).final, (name, run)  # never retried
        assert "'127.0.0.2' blocked" in run["error"], run["error"]


def test_file_urls_are_refused_unless_the_plan_allows_them(hosts, tmp_path):
    local = tmp_path / "local.txt"
    local.write_text("local-file-content-7f3a")
    read = "id: read\n    action: extract\n    output: text\n    target: {css: body}"
    refused, allowed = tmp_path / "refused.yaml", tmp_path / "allowed.yaml"
    refused.write_text(plan("refused", goto("open", local.as_uri()), read))
    allowed.write_text(plan("allowed", goto("open", local.as_uri()), read, extra="allow_file: true\n"))
    proc = rpa("run", "--json", str(refused))
    run = json.loads(proc.stdout)
    assert proc.returncode == 1 and FailureKind(run["error_kind"]).final
    assert "file: URL blocked" in run["error"] and "allow_file: true" in run["error"]
    assert "local-file-content" not in proc.stdout + proc.stderr
    proc = rpa("run", "--json", str(allowed))
    assert proc.returncode == 0 and "local-file-content-7f3a" in json.dumps(json.loads(proc.stdout)["outputs"])


def _all_bytes(home: Path) -> list[tuple[str, bytes]]:
    """Every file under RPA_HOME, and every member of every zip in it, decompressed."""
    out = []
    for path in home.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        out.append((str(path.relative_to(home)), data))
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                out += [(f"{path.relative_to(home)}!{i.filename}", z.read(i)) for i in z.infolist()]
    return out


@pytest.mark.parametrize("trace", ["on-failure", "full"])
def test_failed_run_with_a_secret_leaves_it_nowhere(hosts, tmp_path, rpa_home, trace):
    path = tmp_path / "login.yaml"
    path.write_text(plan(
        "login", goto("open", f"{hosts.url}/login"),
        "id: user\n    action: fill\n    target: {label: User}\n    value: alice",
        "id: password\n    action: fill\n    target: {label: Password}\n    value: '{{ secrets.PASSWORD }}'",
        "id: submit\n    action: click\n    target: {role: button, name: Sign in}",
        "id: missing\n    action: click\n    target: {css: '#no-such-button'}\n    timeout_ms: 1500",
        extra="secrets: [PASSWORD]\n"))
    proc = rpa("run", "--json", str(path), RPA_SECRET_PASSWORD=SECRET, RPA_TRACE=trace)
    run = json.loads(proc.stdout)
    assert proc.returncode == 1 and run["status"] == "failed", run
    traces = list(rpa_home.rglob("trace.zip"))  # one per attempt (the loop retries a missing target)
    assert traces
    for trace_zip in traces:  # the fill is in each trace, its value in none
        with zipfile.ZipFile(trace_zip) as z:
            assert any(b'"fill"' in z.read(n) or b"Locator.fill" in z.read(n) for n in z.namelist())
    searched = _all_bytes(rpa_home)
    assert any("!trace.trace" in name for name, _ in searched)
    forms = encodings(SECRET)
    leaks = [f"{name}:{form}" for name, data in searched for form, value in forms.items() if value in data]
    assert leaks == [], leaks
    # Owner only: 0700 folders and 0600 files, though rpa ran with umask 022.
    for p in [rpa_home, *rpa_home.rglob("*")]:
        mode = stat.S_IMODE(os.lstat(p).st_mode)
        assert mode & 0o077 == 0, f"{p} is {oct(mode)}"
