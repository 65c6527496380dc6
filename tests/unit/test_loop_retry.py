"""The retry policy: business errors stop, application errors retry, repeated not-found repairs."""

from __future__ import annotations

from engine.loop.retry import Backoff, Verdict, classify, failed_step, is_not_found
from engine.errors import FailureKind
from engine.outcome import RunOutcome, RunStatus, StepOutcome, StepStatus


def _failed(kind: FailureKind, error: str, step: str = "login") -> RunOutcome:
    return RunOutcome(run_id="r1", plan_name="p", status=RunStatus.failed, error=error, error_kind=kind,
                      steps=[StepOutcome(id="open", action="goto", status=StepStatus.succeeded),
                             StepOutcome(id=step, action="click", status=StepStatus.failed, error=error)])


def test_success_is_done() -> None:
    ok = RunOutcome(run_id="r", plan_name="p", status=RunStatus.succeeded)
    assert classify(ok, None, repairable=True) is Verdict.done


def test_business_error_is_never_retried() -> None:
    out = _failed(FailureKind.business, "Step 'login': the site says the invoice does not exist")
    assert classify(out, "login", repairable=True) is Verdict.business


def test_application_error_is_retried() -> None:
    out = _failed(FailureKind.application, "Step 'login': HTTP 500 on navigation")
    assert classify(out, None, repairable=True) is Verdict.retry


def test_not_found_twice_on_the_same_step_is_repaired() -> None:
    out = _failed(FailureKind.application, "Step 'login': no element matches role=button[name=\"Sign in\"]")
    assert is_not_found(out)
    assert failed_step(out) == "login"
    assert classify(out, None, repairable=True) is Verdict.retry
    assert classify(out, "login", repairable=True) is Verdict.repair
    assert classify(out, "other", repairable=True) is Verdict.retry
    assert classify(out, "login", repairable=False) is Verdict.retry


def test_browser_crash_is_recognised() -> None:
    out = _failed(FailureKind.application, "Bot.run: browser crashed: Target page, context or browser has been closed")
    assert classify(out, None, repairable=True) is Verdict.crash


def test_backoff_grows_and_is_capped() -> None:
    b = Backoff(base_s=0.5, cap_s=4.0, seed=1)
    delays = [b.delay(a) for a in range(2, 10)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(2.0 <= d <= 4.0 for d in delays[4:])
    assert Backoff(seed=3).delay(4) == Backoff(seed=3).delay(4)
