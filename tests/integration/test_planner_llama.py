"""llama.cpp in process over the embedded GGUF: the same decisions as transformers, valid by construction.

Skipped only when llama-cpp-python (the optional extra ``.[llama]``) is not importable.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (optional extra: pip install '.[llama]')")

from engine.config import get_settings
from engine.errors import ConfigError
from engine.planner import make_backend
from engine.planner.prompts import decision_messages

pytestmark = pytest.mark.model

LINES = ('[e1] link "Home"', '[e2] link "Invoices"', '[e3] textbox "Username"', '[e4] textbox "Password"',
         '[e5] button "Sign in"', '[e6] link "Forgot password?"')
PAGE = "\n".join(LINES)
ANSWERS = ['click e5 "Sign in"', 'click e6 "Forgot password?"', 'click e1 "Home"', 'fill e3 "Username" = "alice"']


@pytest.fixture(scope="module")
def llama():
    backend = make_backend(get_settings(), "llama")
    yield backend
    backend.close()


def test_llama_scores_like_transformers(llama) -> None:
    local = make_backend(get_settings(), "local")
    for goal in ('click "Sign in"', 'fill "Username"', 'click "Home"'):
        messages = decision_messages("Sign in as alice", PAGE, goal)
        a, b = llama.rank(messages, ANSWERS), local.rank(messages, ANSWERS)
        assert a.chosen == b.chosen and a.prompt_tokens == b.prompt_tokens
        assert max(abs(x - y) for x, y in zip(a.scores, b.scores)) < 0.25  # Q4_1 math vs dequantized fp32


def test_the_prompt_prefix_is_cached_across_decisions(llama) -> None:
    first = decision_messages("Sign in as alice", PAGE, 'click "Sign in"')
    llama.rank(first, ANSWERS)
    before = llama.forwarded_tokens
    llama.rank(first, ANSWERS)  # the same prompt: only the answers run
    answers_only = llama.forwarded_tokens - before
    assert answers_only == sum(len(llama.tokenize(a)) for a in ANSWERS)
    longer = decision_messages("Sign in as alice", PAGE + '\n[e7] text "Welcome"', 'click "Sign in"')
    before = llama.forwarded_tokens
    ranked = llama.rank(longer, ANSWERS)
    assert llama.forwarded_tokens - before - answers_only < ranked.prompt_tokens // 2


def test_sampling_is_held_to_the_answers_by_a_grammar(llama) -> None:
    answers = [*ANSWERS, 'fill e4 "Password" = "a \\"quoted\\" \\\\ value"']
    messages = decision_messages("Sign in as alice", PAGE, 'fill "Password"')
    seen = {llama.rank(messages, answers, sample=True, seed=s, temperature=2.0).chosen for s in range(8)}
    assert seen <= set(range(len(answers))) and len(seen) > 1
    assert llama.rank(messages, answers, sample=True, temperature=0).chosen in range(len(answers))


def test_a_gguf_that_is_not_a_model_is_one_line(tmp_path) -> None:
    import gguf

    path = tmp_path / "vocab-only.gguf"
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ConfigError) as err:
        make_backend(get_settings(), "llama", str(path))
    msg = str(err.value)
    assert msg.startswith("Planner.llama: vocab-only.gguf is not a model llama.cpp can load (") and "\n" not in msg


def test_rpa_doctor_answers_one_decision_with_timings(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "doctor", "--backend", "llama", "--json"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["backend"] == "llama" and data["ok"] is True and data["chosen"] in data["answers"]
    for key in ("load_s", "decision_ms", "tokens_per_s", "rss_mb"):
        assert data[key] > 0
    bad = tmp_path / "bad.gguf"
    bad.write_text("hello")
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "doctor", "--backend", "llama", "--model",
                          str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 1 and "Planner.llama: " in out.stderr and "is not a GGUF file" in out.stderr
    assert "Traceback" not in out.stderr
