"""The instruction suites: they load, and a third of each is never tuned on (reported apart)."""

from __future__ import annotations

import pytest

from engine.bench.instructions import load_suite

NEVER_TUNED = {"sandbox": ("held_out",), "django_admin": ("held_out_3", "held_out_4", "held_out_5", "held_out_6")}


@pytest.mark.parametrize("name", sorted(NEVER_TUNED))
def test_a_third_of_each_suite_is_never_tuned_on(name: str) -> None:
    suite = load_suite(name)
    ids = [c.id for c in suite.cases]
    assert len(ids) == len(set(ids))
    apart = [c for c in suite.cases if c.split in NEVER_TUNED[name]]
    assert len(apart) >= len(suite.cases) / 3 - 1  # "a third", to the case
    assert any(isinstance(c.check, dict) and "fails" in c.check for c in suite.cases)  # impossible parts too
