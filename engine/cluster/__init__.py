"""Scale-out on Dask distributed: ``rpa worker`` on each machine, ``--cluster ADDRESS`` to dispatch.

The coordinator keeps planning, scheduling, history and reports; workers only run bots, each with
its own Chromium and its own secret store. The loop composes ``ClusterRuntime`` when it is given a
cluster (``engine.loop.run_batch(jobs, cluster=...)``). See docs/cluster.md.
"""

from engine.cluster.client import ClusterError, browser_slots, check_cluster, connect, wait_for_browsers
from engine.cluster.models import ClusterOptions
from engine.cluster.runtime import ClusterRuntime, resolved_on_worker
from engine.cluster.security import is_local, make_security

__all__ = ["ClusterError", "ClusterOptions", "ClusterRuntime", "browser_slots", "check_cluster", "connect",
           "is_local", "make_security", "resolved_on_worker", "wait_for_browsers"]
