"""The one place that decides after a run: every verdict comes from the failure's kind, never its text."""

from __future__ import annotations

import pytest

from engine.errors import FailureKind
from engine.loop.retry import Backoff, Verdict, failed_step, verdict
from engine.outcome import RunOutcome, RunStatus, StepOutcome, StepStatus


def _failed(kind: FailureKind, error: str = "whatever the words", step: str = "login") -> RunOutcome:
    steps = [StepOutcome(id="open", action="goto", status=StepStatus.succeeded),
             StepOutcome(id=step, action="click", status=StepStatus.failed, error=error, error_kind=kind)]
    return RunOutcome(run_id="r", plan_name="p", status=RunStatus.failed, steps=steps, error=error, error_kind=kind)


def test_success_is_done() -> None:
    ok = RunOutcome(run_id="r", plan_name="p", status=RunStatus.succeeded)
    assert verdict(ok, None) is Verdict.done


@pytest.mark.parametrize("kind", [FailureKind.business, FailureKind.input_missing, FailureKind.configuration,
                                  FailureKind.domain_blocked, FailureKind.goal_unmet])
def test_final_kinds_are_never_retried(kind: FailureKind) -> None:
    # A message that reads like a transient error changes nothing: only the kind decides.
    assert verdict(_failed(kind, "Step 'login': HTTP 500, timed out, browser crashed"), None) is Verdict.final
    assert verdict(_failed(kind), "login", drift_seen=True) is Verdict.final


def test_application_error_is_retried() -> None:
    assert verdict(_failed(FailureKind.application, "no element matches anything"), None) is Verdict.retry


def test_missing_target_is_retried_once_then_repaired() -> None:
    out = _failed(FailureKind.target_missing)
    assert verdict(out, None) is Verdict.retry
    assert verdict(out, "login") is Verdict.repair
    assert verdict(out, "other") is Verdict.retry
    assert verdict(out, None, drift_seen=True) is Verdict.repair


def test_ambiguous_target_is_repaired_not_retried() -> None:
    assert verdict(_failed(FailureKind.target_ambiguous), None) is Verdict.repair


def test_unmet_expectation_is_repairable() -> None:
    assert verdict(_failed(FailureKind.expectation_unmet), "login") is Verdict.repair


def test_browser_crash_is_recognised_by_kind() -> None:
    assert verdict(_failed(FailureKind.browser_crashed, "Step 'login': no element"), None) is Verdict.crash


def test_failed_step_and_kind_table() -> None:
    assert failed_step(_failed(FailureKind.business)) == "login"
    assert [k.value for k in FailureKind if k.retryable] == ["application", "target_missing", "expectation_unmet",
                                                              "browser_crashed"]
    assert {k.value for k in FailureKind if k.repairable} == {"target_missing", "target_ambiguous",
                                                              "expectation_unmet"}


def test_backoff_grows_and_is_capped() -> None:
    b = Backoff(base_s=0.25, cap_s=2.0, seed=1)
    delays = [b.delay(n) for n in range(2, 10)]
    assert delays[0] <= 0.25 and max(delays) <= 2.0 and delays[-1] >= 1.0
