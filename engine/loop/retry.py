"""After a run: done, retry, repair, relaunch the browser, or stop. The one place that decides.

It reads the failure's ``FailureKind`` only: final kinds stop; a crashed browser is relaunched and
the run retried; an ambiguous target is repaired at once (retrying would guess again); a missing
target or an unmet expectation is retried once, then repaired (a page that changed fails the same
step twice); anything else retryable is retried with backoff.
"""

from __future__ import annotations

import random
from enum import Enum

from engine.errors import FailureKind
from engine.outcome import RunOutcome, StepStatus


class Verdict(str, Enum):
    done = "done"
    retry = "retry"
    repair = "repair"
    crash = "crash"  # the browser died: relaunch, then retry
    final = "final"  # the user must act: never retried


def failed_step(outcome: RunOutcome) -> str | None:
    return next((s.id for s in outcome.steps if s.status is StepStatus.failed), None)


def verdict(outcome: RunOutcome, previous_failed_step: str | None, *, drift_seen: bool = False) -> Verdict:
    """``previous_failed_step``: the step the last attempt failed on (None on the first attempt);
    ``drift_seen``: this plan's page already changed in this batch (repair without a second try)."""
    if outcome.ok:
        return Verdict.done
    kind = outcome.error_kind or FailureKind.application
    if kind.final:
        return Verdict.final
    if kind is FailureKind.browser_crashed:
        return Verdict.crash
    step = failed_step(outcome)
    if kind.repairable and step is not None:
        if not kind.retryable or drift_seen or step == previous_failed_step:
            return Verdict.repair
    return Verdict.retry if kind.retryable else Verdict.final


class Backoff:
    """Exponential backoff with full jitter, capped; seeded so a batch is reproducible."""

    def __init__(self, base_s: float = 0.25, cap_s: float = 8.0, seed: int | None = None) -> None:
        self.base_s, self.cap_s = base_s, cap_s
        self._rng = random.Random(seed)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 = the first retry)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 2))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)
