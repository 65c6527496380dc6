"""The OpenAI-compatible backend against real local HTTP servers that answer well, badly, slowly or not at all."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.config import get_settings
from engine.errors import ConfigError, FailureKind, PlannerError
from engine.logs import mask
from engine.planner.openai_backend import OpenAIBackend

MESSAGES = [{"role": "system", "content": "s"}, {"role": "user", "content": "Task: x"}]
ANSWERS = ['click e1 "Home"', 'click e2 "Invoices"', 'click e3 "Form"']


def _reply(content: str, logprobs: list[tuple[str, float]] | None = None) -> dict:
    choice: dict = {"message": {"role": "assistant", "content": content}}
    if logprobs:
        top = [{"token": t, "logprob": lp} for t, lp in logprobs]
        choice["logprobs"] = {"content": [{"token": "{\"", "logprob": 0.0, "top_logprobs": []},
                                          {"token": logprobs[0][0], "logprob": logprobs[0][1], "top_logprobs": top}]}
    return {"choices": [choice], "usage": {"prompt_tokens": 42}}


class Fake:
    """A server that answers each request with the next scripted (status, body, delay_s)."""

    def __init__(self, script: list[tuple[int, object, float]]) -> None:
        self.script = list(script)
        self.seen: list[dict] = []
        self.headers: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake.seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                fake.headers.append(dict(self.headers))
                status, body, delay = fake.script.pop(0) if len(fake.script) > 1 else fake.script[0]
                time.sleep(delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator:
    made: list[Fake] = []

    def make(*script: tuple[int, object, float]) -> Fake:
        made.append(Fake(list(script)))
        return made[-1]

    yield make
    for f in made:
        f.close()


def _backend(monkeypatch, url: str, **kw) -> OpenAIBackend:
    monkeypatch.setenv("RPA_OPENAI_BASE_URL", url)
    monkeypatch.setenv("RPA_OPENAI_MODEL", "tiny")
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("retries", 0)
    return OpenAIBackend(get_settings(), **kw)


def test_json_schema_choice_with_logprob_scores(monkeypatch, fake) -> None:
    server = fake((200, _reply('{"option": 1}', [("1", -0.2), ("0", -2.0), ("2", -3.5), ("x", -1.0)]), 0))
    ranked = _backend(monkeypatch, server.url).rank(MESSAGES, ANSWERS)
    assert ranked.chosen == 1 and ranked.prompt_tokens == 42
    assert ranked.scores == [-2.0, -0.2, -3.5]
    sent = server.seen[0]
    assert sent["model"] == "tiny" and sent["temperature"] == 0.0 and sent["logprobs"] is True
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["option"]["enum"] == [0, 1, 2]
    assert '0. click e1 "Home"\n1. click e2 "Invoices"' in sent["messages"][-1]["content"]


def test_auto_falls_back_to_what_the_server_accepts_and_remembers(monkeypatch, fake) -> None:
    refused = {"detail": [{"loc": ["body", "response_format", "type"], "msg": "Input should be 'json_object'"}]}
    server = fake((422, refused, 0), (200, _reply("2"), 0), (200, _reply("0"), 0))
    backend = _backend(monkeypatch, server.url)
    assert backend.rank(MESSAGES, ANSWERS).chosen == 2
    assert backend.rank(MESSAGES, ANSWERS).chosen == 0
    assert [s["response_format"]["type"] for s in server.seen] == ["json_schema", "json_object", "json_object"]
    assert backend.mode == "json_object"


def test_grammar_mode_sends_a_gbnf_of_the_option_numbers(monkeypatch, fake) -> None:
    server = fake((200, _reply("1"), 0))
    _backend(monkeypatch, server.url, constrain="grammar").rank(MESSAGES, ANSWERS, sample=True, seed=3,
                                                                 temperature=0.7)
    sent = server.seen[0]
    assert sent["grammar"] == 'root ::= "0" | "1" | "2"\n' and "response_format" not in sent
    assert sent["seed"] == 3 and sent["temperature"] == 0.7


def test_refused_logprobs_are_dropped_not_fatal(monkeypatch, fake) -> None:
    server = fake((400, {"error": "logprobs are not supported"}, 0), (200, _reply("1"), 0))
    backend = _backend(monkeypatch, server.url)
    ranked = backend.rank(MESSAGES, ANSWERS)
    assert ranked.chosen == 1 and ranked.scores is None and not backend.logprobs
    assert "logprobs" not in server.seen[1] and server.seen[1]["response_format"]["type"] == "json_schema"


def test_a_missing_feature_asked_for_explicitly_is_one_line(monkeypatch, fake) -> None:
    server = fake((400, {"error": "unknown field response_format"}, 0))
    backend = _backend(monkeypatch, server.url, constrain="json_schema")
    backend.logprobs = False
    with pytest.raises(PlannerError) as err:
        backend.rank(MESSAGES, ANSWERS)
    msg = str(err.value)
    assert msg.startswith("Planner.openai: ") and "refused the constraint 'json_schema' (HTTP 400" in msg
    assert "RPA_OPENAI_CONSTRAIN=auto" in msg and "\n" not in msg and len(server.seen) == 1


@pytest.mark.parametrize(("status", "body", "prefix"), [
    (200, b"not json", "Planner.openai: http://127.0.0.1"),
    (200, {"choices": []}, "Planner.openai: the answer has no"),
    (200, _reply("7"), "Planner.openai: the model answered '7', which is not an option number 0-2"),
    (200, _reply("I would click Home"), "Planner.openai: the model answered 'I would click Home'"),
    (200, _reply('{"option": 1, "why": "x"}'), "Planner.openai: the model answered"),
    (200, _reply("1. click e3"), "Planner.openai: the model answered"),  # number and text disagree
    (401, {"error": "bad key"}, "Planner.openai: http://127.0.0.1"),
    (404, {"error": "no model"}, "Planner.openai: http://127.0.0.1"),
])
def test_garbage_is_one_line_planner_error(monkeypatch, fake, status: int, body: object, prefix: str) -> None:
    server = fake((status, body, 0))
    with pytest.raises(PlannerError) as err:
        _backend(monkeypatch, server.url, constrain="none").rank(MESSAGES, ANSWERS)
    assert str(err.value).startswith(prefix) and "\n" not in str(err.value)
    assert FailureKind.of(err.value) is FailureKind.application


def test_unconstrained_reply_naming_its_option_is_read(monkeypatch, fake) -> None:
    server = fake((200, _reply('1. click e2 "Invoices"'), 0))
    assert _backend(monkeypatch, server.url, constrain="none").rank(MESSAGES, ANSWERS).chosen == 1


def test_5xx_is_retried_with_backoff(monkeypatch, fake) -> None:
    server = fake((503, {"error": "loading"}, 0), (500, b"oops", 0), (200, _reply("0"), 0))
    backend = _backend(monkeypatch, server.url, retries=2)
    assert backend.rank(MESSAGES, ANSWERS).chosen == 0
    assert len(server.seen) == 3 and backend.stats()["retries"] == 2


def test_a_hanging_server_times_out_in_one_line(monkeypatch, fake) -> None:
    server = fake((200, _reply("0"), 3.0))
    t0 = time.perf_counter()
    with pytest.raises(PlannerError) as err:
        _backend(monkeypatch, server.url, timeout_s=0.4, retries=1).rank(MESSAGES, ANSWERS)
    assert time.perf_counter() - t0 < 2.5
    assert "did not answer within 0.4 s (2 tries)" in str(err.value) and "\n" not in str(err.value)


def test_unreachable_is_one_line_planner_error(monkeypatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PlannerError) as err:
        _backend(monkeypatch, f"http://127.0.0.1:{port}/v1", timeout_s=2, retries=1).rank(MESSAGES, ANSWERS)
    assert "cannot be reached" in str(err.value) and "(2 tries)" in str(err.value) and "\n" not in str(err.value)


def test_api_key_is_sent_and_masked(monkeypatch, fake) -> None:
    server = fake((200, _reply("0"), 0))
    monkeypatch.setenv("RPA_TEST_LLM_KEY", "sk-test-123456")
    monkeypatch.setenv("RPA_OPENAI_API_KEY_ENV", "RPA_TEST_LLM_KEY")
    _backend(monkeypatch, server.url).rank(MESSAGES, ANSWERS)
    assert server.headers[0]["Authorization"] == "Bearer sk-test-123456"
    assert "sk-test-123456" not in mask("key sk-test-123456")


def test_missing_base_url_and_unknown_mode_are_config_errors(monkeypatch) -> None:
    monkeypatch.delenv("RPA_OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="RPA_OPENAI_BASE_URL"):
        OpenAIBackend(get_settings())
    monkeypatch.setenv("RPA_OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("RPA_OPENAI_CONSTRAIN", "regex")
    with pytest.raises(ConfigError, match="unknown RPA_OPENAI_CONSTRAIN 'regex'"):
        OpenAIBackend(get_settings())


def test_benchmark_figures_have_the_same_fields_as_other_backends(monkeypatch, fake) -> None:
    from engine.planner.catalog import backend_figures

    server = fake((200, _reply("0"), 0.05))
    backend = _backend(monkeypatch, server.url)
    backend.rank(MESSAGES, ANSWERS)
    figures = backend_figures(backend)
    assert figures["backend_kind"] == "openai" and figures["tokens_per_s"] > 0 and figures["rss_mb"] > 10
    assert figures["backend_stats"]["prompt_tokens"] == 42 and figures["backend_stats"]["requests"] == 1
