"""Exploration on the sandbox with the real model: sampled episodes, kept only when the site says
they worked, with their candidates and without the password's value."""

from __future__ import annotations

import asyncio
import json

import pytest

from engine.config import get_settings
from engine.planner.prompts import parse_action
from engine.training.explore import EXPLORE_SEED0, _episodes

pytestmark = [pytest.mark.model, pytest.mark.browser]


def test_sandbox_practice_keeps_only_successful_episodes() -> None:
    seen: list[tuple[str, bool]] = []
    examples, ok, total = asyncio.run(_episodes(get_settings(), None, ["sandbox-login"],
                                                [EXPLORE_SEED0 + i for i in range(4)], 10, 1.0,
                                                lambda task, good: seen.append((task, good))))
    assert total == 4 and len(seen) == 4 and ok == sum(g for _, g in seen) >= 1
    assert examples and all(parse_action(e.answer) for e in examples)
    assert all("wonderland" not in json.dumps(e.chat()) for e in examples)
    assert any("{{ secrets.password }}" in e.answer for e in examples)
