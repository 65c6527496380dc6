"""What to do after a run: done, retry (application error), repair (the page changed) or stop.

Business errors are never retried. An application error is retried with exponential backoff. A
step that fails twice in a row because its element is missing is treated as drift: repair.
"""

from __future__ import annotations

import random
import re
from enum import Enum

from engine.errors import FailureKind
from engine.outcome import RunOutcome, StepStatus

# Phrases the runner uses when no locator of a target matched (ElementNotFoundError).
_NOT_FOUND = re.compile(
    r"(no element|not found|is not visible|matched nothing|matches nothing|no locator|did not match|"
    r"waiting for (get_by|locator)|ElementNotFound)",
    re.IGNORECASE,
)
_CRASH = re.compile(r"(browser (has been )?(closed|crashed|disconnected)|target (page, context or browser )?"
                    r"(has been )?closed|crash)", re.IGNORECASE)


class Verdict(str, Enum):
    done = "done"
    retry = "retry"
    repair = "repair"
    crash = "crash"  # the browser died: relaunch, then retry
    business = "business"


def failed_step(outcome: RunOutcome) -> str | None:
    for step in outcome.steps:
        if step.status is StepStatus.failed:
            return step.id
    return None


def is_not_found(outcome: RunOutcome) -> bool:
    """The run failed because an element of a step's target was missing."""
    if getattr(outcome, "error_type", None) == "ElementNotFoundError":
        return True
    text = " ".join(s.error or "" for s in outcome.steps if s.status is StepStatus.failed)
    return bool(_NOT_FOUND.search(text or outcome.error or ""))


def is_crash(outcome: RunOutcome) -> bool:
    return bool(_CRASH.search(outcome.error or ""))


def classify(outcome: RunOutcome, previous_failed_step: str | None, *, repairable: bool) -> Verdict:
    """``previous_failed_step`` is the step the last attempt failed on (None on the first)."""
    if outcome.ok:
        return Verdict.done
    if outcome.error_kind is FailureKind.business:
        return Verdict.business
    if is_crash(outcome):
        return Verdict.crash
    step = failed_step(outcome)
    if repairable and step is not None and is_not_found(outcome) and step == previous_failed_step:
        return Verdict.repair
    return Verdict.retry


class Backoff:
    """Exponential backoff with full jitter, capped; seeded so a batch is reproducible."""

    def __init__(self, base_s: float = 0.25, cap_s: float = 8.0, seed: int | None = None) -> None:
        self.base_s, self.cap_s = base_s, cap_s
        self._rng = random.Random(seed)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 = the first retry)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 2))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)
