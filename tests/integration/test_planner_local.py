"""The transformers backend on the embedded model: ranking, and sampling held to the answers' token tree."""

from __future__ import annotations

import pytest

from engine.config import get_settings
from engine.planner import make_backend
from engine.planner.catalog import DOCTOR_ANSWERS, DOCTOR_PAGE, check
from engine.planner.prompts import decision_messages

pytestmark = pytest.mark.model


def test_sampling_is_always_one_of_the_answers() -> None:
    backend = make_backend(get_settings(), "local")
    answers = [*DOCTOR_ANSWERS, 'fill e4 "Username" = "a \\"quoted\\" value"']
    messages = decision_messages("Use the page", DOCTOR_PAGE)  # no goal: several answers are likely
    seen = {backend.rank(messages, answers, sample=True, seed=s, temperature=3.0).chosen for s in range(8)}
    assert seen <= set(range(len(answers))) and len(seen) > 1
    again = {backend.rank(messages, answers, sample=True, seed=s, temperature=3.0).chosen for s in range(8)}
    assert again == seen  # seeded: the same draws


def test_doctor_check_reports_timings() -> None:
    result = check(get_settings(), "local")
    assert result.ok and result.chosen in DOCTOR_ANSWERS and result.load_s >= 0 and result.decision_ms > 0
    assert result.tokens_per_s > 0 and result.rss_mb > 100 and result.prompt_tokens > 100


def test_answers_packed_in_one_row_score_as_one_row_each() -> None:
    # The packed pass (every answer after the prompt, a block mask) is checked once against one row per
    # answer; on the embedded model it holds, and gives the same scores.
    backend = make_backend(get_settings(), "local")
    messages = decision_messages("Log in as alice", DOCTOR_PAGE, "alice")
    first = backend.rank(messages, list(DOCTOR_ANSWERS))
    assert backend.scorer.pack is True
    packed = backend.rank(messages, list(DOCTOR_ANSWERS))
    backend.scorer.pack = False
    rows = backend.rank(messages, list(DOCTOR_ANSWERS))
    assert packed.chosen == rows.chosen == first.chosen
    assert max(abs(a - b) for a, b in zip(packed.scores, rows.scores)) < 1e-3
