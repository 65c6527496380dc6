"""Constraints built from the candidate answers, and the GGUF guards that run before any model loads."""

from __future__ import annotations

import math
import os

import pytest

from engine.config import get_settings
from engine.errors import ConfigError, FailureKind
from engine.planner.grammar import TokenChoice, gbnf_choice, gbnf_index, index_schema, parse_index
from engine.planner.llama_backend import check_gguf, resolve_gguf

ANSWERS = ['click e1 "Home"', 'fill e2 "Name" = "a \\"b\\" c\\\\"', 'click e3 "Form"']


def test_gbnf_escapes_quotes_backslashes_and_control_characters() -> None:
    g = gbnf_choice(['say "hi"', "back\\slash", "tab\there"])
    assert g == 'root ::= "say \\"hi\\"" | "back\\\\slash" | "tab\\x09here"\n'
    assert gbnf_index(3) == 'root ::= "0" | "1" | "2"\n'


def test_index_schema_allows_only_the_option_numbers() -> None:
    schema = index_schema(2)
    assert schema["properties"]["option"]["enum"] == [0, 1] and schema["additionalProperties"] is False


@pytest.mark.parametrize(("text", "want"), [
    ("1", 1), (" 2\n", 2), ('{"option": 0}', 0), ('1. fill e2 "Name"', 1), ("0)", 0),
    ("3", None), ("-1", None), ('{"option": true}', None), ('{"option": "1"}', None), ("[1]", None),
    ('{"option": 1, "because": "x"}', None), ("1. click e3", None), ("the first", None), ("", None),
])
def test_parse_index_is_strict(text: str, want: int | None) -> None:
    assert parse_index(text, ANSWERS) == want


def test_token_choice_follows_only_the_answers() -> None:
    torch = pytest.importorskip("torch")
    choice = TokenChoice([[1, 2, 9], [1, 3, 9], [4, 9]])
    assert sorted(choice.allowed()) == [1, 4] and choice.forced() is None
    masked = choice.mask(torch.zeros(10))
    assert masked[1] == 0 and masked[4] == 0 and masked[0] == -math.inf
    choice.advance(1)
    assert sorted(choice.allowed()) == [2, 3]
    choice.advance(3)
    assert choice.forced() == 9 and not choice.done()
    choice.advance(9)
    assert choice.done() and choice.answer() == 1


def test_a_file_that_is_not_gguf_is_refused_before_loading(tmp_path) -> None:
    bad = tmp_path / "weights.gguf"
    bad.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(ConfigError) as err:
        check_gguf(bad)
    assert str(err.value).startswith("Planner.llama: ") and "is not a GGUF file" in str(err.value)
    assert FailureKind.of(err.value) is FailureKind.configuration


def test_a_model_larger_than_free_memory_is_refused_before_loading(tmp_path) -> None:
    big = tmp_path / "huge.gguf"
    with big.open("wb") as f:  # sparse: 64 GiB on paper, a few bytes on disk
        f.write(b"GGUF\x03\x00\x00\x00")
        f.truncate(64 << 30)
    with pytest.raises(ConfigError) as err:
        check_gguf(big, free=8 << 30)
    msg = str(err.value)
    assert "huge.gguf needs about 70.6 GiB of memory, 8.0 GiB is free" in msg and "\n" not in msg
    check_gguf(big, free=128 << 30)  # enough memory: passes


def test_gguf_names_resolve_to_files_or_say_where_they_looked(tmp_path, monkeypatch) -> None:
    settings = get_settings()
    (settings.models_dir / "tiny").mkdir(parents=True)
    (settings.models_dir / "tiny" / "tiny.Q4_0.gguf").write_bytes(b"GGUF")
    (settings.models_dir / "solo.gguf").write_bytes(b"GGUF")
    (settings.models_dir / "hf" / "merged").mkdir(parents=True)
    (settings.models_dir / "hf" / "merged" / "config.json").write_text("{}")
    assert resolve_gguf(settings, "tiny").name == "tiny.Q4_0.gguf"
    assert resolve_gguf(settings, "solo").name == "solo.gguf"
    with pytest.raises(ConfigError, match="is a Hugging Face folder, not a GGUF file"):
        resolve_gguf(settings, "hf")
    with pytest.raises(ConfigError, match="no GGUF file 'nope'"):
        resolve_gguf(settings, "nope")
    assert os.path.basename(resolve_gguf(settings, None)).endswith(".gguf")  # the embedded model
