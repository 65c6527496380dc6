"""The engine loop: plan, schedule, dispatch to bots, and learn from every outcome.

``run_batch(jobs)`` is the one way a plan runs, whatever starts it (``rpa run``, ``rpa demo``, the
daemon's worker, the MCP server); ``cluster=`` runs the bots on Dask workers instead of here.
"""

from engine.loop.deps import LoopDeps
from engine.loop.loop import run_batch, run_batch_async
from engine.loop.models import BatchOutcome, EntryStatus, JobEntry, JobSpec, Repair
from engine.loop.runtime import LocalRuntime, Runtime

__all__ = ["BatchOutcome", "EntryStatus", "JobEntry", "JobSpec", "LocalRuntime", "LoopDeps", "Repair", "Runtime",
           "run_batch", "run_batch_async"]
