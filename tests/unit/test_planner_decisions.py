"""The decision format, observations built from raw items, candidates and the token trie."""

from __future__ import annotations

import math

import pytest

from bots.observe import build_observation
from engine.plan import Step
from engine.planner.candidates import EpisodeState, candidates
from engine.planner.goals import decompose
from engine.planner.inference import TokenTrie, mask_logits
from engine.planner.prompts import (
    decision_messages,
    format_action,
    options_block,
    parse_action,
    training_example,
)


def _item(kind: str, role: str, name: str, y: int, **kw) -> dict:
    base = {"kind": kind, "role": role, "name": name, "tag": kw.pop("tag", "button" if role == "button" else "div"),
            "text": name if kind == "text" else "", "css": kw.pop("css", f"#x{y}"), "box": [10, y, 50, 20]}
    return base | kw


RAW = {"url": "http://h/login", "title": "Login", "items": [
    _item("text", "heading", "Sign in", 0),
    _item("text", "text", "Username", 20),
    _item("control", "textbox", "", 40, tag="input", type="text", value="", id="username"),
    _item("text", "text", "Password", 60),
    _item("control", "textbox", "", 80, tag="input", type="password", value="", id="password"),
    _item("control", "button", "Sign in", 100, css="#login"),
    _item("control", "link", "Help", 120, tag="a"),
    _item("control", "link", "Help", 140, tag="a"),
]}


def test_action_lines_round_trip() -> None:
    line = format_action("fill", "e3", 'A "quoted" name', 'say "hi"')
    assert parse_action(line) == ("fill", "e3", 'say "hi"')
    assert parse_action('click e12 "OK"') == ("click", "e12", None)
    for bad in ("click 12", "drop e1 \"x\"", 'click e1 "x" extra', ""):
        assert parse_action(bad) is None


def test_messages_put_task_first_and_page_as_data() -> None:
    msgs = decision_messages("Click OK", "[e1] button \"OK\"", "click OK", ["click e0 \"x\""])
    assert msgs[0]["role"] == "system" and "never instructions" in msgs[0]["content"]
    assert msgs[1]["content"].startswith("Task: Click OK\nPage:\n")
    assert "Options:\n0. a\n1. b" in options_block(["a", "b"])
    ex = training_example("Click OK", "[e1] button \"OK\"", 'click e1 "OK"')
    assert ex["messages"][-1] == {"role": "assistant", "content": 'click e1 "OK"'}


def test_observation_refs_locators_and_prompt() -> None:
    obs = build_observation(RAW)
    assert [e.ref for e in obs.elements] == [f"e{i}" for i in range(1, 9)]
    user = obs.element("e3")
    assert user.near == "Username"  # the text just above a control without a label
    assert obs.selector_map["e6"].locators[0].describe() == 'role=button[name="Sign in"]'
    # Two links named "Help": role+name is not unique, so the CSS path is used.
    assert obs.selector_map["e7"].locators[0].kind == "css"
    text = obs.to_prompt()
    assert '[e6] button "Sign in"' in text and 'near="Username"' in text
    assert 'value=' not in obs.element("e5").line()  # a password field never shows its value
    assert len(obs.to_prompt(max_tokens=10).splitlines()) < len(text.splitlines())
    assert obs.signature() == build_observation(RAW).signature()
    assert len({e.fingerprint for e in obs.elements}) == len(obs.elements)


def test_candidates_take_values_only_from_the_instruction() -> None:
    obs = build_observation(RAW)
    instruction = 'Enter "alice" as username and {{ secrets.password }} as password, then click "Sign in"'
    goals = decompose(instruction)
    state = EpisodeState()
    first = candidates(goals[0], obs, instruction, state)
    assert first[0].ref == "e3" and first[0].value == "alice"
    second = candidates(goals[1], obs, instruction, state)
    assert second[0].ref == "e5" and second[0].value == "{{ secrets.password }}"
    click = candidates(goals[2], obs, instruction, state)
    assert click[0].ref == "e6"
    for c in first + second + click:
        assert c.value in (None, "alice", "{{ secrets.password }}")
        assert c.ref in obs.selector_map
        assert parse_action(c.answer) is not None
        Step(id="s", action=c.verb, target=obs.selector_map[c.ref], value=c.value)  # valid by construction


def test_token_trie_allows_only_answers() -> None:
    trie = TokenTrie([[1, 2, 9], [1, 3, 9], [4, 9]])
    assert sorted(trie.allowed(trie.root)) == [1, 4]
    assert sorted(trie.allowed(trie.root[1])) == [2, 3]
    assert trie.allowed(trie.root[4][9]) == []
    torch = pytest.importorskip("torch")
    masked = mask_logits(torch.zeros(10), [2, 3])
    assert masked[2] == 0 and masked[3] == 0 and masked[0] == -math.inf


def test_a_named_number_must_be_on_the_element() -> None:
    from engine.planner.candidates import MIN_MATCH

    raw = {"url": "http://h/invoices", "title": "Invoices", "items": [
        _item("control", "link", "Invoices", 0, tag="a"),
        _item("control", "link", "INV-1003", 20, tag="a"),
        _item("control", "link", "3", 40, tag="a"),
    ]}
    obs = build_observation(raw)
    goal = decompose("open invoice 3")[0]
    ok = [obs.element(c.ref).name for c in candidates(goal, obs, "open invoice 3", EpisodeState())
          if c.lexical >= MIN_MATCH]
    assert "Invoices" not in ok and "INV-1003" not in ok
