"""What history says about one scheduled time of a job: ended (and how), in progress, or the attempt owed.

One rule for the daemon, its workers, the claims and start-up recovery. A success, a business
failure, a timeout or a missed time ends the time. An application failure or an interruption ends
it only on the job's last attempt (1 + retries); before that, the next attempt is owed. History is
the truth: a claim only says that some process took an attempt.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from engine.errors import FailureKind
from engine.history import HistoryStatus, history_status
from engine.outcome import RunOutcome, RunStatus

ENDING = frozenset({HistoryStatus.succeeded, HistoryStatus.failed_business, HistoryStatus.timeout,
                    HistoryStatus.missed})
RETRIED = frozenset({HistoryStatus.failed_application, HistoryStatus.interrupted})


def ends_slot(status: HistoryStatus, attempt: int, last_attempt: int | None) -> bool:
    """Whether a run of ``attempt`` that ended with ``status`` ends its scheduled time.

    ``last_attempt`` None: the job is gone, so nothing is retried."""
    if status in ENDING:
        return True
    if status in RETRIED:
        return last_attempt is None or attempt >= last_attempt
    return False  # running


def failure_status(kind: FailureKind) -> HistoryStatus:
    """The history status of a run that failed with ``kind`` (history's own rule, for a row without outcome)."""
    return HistoryStatus(history_status(RunOutcome(run_id="-", plan_name="-", status=RunStatus.failed,
                                                   error_kind=kind)))


def backoff_s(attempt: int) -> float:
    """The wait before ``attempt + 1`` of a retried time."""
    return min(2.0 ** (attempt - 1), 30.0)


class Verdict(BaseModel):
    """The state of one scheduled time, read from its history rows and claims."""

    ended: HistoryStatus | None = None  # the status that ended it (succeeded wins over the rest)
    in_progress: bool = False  # a row or claim says some attempt is running
    next_attempt: int = 1  # the number a new attempt would have
    last_attempt: int | None = None

    @property
    def owed(self) -> bool:
        """Another attempt is due (nothing ended it, nothing runs it)."""
        return self.ended is None and not self.in_progress and (
            self.last_attempt is None or self.next_attempt <= self.last_attempt)

    def may_run(self, attempt: int) -> bool:
        return self.owed and attempt >= self.next_attempt


def judge(marks: Iterable[tuple[int, HistoryStatus]], last_attempt: int | None) -> Verdict:
    """``marks``: (attempt, status) of every history row and claim of the time."""
    marks = list(marks)
    ending = [(a, s) for a, s in marks if ends_slot(s, a, last_attempt)]
    ended = None
    if ending:
        succeeded = any(s is HistoryStatus.succeeded for _, s in ending)
        ended = HistoryStatus.succeeded if succeeded else max(ending)[1]
    return Verdict(ended=ended, in_progress=any(s is HistoryStatus.running for _, s in marks),
                   next_attempt=max((a for a, _ in marks), default=0) + 1, last_attempt=last_attempt)
