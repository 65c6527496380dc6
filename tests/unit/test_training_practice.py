"""Practice tasks for exploration: names are checked before any model loads; seeds vary the episode."""

from __future__ import annotations

import importlib.util

import pytest

from engine.errors import ConfigError
from engine.training.practice import parse_practice, sandbox_episode


needs_miniwob = pytest.mark.skipif(importlib.util.find_spec("miniwob") is None, reason="miniwob is not installed")


@needs_miniwob
def test_sandbox_and_miniwob_names_mix(tmp_path) -> None:
    assert parse_practice("sandbox-login,click-dialog-2") == ["sandbox-login", "click-dialog-2"]
    listed = tmp_path / "tasks.txt"
    listed.write_text("# practice\nsandbox-invoice\nclick-menu-2  # a comment\n")
    assert parse_practice(str(listed)) == ["sandbox-invoice", "click-menu-2"]


@needs_miniwob
@pytest.mark.parametrize("spec, words", [("sandbox-nope", "unknown sandbox task 'sandbox-nope'"),
                                         ("sandbox-login,no-such-task", "unknown task(s) no-such-task"),
                                         (" , ", "no tasks")])
def test_unknown_practice_tasks_are_refused(spec, words) -> None:
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_practice(spec)


def test_seeds_vary_wording_target_and_skin() -> None:
    episodes = [sandbox_episode("sandbox-invoice", s) for s in range(20)]
    assert len({e.instruction for e in episodes}) > 5 and {e.drift for e in episodes} == {False, True}
    assert all('open invoice "INV-10' in e.instruction for e in episodes)
    assert sandbox_episode("sandbox-search", 3).instruction == sandbox_episode("sandbox-search", 3).instruction
    assert all("wonderland" not in e.instruction for e in episodes)  # only the secret's name is ever written
