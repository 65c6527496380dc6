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

