"""Record flows driven by Playwright's mouse and keyboard in real headless Chromium."""
from __future__ import annotations

import functools
import http.server
import threading

import pytest
from playwright.async_api import async_playwright

from bots.recorder import Recorder
from engine.config import get_settings
from engine.plan.yamlio import dump_plan, parse_plan
from engine.secrets import SecretStore

SITE = {
    "index.html": """<html><body><h1>Login</h1><form action="/home.html" method="get">
<label for="u">Username</label><input id="u" name="username">
<label for="p">Password</label><input id="p" name="password" type="password">
<button type="submit">Sign in</button></form><p id="plain">Plain text</p></body></html>""",
    "home.html": """<html><body><h1>Home</h1><input placeholder="Search invoices" name="q">
<a href="/inv.html">Invoice INV-001</a>
<select name="status" aria-label="Status"><option value="open">Open</option><option value="paid">Paid</option></select>
<label><input type="checkbox" name="agree"> I agree</label>
<label for="f">Attachment</label><input type="file" id="f">
<a href="/report.csv" download>Download CSV</a>
<iframe src="/frame.html" name="inner"></iframe></body></html>""",
    "frame.html": "<html><body><button>Inside</button></body></html>",
    "inv.html": "<html><body><h1>Invoice INV-001</h1></body></html>",
    "report.csv": "a,b\n",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    for name, text in SITE.items():
        (root / name).write_text(text)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
async def chromium():
    settings = get_settings()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=settings.chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        await browser.close()


async def test_record_local_flow(site, chromium, tmp_path):
    context = await chromium.new_context(accept_downloads=True)
    page = await context.new_page()
    recorder = await Recorder.attach(page, name="local")
    await page.goto(f"{site}/index.html")
    await page.get_by_label("Username").click()
    await page.keyboard.type("alice")
    await page.get_by_label("Password").click()
    await page.keyboard.type("wonderland")
    await page.locator("#plain").click()
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/home.html**")
    await page.get_by_placeholder("Search invoices").click()
    await page.keyboard.type("INV-001")
    await page.keyboard.press("Enter")
    await page.get_by_label("Status").select_option("paid")
    await page.get_by_label("I agree").click()
    upload = tmp_path / "note.txt"
    upload.write_text("hi")
    await page.locator("#f").set_input_files(str(upload))
    async with page.expect_download():
        await page.get_by_text("Download CSV").click()
    await page.frame_locator("iframe").get_by_role("button", name="Inside").click()
    await page.get_by_role("link", name="Invoice INV-001").click()
    await page.wait_for_url("**/inv.html")
    plan = await recorder.stop()
    await context.close()

    text = dump_plan(plan)
    assert "wonderland" not in text
    again = parse_plan(text)  # validates against the schema
    assert again.secrets == ["PASSWORD"]
    assert SecretStore().get("PASSWORD") == "wonderland"
    assert plan.params["username"].default == "alice"
    assert plan.params["search_invoices"].default == "INV-001"
    assert plan.allowed_domains == ["127.0.0.1"]
    actions = [s.action.value for s in plan.steps]
    assert actions[0] == "goto"
    for verb in ("fill", "press", "select", "check", "upload", "download"):
        assert verb in actions, verb
    fills = [s for s in plan.steps if s.action.value == "fill"]
    assert [s.value for s in fills] == [
        "{{ params.username }}", "{{ secrets.PASSWORD }}", "{{ params.search_invoices }}"
    ]
    sign_in = next(s for s in plan.steps if s.description == "click Sign in")
    assert sign_in.expect is not None and "home" in (sign_in.expect.url or "")
    assert sign_in.target is not None and sign_in.target.root[0].role == "button"
    flagged = [s.description for s in plan.steps if (s.description or "").startswith("NEEDS ATTENTION")]
    assert any("not interactive" in d for d in flagged)
    assert any("iframe" in d for d in flagged)
    last = plan.steps[-1]
    assert last.expect is not None and "inv" in (last.expect.url or "")


async def test_stop_without_actions_keeps_the_start_url(site, chromium):
    context = await chromium.new_context()
    page = await context.new_page()
    await page.goto(f"{site}/inv.html")
    recorder = await Recorder.attach(page)
    plan = await recorder.stop()
    await context.close()
    assert [s.action.value for s in plan.steps] == ["goto"]
    assert plan.steps[0].value == f"{site}/inv.html"


def test_cli_refuses_existing_file_and_bad_url(tmp_path):
    from typer.testing import CliRunner

    from engine.cli.main import app

    out = tmp_path / "r.yaml"
    out.write_text("x")
    result = CliRunner().invoke(app, ["record", "http://127.0.0.1:9/", "--out", str(out), "--headless"])
    assert result.exit_code == 2 and "exists" in result.output
    result = CliRunner().invoke(app, ["record", "file:///etc", "--out", str(tmp_path / "n.yaml")])
    assert result.exit_code == 2 and "http" in result.output


async def test_replay_recording(site, chromium, tmp_path):
    """Record login + download + link, replay through the loop with zero LLM calls."""
    from engine.loop import JobSpec, run_batch_async

    context = await chromium.new_context(accept_downloads=True)
    page = await context.new_page()
    recorder = await Recorder.attach(page, name="replay")
    await page.goto(f"{site}/index.html")
    await page.get_by_label("Username").click()
    await page.keyboard.type("alice")
    await page.get_by_label("Password").click()
    await page.keyboard.type("wonderland")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/home.html**")
    async with page.expect_download():
        await page.get_by_text("Download CSV").click()
    await page.get_by_role("link", name="Invoice INV-001").click()
    await page.wait_for_url("**/inv.html")
    plan = await recorder.stop()
    await context.close()

    batch = await run_batch_async([JobSpec(plan=parse_plan(dump_plan(plan)))])
    outcome = batch.runs[0]
    assert outcome.status.value == "succeeded", outcome.error
    assert batch.llm_calls == 0
    assert "report" in outcome.outputs
