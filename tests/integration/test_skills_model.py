"""Routing the shipped recordings with the real embedded model (loaded once per test run): close calls
are checked by the model, which may stop a run but never start one; the tuned split runs no wrong bot."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bench.skills import SUITES, load_suite, run_skills_bench
from engine.config import get_settings
from engine.skills import Router, RouteStatus, load_library
from engine.skills.library import PROJECT_RECORDINGS

pytestmark = [pytest.mark.model, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def model_router():
    """Session fixtures start before the per-test RPA_* variables, so set the shared cache here."""
    from engine.planner import LazyBackend

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RPA_CACHE_DIR", str(REPO / ".cache"))
        settings = get_settings()
        backend = LazyBackend(settings, "local", None)
        backend.load()
    return Router(load_library(settings, [PROJECT_RECORDINGS], defaults=False), backend)


def test_close_calls_ask_the_model_and_never_run_a_wrong_bot(model_router):
    calls = model_router.backend.calls
    routing = model_router.route("find all Hooli invoices")
    assert model_router.backend.calls > calls  # not clear-cut: the model was asked
    assert routing.status in (RouteStatus.routed, RouteStatus.ambiguous)
    assert routing.status is RouteStatus.ambiguous or routing.names() == ["login_and_search"]
    seq = model_router.route("search the invoices for Initech, then download invoice INV-1007")
    assert seq.names() == ["login_and_search", "download_invoice"]
    assert [c.values() for c in seq.chosen] == [{"supplier": "Initech"}, {"invoice": "INV-1007"}]


def test_tuned_split_runs_no_wrong_bot(model_router):
    result = run_skills_bench(model_router, load_suite(SUITES / "skills.yaml"), splits=["tuned"])
    tuned = result["splits"]["tuned"]
    assert tuned["wrong_skill_runs"] == 0 and tuned["skill_accuracy"] >= 0.9, tuned
