"""The OpenAI-compatible backend against real local HTTP servers: good, garbage and unreachable."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.config import get_settings
from engine.errors import ConfigError, PlannerError
from engine.planner.openai_backend import OpenAIBackend

MESSAGES = [{"role": "system", "content": "s"}, {"role": "user", "content": "Task: x"}]


def _serve(body: bytes, status: int = 200):
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def _backend(monkeypatch, url: str, timeout_s: float = 5.0) -> OpenAIBackend:
    monkeypatch.setenv("RPA_OPENAI_BASE_URL", url)
    monkeypatch.setenv("RPA_OPENAI_MODEL", "tiny")
    return OpenAIBackend(get_settings(), timeout_s=timeout_s)


def test_numbered_choice(monkeypatch) -> None:
    server, seen = _serve(json.dumps({"choices": [{"message": {"content": " 1"}}], "usage": {"prompt_tokens": 42}}).encode())
    try:
        ranked = _backend(monkeypatch, f"http://127.0.0.1:{server.server_port}/v1").rank(MESSAGES, ["a", "b"])
    finally:
        server.shutdown()
    assert ranked.chosen == 1 and ranked.prompt_tokens == 42
    assert "0. a\n1. b" in seen[0]["messages"][-1]["content"] and seen[0]["model"] == "tiny"


@pytest.mark.parametrize(("body", "status", "prefix"), [
    (b"not json", 200, "Planner.openai: "),
    (json.dumps({"choices": []}).encode(), 200, "Planner.openai: the answer has no"),
    (json.dumps({"choices": [{"message": {"content": "7"}}]}).encode(), 200, "Planner.openai: the model answered '7'"),
    (b"{}", 500, "Planner.openai: "),
])
def test_garbage_is_one_line_planner_error(monkeypatch, body: bytes, status: int, prefix: str) -> None:
    server, _ = _serve(body, status)
    try:
        with pytest.raises(PlannerError) as err:
            _backend(monkeypatch, f"http://127.0.0.1:{server.server_port}").rank(MESSAGES, ["a", "b"])
    finally:
        server.shutdown()
    assert str(err.value).startswith(prefix) and "\n" not in str(err.value)


def test_unreachable_is_one_line_planner_error(monkeypatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PlannerError) as err:
        _backend(monkeypatch, f"http://127.0.0.1:{port}/v1", timeout_s=2).rank(MESSAGES, ["a"])
    assert str(err.value).startswith("Planner.openai: cannot reach") and "\n" not in str(err.value)


def test_missing_base_url_is_a_config_error(monkeypatch) -> None:
    monkeypatch.delenv("RPA_OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="RPA_OPENAI_BASE_URL"):
        OpenAIBackend(get_settings())
