"""LoRA training on the embedded 135M model: the loss falls, the planner's choice on a held-back
example changes, and the saved adapter and merged weights agree (trained once per module)."""

from __future__ import annotations

import random

import pytest

from engine.config import Settings
from engine.planner.inference import LocalBackend
from engine.planner.model import load_model
from engine.training import Example, TrainConfig, answer_loss, load_adapter, resolve_model, train

COLORS = ["Red", "Green", "Yellow", "Black", "White", "Orange", "Purple", "Pink", "Gray", "Brown"]


def _toy(i: int, asked: str) -> tuple[str, str, dict[str, str]]:
    """A page of four buttons, one of them always 'Blue': the rule to learn is 'click Blue',
    whatever the task says (the untrained model follows the task's words instead)."""
    rng = random.Random(i)
    names = [asked, *rng.sample([c for c in COLORS if c != asked], 2), "Blue"]
    rng.shuffle(names)
    refs = {n: f"e{j + 2}" for j, n in enumerate(names)}
    return "\n".join(f'[{refs[n]}] button "{n}"' for n in names), f"Click the {asked} button", refs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    home = tmp_path_factory.mktemp("train-home")
    with pytest.MonkeyPatch.context() as mp:
        from tests.conftest import REPO

        mp.setenv("RPA_CACHE_DIR", str(REPO / ".cache"))
        settings = Settings(home=home)
        examples = []
        for i, color in enumerate(COLORS[:8]):
            page, task, refs = _toy(i, color)
            # Half carry the other buttons as alternatives (as exploration records them): the ranking loss.
            others = [f'click {r} "{n}"' for n, r in refs.items() if n != "Blue"] if i % 2 else []
            examples.append(Example.make(task, page, f'click {refs["Blue"]} "Blue"', "dataset", alternatives=others))
        result = train(examples, TrainConfig(name="toy-blue", epochs=4, batch_size=8, lr=3e-3, threads=2,
                                                 likelihood=1.0), settings)
        yield settings, result, examples


def _choice(backend: LocalBackend, page: str, task: str, refs: dict[str, str]) -> str:
    answers = [f'click {r} "{n}"' for n, r in refs.items()]
    ranked = backend.rank(Example.make(task, page, "", "x").messages, answers)
    return answers[ranked.chosen]


def test_training_lowers_the_loss_and_changes_a_held_back_choice(trained) -> None:
    settings, result, _ = trained
    assert result.info.losses[-1] < result.info.losses[0]
    assert result.info.examples == {"dataset": 8}
    page, task, refs = _toy(99, "Brown")  # a colour never asked in training
    before = _choice(LocalBackend(load_model(settings, None)), page, task, refs)
    after = _choice(LocalBackend(load_model(settings, "toy-blue")), page, task, refs)  # what --model NAME loads
    assert before != f'click {refs["Blue"]} "Blue"'  # the untrained model does not know the rule
    assert after == f'click {refs["Blue"]} "Blue"'


def test_adapter_round_trip_matches_the_merged_weights(trained) -> None:
    settings, result, examples = trained
    merged = resolve_model("toy-blue", settings)
    assert (merged / "model.safetensors").exists() and (result.path / "adapter" / "adapter_config.json").exists()
    model, tok = load_adapter(settings, "toy-blue")
    via_adapter = answer_loss(model, tok, examples, "cpu")
    via_merged = answer_loss(load_model(settings, "toy-blue").model, tok, examples, "cpu")
    assert via_adapter == pytest.approx(via_merged, rel=1e-3, abs=1e-4)
    assert via_adapter < result.info.losses[0]
