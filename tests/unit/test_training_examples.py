"""Training examples: dataset parsing, the decision format, masking, and refusals before any model loads."""

from __future__ import annotations

import json

import pytest

from engine.config import get_settings
from engine.errors import ConfigError
from engine.logs import register_secret
from engine.planner.prompts import decision_messages
from engine.training import TrainConfig, collect, from_dataset, load_adapter, train
from engine.training.examples import Example, answer_for_step

PAGE = '[e3] textbox "Username" value=""\n[e5] textbox "Password"\n[e6] button "Sign in"'


def _write(path, rows) -> None:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_examples_use_the_planners_own_messages() -> None:
    ex = Example.make("Sign in", PAGE, 'click e6 "Sign in"', "dataset", goal="click sign in", history=["fill e3"])
    assert ex.messages == decision_messages("Sign in", PAGE, "click sign in", ["fill e3"])
    assert ex.chat()["messages"][-1] == {"role": "assistant", "content": 'click e6 "Sign in"'}


def test_export_rows_become_action_lines_by_locator() -> None:
    step = {"id": "s3", "action": "click", "target": [{"role": "button", "name": "Sign in"}, {"css": "#login"}]}
    assert answer_for_step(step, PAGE) == 'click e6 "Sign in"'
    fill = {"id": "s2", "action": "fill", "target": [{"css": "#x"}, {"label": "Username"}], "value": "{{ params.user }}"}
    assert answer_for_step(fill, PAGE) == 'fill e3 "Username" = "{{ params.user }}"'
    assert answer_for_step({"action": "goto", "value": "http://x"}, PAGE) is None


def test_history_decisions_rebuild_the_planners_prompt() -> None:
    from engine.history import History
    from engine.training import from_history

    history = History(get_settings())
    context = {"goal": "click sign in", "history": ['fill e3 "Username" = "alice"'], "answer": 'click e6 "Sign in"'}
    history.record_decision(run_id="r1", step_id="s4", instruction="Log in as alice", observation=PAGE,
                            action={"id": "s4", "action": "click", "target": [{"role": "button", "name": "Sign in"}]},
                            outcome="succeeded", context=context)
    history.record_decision(run_id="r1", step_id="s5", instruction="Log in as alice", observation=None,
                            action={"id": "s5", "action": "click"}, outcome="succeeded")  # a replayed step
    got = from_history(get_settings())
    assert [e.answer for e in got.examples] == ['click e6 "Sign in"']
    assert got.examples[0].messages == decision_messages("Log in as alice", PAGE, "click sign in", context["history"])
    assert got.skipped == {"history: no observation stored": 1}


def test_dataset_mixes_formats_and_skips_unusable_rows(tmp_path) -> None:
    path = tmp_path / "d.jsonl"
    chat = Example.make("Sign in", PAGE, 'click e6 "Sign in"', "dataset").chat()
    _write(path, [chat,
                  {"instruction": "Sign in", "observation": PAGE, "answer": 'click e6 "Sign in"'},
                  {"instruction": "Sign in", "observation": PAGE, "outcome": "succeeded",
                   "action": {"action": "click", "target": [{"role": "button", "name": "Sign in"}]}},
                  {"instruction": "Sign in", "observation": None, "action": {"action": "click"}},
                  {"instruction": "Sign in", "observation": PAGE, "outcome": "failed",
                   "action": {"action": "click", "target": [{"role": "button", "name": "Sign in"}]}}])
    got = from_dataset(path)
    assert len(got.examples) == 3
    assert got.skipped == {"dataset: no observation stored": 1, "dataset: failed step": 1}


@pytest.mark.parametrize("rows, words", [
    (["{not json"], "line 1 is not JSON"),
    ([[1, 2]], "not a JSON object"),
    ([{"foo": 1}], "needs 'messages'"),
    ([{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "hello"}]}], "not an action line"),
    ([""], "no usable example"),
])
def test_malformed_dataset_is_refused_in_one_line(tmp_path, rows, words) -> None:
    path = tmp_path / "bad.jsonl"
    _write(path, rows)
    with pytest.raises(ConfigError) as err:
        from_dataset(path)
    assert words in err.value.message
    assert "\n" not in err.value.message


def test_missing_dataset_and_no_source_are_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        collect(get_settings(), datasets=[tmp_path / "nope.jsonl"])
    with pytest.raises(ConfigError, match="no source"):
        collect(get_settings())


def test_no_secret_value_reaches_an_example(tmp_path) -> None:
    secret = "s3cr3t-Hunter2"
    register_secret(secret)
    path = tmp_path / "d.jsonl"
    page = PAGE + f'\n[e9] text "token {secret}"'
    _write(path, [{"instruction": f"Sign in with {secret}", "observation": page,
                   "answer": f'fill e5 "Password" = "{secret}"'}])
    got = collect(get_settings(), datasets=[path])
    text = json.dumps([e.chat() for e in got.examples])
    assert secret not in text and "Password" in text


def test_existing_model_is_not_overwritten_without_force(rpa_home) -> None:
    settings = get_settings()
    (settings.models_dir / "mine").mkdir(parents=True)
    ex = Example.make("Sign in", PAGE, 'click e6 "Sign in"', "dataset")
    with pytest.raises(ConfigError, match="exists .* pass --force"):
        train([ex], TrainConfig(name="mine"), settings)
    with pytest.raises(ConfigError, match="bad model name"):
        train([ex], TrainConfig(name="../x"), settings)
    with pytest.raises(ConfigError, match="no examples"):
        train([], TrainConfig(name="other"), settings)


def test_adapter_on_a_mismatched_base_is_refused(rpa_home, tmp_path) -> None:
    settings = get_settings()
    folder = settings.models_dir / "odd"
    folder.mkdir(parents=True)
    (folder / "training.json").write_text(json.dumps({"name": "odd", "base": "SmolLM2-135M-Instruct",
                                                      "base_fingerprint": "0000000000000000"}))
    with pytest.raises(ConfigError, match="does not match"):
        load_adapter(settings, "odd")


def test_renumbered_pages_stay_consistent() -> None:
    import random
    import re

    from engine.training.examples import renumbered

    ex = Example.make("Sign in", PAGE, 'click e6 "Sign in"', "explore", goal="click sign in",
                      history=['fill e3 "Username" = "alice"'], alternatives=['click e6 "Sign in"', 'click e5 "Password"'])
    assert ex.alternatives == ['click e5 "Password"']  # the chosen answer is not its own alternative
    orders, numbers = set(), set()
    for seed in range(8):
        r = renumbered(ex, random.Random(seed))
        text = r.messages[1]["content"]
        ref = {m.group(2): int(m.group(1)) for m in re.finditer(r'^\[e(\d+)\] \w+ "([^"]+)"', text, re.M)}
        assert set(ref) == {"Username", "Password", "Sign in"}
        assert ref["Username"] < ref["Password"] < ref["Sign in"]  # refs keep the page's order
        assert r.answer == f'click e{ref["Sign in"]} "Sign in"' and r.alternatives == [f'click e{ref["Password"]} "Password"']
        assert f'fill e{ref["Username"]} "Username" = "alice"' in text and text.startswith("Task: Sign in\nPage:\n[e")
        orders.add(tuple(re.findall(r'^\[e\d+\] \w+ "([^"]+)"', text, re.M)))
        numbers.add(tuple(sorted(ref.values())))
    assert len(orders) > 1 and len(numbers) > 1


def test_alternatives_survive_a_dataset_round_trip(tmp_path) -> None:
    from engine.training import write_jsonl

    ex = Example.make("Sign in", PAGE, 'click e6 "Sign in"', "explore", alternatives=['click e5 "Password"', "junk"])
    write_jsonl([ex], tmp_path / "d.jsonl")
    [back] = from_dataset(tmp_path / "d.jsonl").examples
    assert back.alternatives == ['click e5 "Password"'] and back.messages == ex.messages
