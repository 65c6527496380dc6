"""No secret value in traces (every zip member decompressed), observations, step pictures or
recordings, and nothing under RPA_HOME readable by others."""

from __future__ import annotations

import base64
import json
import os
import stat
import zipfile
from urllib.parse import quote, quote_plus

import pytest

from bots.browser import new_context
from bots.observe import observe
from bots.screens import Screencast
from bots.traces import scrub_trace
from tests.integration.two_hosts import TwoHosts

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SECRET = 'Tr0ub4dor&3 "horse"/staple'


@pytest.fixture(scope="module")
def hosts():
    h = TwoHosts()
    yield h
    h.stop()


def encodings(value: str) -> dict[str, bytes]:
    """The forms a test looks for, written out independently of bots.traces."""
    basic = base64.b64encode(f"alice:{value}".encode())
    return {"plain": value.encode(), "json": json.dumps(value)[1:-1].encode(),
            "json-twice": json.dumps(json.dumps(value)[1:-1])[1:-1].encode(), "url": quote(value, safe="").encode(),
            "form": quote_plus(value).encode(), "basic-auth": basic, "prefix": value[:10].encode()}


def members_with(path, value: str) -> list[str]:
    hits = []
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            data = z.read(info)  # decompressed
            hits += [f"{info.filename}:{name}" for name, form in encodings(value).items() if form in data]
    return hits


@pytest.mark.parametrize("snapshots", [False, True], ids=["on-failure", "full"])
async def test_trace_holds_no_secret(browser, hosts, tmp_path, snapshots):
    context = await new_context(browser)
    await context.tracing.start(snapshots=snapshots, screenshots=False)
    page = await context.new_page()
    await page.goto(f"{hosts.url}/login")
    await page.fill("#u", "alice")
    await page.fill("#p", SECRET)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/done")
    await page.evaluate("""s => Promise.all([
        fetch('/done', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({pw: s})}),
        fetch('/done', {headers: {Authorization: 'Basic ' + btoa('alice:' + s)}})])""", SECRET)
    trace = tmp_path / "trace.zip"
    await context.tracing.stop(path=str(trace))
    await context.close()
    before = members_with(trace, SECRET)
    assert any(h.startswith("trace.trace:") for h in before)  # the test can fail: the fill is in there
    if snapshots:
        assert any(h.startswith("resources/") for h in before) and any(":basic-auth" in h for h in before)
    result = scrub_trace(trace, [SECRET])
    assert result.replaced >= len(before)
    assert members_with(trace, SECRET) == []
    assert stat.S_IMODE(os.stat(trace).st_mode) == 0o600
    with zipfile.ZipFile(trace) as z:  # still a trace: every member is there, names match references
        names = z.namelist()
        assert {"trace.trace", "trace.network"} <= set(names) and z.testzip() is None
        network = z.read("trace.network").decode()
        for name in names:
            if name.startswith("resources/") and name.endswith((".dat", ".json")):
                assert name.split("/")[1] in network


async def _step_picture(browser, url: str, value: str | None, hide: bool = True) -> bytes:
    context = await new_context(browser)
    cast = Screencast(context, hide_passwords=hide)
    page = await context.new_page()
    assert await cast.follow(page)
    await page.goto(url)
    if value is not None:
        await page.fill("#p", value)
    await page.locator("#u").focus()  # the password field keeps no caret
    # The page's last picture: wait until no frame has come for 0.5 s (a loaded machine paints late).
    seen, quiet = len(cast.frames), 0
    for _ in range(50):
        await page.wait_for_timeout(100)
        quiet = quiet + 1 if len(cast.frames) == seen else 0
        seen = len(cast.frames)
        if quiet >= 5 and seen:
            break
    data = cast.frames[-1][1]
    await cast.flush()
    await context.close()
    return base64.b64decode(data)


async def test_step_pictures_do_not_show_password_length(browser, hosts):
    url = f"{hosts.url}/login"
    empty = await _step_picture(browser, url, None)
    short = await _step_picture(browser, url, "ab1")
    long = await _step_picture(browser, url, "a-much-longer-password-1234567890")
    assert short == long == empty  # a filled field paints exactly like an empty one
    # Control: without the style the bullets show, and the pictures differ by length.
    assert await _step_picture(browser, url, "ab1", hide=False) != await _step_picture(browser, url, "abcdefgh", hide=False)


async def test_observation_never_reads_a_password(browser, hosts):
    context = await new_context(browser)
    page = await context.new_page()
    await page.goto(f"{hosts.url}/login")
    await page.fill("#u", "alice")
    await page.fill("#p", SECRET)
    obs = await observe(page)
    dumped = obs.model_dump_json()
    assert "alice" in dumped  # other values are observed
    assert SECRET not in dumped and json.dumps(SECRET)[1:-1] not in dumped and SECRET not in obs.to_prompt()
    password = [e for e in obs.elements if e.type == "password"]
    assert password and all(e.value is None for e in password)
    await context.close()


async def test_recording_without_any_key_keeps_the_plan(browser, hosts, rpa_home, monkeypatch, tmp_path):
    from bots.recorder import Recorder
    from engine.cli.recording import unstored_lines
    from engine.plan.yamlio import dump_plan, save_plan

    monkeypatch.delenv("RPA_SECRET_KEY")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    context = await browser.new_context()
    page = await context.new_page()
    recorder = await Recorder.attach(page, name="login")
    await page.goto(f"{hosts.url}/login")
    await page.get_by_label("User").click()
    await page.keyboard.type("alice")
    await page.get_by_label("Password").click()
    await page.keyboard.type(SECRET)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/done")
    plan = await recorder.stop()
    await context.close()
    assert plan.secrets == ["PASSWORD"] and recorder.unstored == ["PASSWORD"]
    fill = [s for s in plan.steps if s.action.value == "fill" and "secrets" in (s.value or "")]
    assert [s.value for s in fill] == ["{{ secrets.PASSWORD }}"]
    out = save_plan(plan, tmp_path / "login.yaml")
    assert SECRET not in out.read_text() and SECRET not in dump_plan(plan)
    assert not (rpa_home / "secrets.json").exists()
    for path in rpa_home.rglob("*") if rpa_home.exists() else []:
        assert not path.is_file() or SECRET.encode() not in path.read_bytes()
    assert unstored_lines(recorder.unstored) == [
        ("secret PASSWORD was not stored (no OS keyring and RPA_SECRET_KEY is not set); the plan uses "
         "{{ secrets.PASSWORD }}. Store it with: rpa secret set PASSWORD")]
