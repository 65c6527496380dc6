"""The coordinator's side of a Dask cluster: connecting (TLS beyond this machine) and counting the
browser slots the workers offer. ``engine.cluster.runtime.ClusterRuntime`` runs the loop's bots there.
"""

from __future__ import annotations

import os
import time
from typing import Any

from engine.cluster.security import make_security
from engine.errors import ApplicationError

BROWSER = "browser"


class ClusterError(ApplicationError):
    """The cluster cannot take work now (scheduler unreachable, no browser worker). An application
    error, so it is transient: a daemon keeps its scheduled jobs and tries again later."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)  # no step: the message is the whole line


def connect(address: str, *, tls_ca_file: str | None = None, tls_cert: str | None = None,
            tls_key: str | None = None, security: Any = None, timeout_s: float = 10.0) -> Any:
    """A ``distributed.Client`` for ``address``; one-line ``ClusterError`` when it cannot be reached.
    TLS files default to ``RPA_TLS_CA_FILE``, ``RPA_TLS_CERT`` and ``RPA_TLS_KEY``."""
    from distributed import Client

    if security is None:
        security = make_security(address, tls_ca_file or os.environ.get("RPA_TLS_CA_FILE") or None,
                                 tls_cert or os.environ.get("RPA_TLS_CERT") or None,
                                 tls_key or os.environ.get("RPA_TLS_KEY") or None, role="client")
    try:
        return Client(address, security=security, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ClusterError(
            f"Cluster.connect: cannot reach the Dask scheduler at {address} within {timeout_s:g} s ({first}). "
            "Start it with `dask scheduler`, or check the address, port and firewall."
        ) from None


def check_cluster(address: str, *, timeout_s: float = 10.0, wait_workers_s: float = 0.0, **tls: Any) -> int:
    """Browser slots at ``address`` now; ``ClusterError`` when unreachable or none (``rpa daemon`` start)."""
    client = connect(address, timeout_s=timeout_s, **tls)
    try:
        return wait_for_browsers(client, wait_workers_s, address)
    finally:
        client.close()


def browser_slots(client: Any) -> int:
    workers = client.scheduler_info(n_workers=-1).get("workers", {}) if _takes_n_workers(client) \
        else client.scheduler_info().get("workers", {})
    return sum(int(w.get("resources", {}).get(BROWSER, 0)) for w in workers.values())


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def wait_for_browsers(client: Any, timeout_s: float, address: str = "") -> int:
    """Browser slots offered by the workers; waits up to ``timeout_s`` for the first one."""
    deadline = time.monotonic() + timeout_s
    while True:
        slots = browser_slots(client)
        if slots > 0:
            return slots
        if time.monotonic() >= deadline:
            raise ClusterError(
                f"Cluster.run: no worker of {address or 'the scheduler'} offers the resource '{BROWSER}' "
                f"(waited {timeout_s:g} s). Start one with `rpa worker --scheduler {address or 'ADDRESS'}`."
            )
        time.sleep(0.2)
