"""Scale-out on Dask distributed: ``rpa worker`` on each machine, ``--cluster ADDRESS`` to dispatch.

The coordinator keeps planning, scheduling, history and reports; workers only run bots, each with
its own Chromium and its own secret store. See docs/cluster.md.
"""

from engine.cluster.client import (
    ClusterError,
    ClusterRuntime,
    check_cluster,
    connect,
    run_batch_on_cluster,
    run_batch_on_cluster_async,
    wait_for_browsers,
)
from engine.cluster.security import is_local, make_security

__all__ = ["ClusterError", "ClusterRuntime", "check_cluster", "connect", "is_local", "make_security", "run_batch_on_cluster",
           "run_batch_on_cluster_async", "wait_for_browsers"]
