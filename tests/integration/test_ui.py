"""`rpa ui` as a real server process with its own RPA_HOME, used from a real Chromium and raw HTTP.

One server serves the module (starting one costs seconds); each test reads or changes its own
job, run or secret. Security checks count what a request without a session, without the CSRF
token or with a crafted path gets back, next to the same request done right (so each can fail).
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
SECRET_KEY = "test-key-not-secret-0123456789"
MARKER = "outside-the-run-folder-7f3a"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass
class Ui:
    proc: subprocess.Popen
    home: Path
    base: str
    login_url: str
    token: str
    out: Path
    err: Path

    @property
    def port(self) -> int:
        return urlsplit(self.base).port or 0

    def settings(self):
        from engine.config import Settings

        return Settings(home=self.home)

    def logs(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPA_")}
    env.update(RPA_HOME=str(home), RPA_SECRET_KEY=SECRET_KEY, RPA_CACHE_DIR=str(REPO / ".cache"), **extra)
    return env


def start_ui(home: Path, *args: str, **env: str) -> Ui:
    out, err = home.parent / f"ui-{home.name}.out", home.parent / f"ui-{home.name}.err"
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", "ui", "--port", "0", *args],
        cwd=REPO,
        env=_env(home, **env),
        stdout=out.open("w"),
        stderr=err.open("w"),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.search(r"open (\S+/login)(\?token=(\S+))?", out.read_text())
        if m:
            login = m.group(1) + (m.group(2) or "")
            return Ui(
                proc,
                home,
                m.group(1).rsplit("/login", 1)[0],
                login,
                m.group(3) or env.get("RPA_UI_TOKEN", ""),
                out,
                err,
            )
        if proc.poll() is not None:
            raise AssertionError(f"rpa ui exited {proc.returncode}: {err.read_text()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("rpa ui did not print its address within 60 s")


def stop_ui(ui: Ui) -> None:
    ui.proc.send_signal(signal.SIGTERM)
    try:
        ui.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        ui.proc.kill()
        ui.proc.wait()


def seed_run(ui: Ui) -> str:
    """A finished run in the server's history with a report, a picture, a download, a trace and a log."""
    from engine.history import History
    from engine.outcome import RunOutcome, RunStatus, StepOutcome, StepStatus

    settings = ui.settings()
    history = History(settings)
    run_id = history.start_run("seeded_bot", job_id="seeded-job")
    run_dir = settings.runs_dir / run_id
    (run_dir / "screens").mkdir(parents=True)
    (run_dir / "downloads").mkdir()
    shot = run_dir / "screens" / "01-open.png"
    shot.write_bytes(_png())
    (run_dir / "downloads" / "evil.html").write_text("<script>document.title='pwned'</script>")
    (run_dir / "report.html").write_text(
        "<html><body><h1>seeded report</h1><img src='screens/01-open.png'></body></html>"
    )
    with zipfile.ZipFile(run_dir / "trace.zip", "w") as z:
        z.writestr("trace.trace", "seeded trace")
    (run_dir / "log.jsonl").write_text('{"text": "seeded log"}\n')
    (settings.home / "outside.txt").write_text(MARKER)
    (run_dir / "screens" / "link.png").symlink_to(settings.home / "outside.txt")
    now = datetime.now(timezone.utc)
    history.finish_run(
        RunOutcome(
            run_id=run_id,
            plan_name="seeded_bot",
            status=RunStatus.succeeded,
            seconds=1.5,
            run_dir=str(run_dir),
            report=str(run_dir / "report.html"),
            outputs={"total": "1,234.00"},
            started_at=now - timedelta(seconds=2),
            finished_at=now,
            steps=[
                StepOutcome(
                    id="open", action="goto", status=StepStatus.succeeded, seconds=0.4, screenshot=str(shot)
                )
            ],
        )
    )
    return run_id


def _png() -> bytes:
    import base64

    return base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )


def add_job(ui: Ui, sandbox_url: str, name: str) -> str:
    from engine.jobs.manage import JobRequest
    from engine.jobs.manage import add_job as add

    job = add(
        JobRequest(
            file=REPO / "recordings" / "login_and_search.yaml",
            every="1h",
            name=name,
            params={"base_url": sandbox_url},
        ),
        settings=ui.settings(),
    )
    return job.id


@pytest.fixture(scope="module")
def ui(tmp_path_factory, sandbox):
    server = start_ui(tmp_path_factory.mktemp("ui") / "home")
    try:
        yield server
    finally:
        stop_ui(server)


@pytest.fixture(scope="module")
def seeded(ui) -> str:
    return seed_run(ui)


# -- raw HTTP ----------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def request(
    ui: Ui,
    method: str,
    path: str,
    *,
    cookie: str | None = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """The path goes out byte for byte (no client-side ``..`` clean-up)."""
    conn = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=30)
    all_headers = dict(headers or {})
    if cookie:
        all_headers["Cookie"] = f"rpa_ui_session={cookie}"
    body = None
    if form is not None:
        from urllib.parse import urlencode

        body = urlencode(form)
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=all_headers)
    resp = conn.getresponse()
    answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    conn.close()
    return answer


def login(ui: Ui) -> tuple[str, str]:
    """A session cookie and its CSRF token, as a browser gets them."""
    answer = request(ui, "GET", f"/login?token={quote(ui.token)}")
    assert answer.status == 303, answer.text
    cookie = re.search(r"rpa_ui_session=([^;]+)", answer.headers["set-cookie"]).group(1)
    page = request(ui, "GET", "/secrets", cookie=cookie)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return cookie, csrf


def data_paths(ui: Ui, run_id: str) -> list[str]:
    from engine.history import History
    from engine.ui.files import listing

    record = History(ui.settings()).get_run(run_id)
    found = listing(record, ui.settings())
    files = [*found["screens"], *found["downloads"], *found["other"]]
    return [
        "/",
        "/bots",
        "/schedules",
        "/plan",
        "/secrets",
        "/api/runs",
        "/api/daemon",
        "/fragments/runs",
        f"/runs/{run_id}",
        f"/fragments/runs/{run_id}",
        f"/api/runs/{run_id}",
        "/?status=succeeded",
        *[f"/runs/{run_id}/files/{quote(f)}" for f in files],
    ]


def readable(body: bytes) -> str:
    """The body as text, with every member of a zip (a trace) decompressed."""
    if body[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            return "\n".join(z.read(n).decode("utf-8", errors="replace") for n in z.namelist())
    return body.decode("utf-8", errors="replace")


# -- browser tests ---------------------------------------------------------------------------------


async def test_login_and_see_a_run_from_history(ui, seeded, browser):
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(ui.base + "/")
        assert await page.locator("h1").inner_text() == "rpa ui"  # the login page, no data
        assert seeded not in await page.content()
        await page.goto(ui.login_url)
        assert urlsplit(page.url).path == "/" and "token" not in page.url  # the token leaves the address bar
        cookie = next(c for c in await context.cookies() if c["name"] == "rpa_ui_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        row = page.locator(f"tr[data-run-id='{seeded}']")
        await row.wait_for()
        assert "succeeded" in await row.inner_text() and "seeded_bot" in await row.inner_text()
        await page.select_option("select[name=status]", "failed")
        await page.get_by_role("button", name="Filter").click()
        await page.wait_for_url(re.compile(r"status=failed"))
        assert await page.locator(f"tr[data-run-id='{seeded}']").count() == 0
        await page.goto(ui.base + f"/runs/{seeded}")
        assert "1,234.00" in await page.locator("table.outputs").inner_text()
        await page.locator("img.thumb").first.wait_for()
        loaded = ("img => img.complete ? img.naturalWidth : new Promise(done => {"
                  " img.addEventListener('load', () => done(img.naturalWidth), {once: true});"
                  " img.addEventListener('error', () => done(0), {once: true}); })")
        assert await page.locator("img.thumb").first.evaluate(loaded) == 1  # the picture is served
        await page.get_by_role("link", name="Report").click()
        assert await page.locator("h1").inner_text() == "seeded report"
    finally:
        await context.close()


async def test_start_a_bot_and_watch_it_finish(ui, sandbox, browser):
    from engine.history import History

    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(ui.login_url)
        await page.goto(ui.base + "/secrets")
        await page.fill("input[name=name]", "password")
        await page.fill("input[name=value]", "wonderland")
        await page.get_by_role("button", name="Store").click()
        await page.get_by_text("Stored password.").wait_for()
        await page.goto(ui.base + "/bots")
        card = page.locator(
            "section.card", has=page.get_by_role("heading", name="login_and_search", exact=True)
        )
        assert "password" in await card.locator(".tag.ok").inner_text()  # set: no "(not set)"
        await card.locator("input[name='param.base_url']").fill(sandbox.url)
        await card.locator("input[name='param.supplier']").fill("Acme")
        await card.get_by_role("button", name="Run now").click()
        await page.get_by_text("Started login_and_search").wait_for()
        launch = page.locator("li.launch").first
        # live.js refreshes the list; the launch turns from running to succeeded without a reload
        await launch.locator(".status.ok").wait_for(timeout=90_000)
        run_link = launch.locator("a").first
        run_id = await run_link.inner_text()
        assert await page.locator(f"tr[data-run-id='{run_id}'] .status").inner_text() == "succeeded"
        record = History(ui.settings()).get_run(run_id)
        assert record.plan_name == "login_and_search" and record.status == "succeeded"
        assert "Acme" in json.dumps(record.outputs)
        await run_link.click()
        await page.get_by_role("heading", name=re.compile("login_and_search")).wait_for()
        assert await page.locator("table.steps tbody tr").count() == 8
    finally:
        await context.close()


async def test_pause_and_resume_a_schedule(ui, sandbox, browser):
    from engine.jobs import JobStore

    job_id = add_job(ui, sandbox.url, "ui-pause-test")
    store = JobStore(ui.settings())
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(ui.login_url)
        await page.goto(ui.base + "/schedules")
        row = page.locator(f"tr[data-job-id='{job_id}']")
        assert await row.locator("td.state").inner_text() == "active"
        assert "every 1h" in await row.inner_text() and "UTC" in await row.inner_text()
        await row.get_by_role("button", name="Pause").click()
        await page.get_by_text(f"Paused {job_id}.").wait_for()
        assert await row.locator("td.state").inner_text() == "paused"
        assert store.get(job_id).paused and store.next_run_times().get(job_id) is None
        await page.goto(ui.base + "/plan")
        assert "ui-pause-test" not in await page.content()  # paused work is not planned
        await page.goto(ui.base + "/schedules")
        await row.get_by_role("button", name="Resume").click()
        await page.get_by_text(f"Resumed {job_id}.").wait_for()
        assert await row.locator("td.state").inner_text() == "active"
        assert not store.get(job_id).paused and store.next_run_times().get(job_id) is not None
        await page.goto(ui.base + "/plan")
        assert await page.locator("svg.gantt rect.bar").count() >= 1
        assert "ui-pause-test" in await page.locator("svg.gantt").inner_html()
    finally:
        await context.close()


QUEUE_PLAN = """
schema_version: 1
name: ui_queue_probe
params:
  base_url: http://127.0.0.1:8765
  word: {description: A text the login page must show}
allowed_domains: [127.0.0.1]
steps:
  - {id: open, action: goto, value: "{{ params.base_url }}/login"}
  - {id: check, action: assert, target: {text: "{{ params.word }}"}, timeout_ms: 1500}
"""


async def test_queue_counts_and_retry_failed(ui, sandbox, browser, tmp_path):
    from engine.history import History

    plan = tmp_path / "queue_probe.yaml"
    plan.write_text(QUEUE_PLAN)
    items = tmp_path / "words.csv"
    items.write_text("word\nSign in to Sandbox Invoices\nNo such words here\n")
    done = await asyncio.to_thread(  # the browser's event loop keeps turning meanwhile
        subprocess.run,
        [
            sys.executable,
            "-m",
            "engine.cli.main",
            "run",
            str(plan),
            "--items",
            str(items),
            "--param",
            f"base_url={sandbox.url}",
            "--json",
        ],
        check=False,
        cwd=REPO,
        env=_env(ui.home),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stderr[-2000:]  # one item failed, so the queue did not succeed
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(ui.login_url)
        await page.get_by_role("link", name="Queues").click()
        row = page.locator("tr[data-queue^='words-']")
        cells = await row.locator("td.num").all_inner_texts()
        assert cells[:4] == ["2", "1", "1", "0"], cells  # items, done, failed, held
        await row.get_by_role("button", name="Retry failed").click()
        launch = page.locator("li.launch").first
        await launch.locator(".status.bad").wait_for(timeout=90_000)  # the word is still not there
        runs = History(ui.settings()).list_runs(plan_name="ui_queue_probe", limit=10)
        assert len(runs) == 3 and sum(r.status == "failed_business" for r in runs) == 2
        await page.goto(ui.base + "/queues")
        assert (await row.locator("td.num").all_inner_texts())[:3] == ["2", "1", "1"]
    finally:
        await context.close()


# -- security --------------------------------------------------------------------------------------


def test_no_session_no_data(ui, seeded, sandbox):
    job_id = add_job(ui, sandbox.url, "ui-nosession-test")
    cookie, _ = login(ui)
    secrets_of_runs = [seeded, "seeded_bot", job_id, "1,234.00", MARKER]
    for path in data_paths(ui, seeded):
        good = request(ui, "GET", path, cookie=cookie)
        assert good.status == 200, path  # the same request with a session shows data
        for bad_cookie in (None, "not-a-session", cookie[:-2] + "xx"):
            answer = request(ui, "GET", path, cookie=bad_cookie)
            assert answer.status == 401, (path, bad_cookie, answer.status)
            for word in secrets_of_runs:
                assert word not in answer.text, (path, word)
    for path, form in (
        (f"/schedules/{job_id}/pause", {}),
        (f"/schedules/{job_id}/remove", {}),
        ("/secrets", {"name": "X", "value": "y"}),
        ("/logout", {}),
    ):
        assert request(ui, "POST", path, form=form).status == 401
    from engine.jobs import JobStore

    assert JobStore(ui.settings()).find(job_id) is not None and not JobStore(ui.settings()).get(job_id).paused
    # DNS rebinding: another name for 127.0.0.1 gets nothing, even with a session
    assert request(ui, "GET", "/", cookie=cookie, headers={"Host": "evil.example:80"}).status == 421
    # a wrong token does not log in
    assert "set-cookie" not in request(ui, "GET", "/login?token=wrong-token-0123456789").headers


def test_post_without_csrf_is_refused(ui, sandbox):
    from engine.jobs import JobStore
    from engine.secrets import SecretStore

    job_id = add_job(ui, sandbox.url, "ui-csrf-test")
    store = JobStore(ui.settings())
    cookie, csrf = login(ui)
    other_cookie, other_csrf = login(ui)
    attempts = [
        ({}, {}),  # no token
        ({"csrf": "forged"}, {}),
        ({"csrf": other_csrf}, {}),  # another session's token
        ({"csrf": csrf}, {"Origin": "http://evil.example"}),  # the right token from another site
    ]
    for form, headers in attempts:
        answer = request(ui, "POST", f"/schedules/{job_id}/pause", cookie=cookie, form=form, headers=headers)
        assert answer.status == 403, (form, headers, answer.status)
        assert not store.get(job_id).paused
        answer = request(
            ui,
            "POST",
            "/secrets",
            cookie=cookie,
            form={**form, "name": "CSRF_PROBE", "value": "v1v1v1"},
            headers=headers,
        )
        assert answer.status == 403
        assert "CSRF_PROBE" not in SecretStore(ui.settings()).list()
    answer = request(ui, "POST", f"/schedules/{job_id}/pause", cookie=cookie, form={"csrf": csrf})
    assert answer.status == 303 and store.get(job_id).paused  # done right, the same POST works
    assert other_cookie != cookie


def test_run_files_stay_inside_the_run_folder(ui, seeded):
    cookie, _ = login(ui)
    prefix = f"/runs/{seeded}/files/"
    ok = request(ui, "GET", prefix + "screens/01-open.png", cookie=cookie)
    assert ok.status == 200 and ok.headers["content-type"] == "image/png"
    for path in (
        "../../outside.txt",
        "..%2f..%2foutside.txt",
        "%2e%2e/%2e%2e/outside.txt",
        "screens/../../../outside.txt",
        "screens/link.png",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "..",
        "../",
        "../../rpa.db",
        "../../secrets.json",
        "screens/%00.png",
        "screens",
    ):
        answer = request(ui, "GET", prefix + path, cookie=cookie)
        assert answer.status == 404, (path, answer.status)
        assert MARKER not in answer.text and "root:" not in answer.text
    for run_id in ("..", "%2e%2e", seeded[:8]):  # a prefix shows the run page, never its files
        assert request(ui, "GET", f"/runs/{run_id}/files/report.html", cookie=cookie).status == 404
    report = request(ui, "GET", prefix + "report.html", cookie=cookie)
    assert report.status == 200 and "script-src" not in report.headers["content-security-policy"]
    assert "default-src 'none'" in report.headers["content-security-policy"]
    evil = request(ui, "GET", prefix + "downloads/evil.html", cookie=cookie)
    assert evil.headers["content-type"] == "application/octet-stream"
    assert evil.headers["content-disposition"].startswith("attachment")
    assert evil.headers["content-security-policy"] == "sandbox"


def test_a_secret_set_through_the_form_never_comes_back(ui, seeded, sandbox):
    value = "ui-" + secrets.token_urlsafe(12)
    cookie, csrf = login(ui)
    answer = request(
        ui, "POST", "/secrets", cookie=cookie, form={"csrf": csrf, "name": "UI_PROBE", "value": value}
    )
    assert answer.status == 303 and value not in answer.headers.get("location", "")
    from engine.secrets import SecretStore

    assert SecretStore(ui.settings()).get("UI_PROBE") == value  # stored for real
    from engine.history import History

    run_ids = [r.id for r in History(ui.settings()).list_runs(limit=20)]
    paths = sorted({p for run_id in run_ids for p in data_paths(ui, run_id)})
    assert len(paths) > 15
    watched = [value, "wonderland"]  # "wonderland": the sandbox password a bot run typed, if it ran
    for path in paths:
        answer = request(ui, "GET", path, cookie=cookie)
        assert answer.status == 200, path
        text = readable(answer.body)
        for word in watched:
            assert word not in text, (path, word)
    assert "UI_PROBE" in request(ui, "GET", "/secrets", cookie=cookie).text
    logs = ui.logs()
    assert value not in logs and "wonderland" not in logs
    assert logs.count(ui.token) == 1  # printed once, at start, and never logged


# -- binding ---------------------------------------------------------------------------------------


def test_binding_beyond_loopback_needs_tls_and_a_token(tmp_path):
    cert, key = _self_signed(tmp_path)
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)]
    cases = [
        ("0.0.0.0", [], {}, "TLS is required"),
        ("0.0.0.0", [], {"RPA_UI_TOKEN": "x" * 20}, "TLS is required"),
        ("0.0.0.0", tls, {}, "needs a token you chose"),
        ("0.0.0.0", tls[:2], {"RPA_UI_TOKEN": "x" * 20}, "both --tls-cert and --tls-key"),
        ("127.0.0.1", [], {"RPA_UI_TOKEN": "short"}, "shorter than"),
    ]
    for host, args, env, said in cases:
        done = subprocess.run(
            [sys.executable, "-m", "engine.cli.main", "ui", "--host", host, "--port", "0", *args],
            check=False,
            cwd=REPO,
            env=_env(tmp_path / "home", **env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (args, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and said in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_tls_serves_https_with_a_secure_cookie(tmp_path):
    cert, key = _self_signed(tmp_path)
    token = secrets.token_urlsafe(20)
    server = start_ui(tmp_path / "home", "--tls-cert", str(cert), "--tls-key", str(key), RPA_UI_TOKEN=token)
    try:
        assert server.base.startswith("https://") and token not in server.logs()
        ctx = ssl.create_default_context(cafile=str(cert))
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=30)
        conn.request("GET", f"/login?token={token}")
        resp = conn.getresponse()
        assert resp.status == 303
        cookie = resp.getheader("set-cookie")
        conn.close()
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    finally:
        stop_ui(server)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
