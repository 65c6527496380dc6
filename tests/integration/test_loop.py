"""The engine loop end to end in real Chromium: a batch with two bots, a business error, a transient
error that is retried, a drift repair saved as a new version, and a second run with no LLM call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.config import get_settings
from engine.history import History
from engine.loop import EntryStatus, JobSpec, run_batch_async
from engine.plan import load_plan, parse_plan, save_plan

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[2]

_PAGES = {
    "/ready": "<!doctype html><title>Ready</title><h1>Ready</h1><button>Continue</button>",
    "/invoice/999": "<!doctype html><title>Invoice</title><p role=alert>Invoice 999 does not exist</p>",
}


class _Site(BaseHTTPRequestHandler):
    """``/once`` fails with HTTP 500 on its first request only, like a hiccupping server."""

    hits: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        n = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/once" and n == 1:
            body, code = "<h1>Internal Server Error</h1>", 500
        elif self.path == "/once":
            body, code = _PAGES["/ready"], 200
        else:
            body, code = _PAGES.get(self.path, "<h1>Not found</h1>"), 200 if self.path in _PAGES else 404
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture()
def site() -> Iterator[str]:
    _Site.hits = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def drifted():
    from bots.sandbox import start_sandbox

    server = start_sandbox(port=0, drift=True)
    yield server
    server.stop()


def _plan(text: str, url: str):
    return parse_plan(text.replace("URL", url))


TRANSIENT = """
name: transient
steps:
  - {id: open, action: goto, value: "URL/once"}
  - {id: ready, action: assert, expect: {text: Ready}}
"""
BUSINESS = """
name: business
steps:
  - {id: open, action: goto, value: "URL/invoice/999"}
  - {id: paid, action: assert, expect: {text: Invoice 999 is paid}}
"""


def _login_recording() -> Path:
    found = sorted(p for p in (REPO / "recordings").glob("*login*.yaml") if ".v" not in p.stem)
    if not found:
        pytest.skip("the sandbox ships no login recording yet")
    return found[0]


async def test_batch_retries_reports_and_repairs(site: str, drifted, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RPA_STEP_TIMEOUT_MS", "3000")
    recording = load_plan(_login_recording())
    user_file = save_plan(recording, tmp_path / "login.yaml")
    original = user_file.read_text()
    base = {n: drifted.url for n in recording.params if n in ("base_url", "url", "sandbox_url")}
    jobs = [
        JobSpec(plan=_plan(TRANSIENT, site), job_id="transient"),
        JobSpec(plan=_plan(BUSINESS, site), job_id="business"),
        JobSpec(plan=recording, plan_path=str(user_file), params=base, job_id="drift"),
    ]
    batch = await run_batch_async(jobs, concurrency=2, secrets={"password": "wonderland",
                                                                "sandbox_password": "wonderland"})
    by_id = {e.job_id: e for e in batch.entries}

    transient = by_id["transient"]
    assert transient.status is EntryStatus.succeeded, transient.error
    assert transient.attempts == 2 and transient.retries == 1

    business = by_id["business"]
    assert business.status is EntryStatus.failed_business
    assert business.attempts == 1 and business.retries == 0 and "Invoice 999 is paid" in (business.error or "")

    drift = by_id["drift"]
    assert drift.status is EntryStatus.repaired, drift.error
    assert drift.repaired_path and Path(drift.repaired_path).name == "login.v2.yaml"
    assert user_file.read_text() == original  # the user's file is never overwritten
    assert "+++ login.v2.yaml" in (drift.diff or "")
    assert load_plan(drift.repaired_path).name == recording.name

    history = History(get_settings())
    statuses = [r.status for r in history.list_runs(job_id="transient")]
    assert sorted(statuses) == ["failed_application", "succeeded"]
    assert [r.status for r in history.list_runs(job_id="business")] == ["failed_business"]
    assert history.decisions()  # every step was stored for training
    report = Path(batch.report or "")
    assert report.exists() and "Repairs" in report.read_text() and "<svg" in report.read_text()


@pytest.mark.model
async def test_second_run_of_an_instruction_makes_no_llm_call(sandbox) -> None:
    instruction = "Log in as alice"
    first = await run_batch_async([JobSpec(instruction=instruction, url=sandbox.url + "/")], concurrency=2,
                                  secrets={"password": "wonderland"})
    assert not first.entries[0].from_cache  # planned (the model may settle easy choices without a call)
    assert first.entries[0].ok, first.entries[0].error
    # The planner's decisions went to history with their page and prompt parts: training material.
    from engine.training import from_history

    learned = from_history(get_settings())
    answers = [e.answer for e in learned.examples]
    assert any(a.startswith('fill ') and "alice" in a for a in answers), (answers, learned.skipped)
    assert all("wonderland" not in m["content"] for e in learned.examples for m in e.messages)
    second = await run_batch_async([JobSpec(instruction=instruction, url=sandbox.url + "/")], concurrency=2,
                                   secrets={"password": "wonderland"})
    assert second.llm_calls == 0 and second.entries[0].from_cache
    assert second.entries[0].ok, second.entries[0].error
