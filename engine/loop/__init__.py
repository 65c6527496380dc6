"""The engine loop: plan, schedule, dispatch to a pool of bots, and learn from every outcome."""

from engine.config import Settings
from engine.loop.deps import LoopDeps
from engine.loop.loop import run_batch, run_batch_async
from engine.loop.models import BatchOutcome, EntryStatus, JobEntry, JobSpec, Repair


def demo(settings: Settings | None = None, json: bool = False, *, json_output: bool | None = None) -> int:
    """``rpa demo``: the full loop against the bundled sandbox; returns the exit code."""
    from engine.loop.demo import run_demo

    return run_demo(settings, json=json if json_output is None else json_output)


__all__ = ["BatchOutcome", "EntryStatus", "JobEntry", "JobSpec", "LoopDeps", "Repair", "demo", "run_batch",
           "run_batch_async"]
