"""Run history: runs, steps, decisions and durations in SQLite (or any SQLAlchemy URL)."""

from engine.history.models import FAILED_STATUSES, HistoryStatus
from engine.history.store import DecisionRecord, History, RunRecord, StepRecord, history_status, new_run_id

__all__ = ["FAILED_STATUSES", "DecisionRecord", "History", "HistoryStatus", "RunRecord", "StepRecord", "history_status", "new_run_id"]
