"""The engine loop: plan, schedule, dispatch to a pool of bots, and learn from every outcome."""

from engine.loop.deps import LoopDeps
from engine.loop.loop import run_batch, run_batch_async
from engine.loop.models import BatchOutcome, EntryStatus, JobEntry, JobSpec, Repair


def demo(settings=None, json: bool = False):  # noqa: A002 - the CLI's flag name
    """``rpa demo``: the full loop against the bundled sandbox (see ``engine.loop.demo``)."""
    from engine.loop.demo import run_demo

    return run_demo(settings, json=json)


__all__ = ["BatchOutcome", "EntryStatus", "JobEntry", "JobSpec", "LoopDeps", "Repair", "demo", "run_batch",
           "run_batch_async"]
