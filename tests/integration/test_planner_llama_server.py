"""The openai backend through a real llama.cpp server (``python -m llama_cpp.server``) on 127.0.0.1.

Skipped only when llama-cpp-python (the optional extra ``.[llama]``) is not importable.
"""

from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (optional extra: pip install '.[llama]')")

from engine.config import env_overrides, get_settings
from engine.planner import make_backend
from engine.planner.catalog import DOCTOR_ANSWERS, DOCTOR_PAGE
from engine.planner.llama_server import llama_server
from engine.planner.model import embedded_gguf
from engine.planner.prompts import decision_messages

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def server():
    with llama_server(embedded_gguf(), n_ctx=2048) as srv:
        yield srv


def test_decisions_through_a_real_llama_cpp_server(server) -> None:
    with env_overrides(RPA_OPENAI_BASE_URL=server.base_url, RPA_OPENAI_MODEL=server.model, RPA_OPENAI_TIMEOUT="120"):
        backend = make_backend(get_settings(), "openai")
        for goal in ('click "Sign in"', 'click "Home"'):
            ranked = backend.rank(decision_messages("Sign in as alice", DOCTOR_PAGE, goal), DOCTOR_ANSWERS)
            assert 0 <= ranked.chosen < len(DOCTOR_ANSWERS) and ranked.prompt_tokens > 100
            assert ranked.scores is not None and len(ranked.scores) == len(DOCTOR_ANSWERS)
        # llama-cpp-python's server takes a schema as json_object, not json_schema: auto found that out once
        assert backend.mode == "json_object" and backend.stats()["requests"] == 3
        sampled = backend.rank(decision_messages("Sign in", DOCTOR_PAGE, 'click "Sign in"'), DOCTOR_ANSWERS,
                               sample=True, seed=1, temperature=1.0)
        assert 0 <= sampled.chosen < len(DOCTOR_ANSWERS)


def test_the_grammar_path_of_the_same_server(server) -> None:
    with env_overrides(RPA_OPENAI_BASE_URL=server.base_url, RPA_OPENAI_CONSTRAIN="grammar", RPA_OPENAI_TIMEOUT="120"):
        backend = make_backend(get_settings(), "openai")
        ranked = backend.rank(decision_messages("Sign in as alice", DOCTOR_PAGE, 'click "Sign in"'), DOCTOR_ANSWERS)
        assert 0 <= ranked.chosen < len(DOCTOR_ANSWERS) and backend.mode == "grammar"



@pytest.mark.browser
def test_plans_a_sandbox_task_through_the_server_end_to_end(server, monkeypatch) -> None:
    from bots.sandbox import start_sandbox
    from engine.loop import EntryStatus, JobSpec, run_batch
    from engine.plan import Action

    monkeypatch.setenv("RPA_PLANNER_BACKEND", "openai")
    monkeypatch.setenv("RPA_OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("RPA_OPENAI_MODEL", server.model)
    monkeypatch.setenv("RPA_OPENAI_TIMEOUT", "120")
    with start_sandbox(port=0) as site:
        batch = run_batch([JobSpec(instruction="Log in as alice", url=site.url + "/login", skills=False)],
                          secrets={"password": "wonderland"})
        entry = batch.entries[0]
        assert entry.status is EntryStatus.succeeded, entry.error
        assert site.stats.logins == 1 and site.site.signed_in_users() == ["alice"]  # the site's own state
        assert (Action.fill, "{{ secrets.password }}") in [(s.action, s.value) for s in entry.plan.steps]


@pytest.mark.browser
def test_a_server_answering_garbage_fails_the_job_without_a_plan(monkeypatch) -> None:
    """Every reply breaks the format: the job fails in one line, and no plan is saved for replay."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from bots.sandbox import start_sandbox
    from engine.errors import FailureKind
    from engine.loop import JobSpec, run_batch

    class Garbage(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"choices": [{"message": {"content": "I think you should log in"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("RPA_PLANNER_BACKEND", "openai")
    monkeypatch.setenv("RPA_OPENAI_BASE_URL", f"http://127.0.0.1:{httpd.server_port}/v1")
    try:
        with start_sandbox(port=0) as site:
            job = JobSpec(instruction="Log in as alice", url=site.url + "/login", skills=False, retries=0)
            entry = run_batch([job], secrets={"password": "wonderland"}).entries[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert not entry.ok and entry.error_kind is FailureKind.application
    assert entry.error.startswith("Planner.openai: the model answered") and "\n" not in entry.error
    from engine.config import get_settings
    from engine.planner import get_planner

    assert get_planner(get_settings()).cached("Log in as alice", site.url + "/login", []) is None
