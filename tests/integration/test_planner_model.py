"""The real embedded model does goal-level instructions on the sandbox, through the loop as
``rpa run --instruction`` does, and the outcome is checked against the site's own state.

The model loads once per test run. Kept short: the whole suite has a time budget.
"""

from __future__ import annotations

import pytest

from bots.sandbox import start_sandbox
from engine.errors import FailureKind
from engine.history import History, HistoryStatus
from engine.loop import EntryStatus, JobSpec, run_batch
from engine.plan import Action

pytestmark = [pytest.mark.model, pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="session", autouse=True)
def _model_once():
    """Load (and on the first run convert) the embedded model once for every test of the run."""
    from engine.config import get_settings
    from engine.planner.model import load_model
    from tests.conftest import REPO

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RPA_CACHE_DIR", str(REPO / ".cache"))
        load_model(get_settings())


def _plan_run(instruction: str, url: str, secrets: dict[str, str]):
    # skills=False: these tests are about the open-world planner, not the shipped recordings.
    batch = run_batch([JobSpec(instruction=instruction, url=url, skills=False)], secrets=secrets)
    return batch.entries[0], (batch.runs[0] if batch.runs else None)


def test_log_in_as_alice_does_the_whole_login_then_replays_without_the_model() -> None:
    with start_sandbox(port=0) as site:
        entry, run = _plan_run("Log in as alice", site.url + "/login", {"password": "wonderland"})
        assert entry.status is EntryStatus.succeeded, entry.error
        assert entry.llm_calls >= 1 and entry.planned
        assert site.stats.logins == 1 and site.site.signed_in_users() == ["alice"]  # the site's own state
        actions = [(s.action, s.value) for s in entry.plan.steps]
        assert (Action.fill, "alice") in actions and (Action.fill, "{{ secrets.password }}") in actions
        assert entry.plan.steps[-1].action is Action.click and entry.plan.steps[-1].expect is not None
        assert "wonderland" not in entry.plan.model_dump_json()
        again, rerun = _plan_run("Log in as alice", site.url + "/login", {"password": "wonderland"})
        assert again.ok and again.from_cache and again.llm_calls == 0 and not again.planned
        assert site.stats.logins == 2
    assert History().get_run(run.run_id).status == HistoryStatus.succeeded.value


def test_an_instruction_with_a_part_no_page_offers_fails_and_names_it() -> None:
    with start_sandbox(port=0, signed_in="alice") as site:
        entry, run = _plan_run("Open invoice INV-1002 and approve it", site.url + "/invoices", {})
    assert not entry.ok and entry.error_kind is FailureKind.goal_unmet
    assert "approve" in entry.error and entry.error.startswith("Planner.plan: could not find how to do")
    assert History().get_run(run.run_id).status == HistoryStatus.failed_business.value


def test_the_secret_the_instruction_names_is_the_one_typed() -> None:
    secrets = {"password": "not-the-password", "sandbox_pw": "wonderland"}
    with start_sandbox(port=0) as site:
        entry, _ = _plan_run("Log in as alice with the password in secret sandbox_pw", site.url + "/login", secrets)
        assert entry.ok, entry.error
        assert any(s.value == "{{ secrets.sandbox_pw }}" for s in entry.plan.steps)
        assert entry.plan.secrets == ["sandbox_pw"] and site.stats.bad_logins == 0
        missing, _ = _plan_run("Log in as alice with the password in secret no_such_secret", site.url + "/login",
                               secrets)
        assert not missing.ok and missing.error_kind is FailureKind.input_missing and "no_such_secret" in missing.error
        assert site.stats.bad_logins == 0


def test_a_goal_across_two_pages_with_a_reading() -> None:
    with start_sandbox(port=0, signed_in="alice") as site:
        entry, run = _plan_run("open invoice INV-1005 and give me its total", site.url + "/invoices", {})
        assert entry.ok, entry.error
        assert any(v.path == "/invoices/INV-1005" and v.status == 200 for v in site.site.visits)
        assert "114.50" in run.outputs.values()
        assert any(s.action is Action.extract for s in entry.plan.steps)


def test_a_date_as_people_write_it_goes_into_a_date_field_in_its_one_form() -> None:
    with start_sandbox(port=0, signed_in="alice") as site:
        entry, _ = _plan_run("Submit a request for Jane Doe, email jane@example.com, department Sales, due 12/14/2027, "
                             "and accept the terms", site.url + "/form", {})
        assert entry.ok, entry.error
        assert [r["Due date"] for r in site.site.requests()] == ["2027-12-14"]  # the site's own record
    assert any(s.action is Action.fill and s.value == "2027-12-14" for s in entry.plan.steps)


def test_a_value_the_reader_cannot_place_fails_the_run_naming_it_before_any_step() -> None:
    # "to <address>" after a login reads as where to sign in: the address holds no part, so the run says so
    with start_sandbox(port=0) as site:
        entry, run = _plan_run(f"Sign in to {site.url}/login as alice", site.url + "/login", {"password": "wonderland"})
        assert not entry.ok and entry.error_kind is FailureKind.goal_unmet
        assert entry.error.startswith("Planner.plan: could not read what to do with") and site.url in entry.error
        assert site.stats.logins == 0 and site.stats.bad_logins == 0
    assert History().get_run(run.run_id).status == HistoryStatus.failed_business.value
