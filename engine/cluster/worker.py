"""``rpa worker``: a Dask worker (under a nanny that restarts it) offering ``browser=N`` slots.

This module is also the worker's Dask preload: ``dask_setup`` launches the browser in the
background so the first job does not wait for it, ``dask_teardown`` closes it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from typing import Any

from loguru import logger

from engine.cluster.client import ClusterError
from engine.cluster.security import make_security

PRELOAD = "engine.cluster.worker"
LOG_LEVEL_ENV = "RPA_WORKER_LOG_LEVEL"


def dask_setup(worker: Any) -> None:
    from engine.cluster.tasks import HOST

    level = os.environ.get(LOG_LEVEL_ENV)
    if level:  # started by `rpa worker`: this spawned process is its program, so it may log
        from engine.logs import setup

        setup(level=level)

    def warm() -> None:
        try:
            HOST.warm()
            logger.info("cluster worker {}: browser ready", worker.name)
        except Exception as err:  # noqa: BLE001 - jobs will report it; the worker stays up
            logger.error("cluster worker {}: the browser does not start: {}", worker.name, err)

    threading.Thread(target=warm, name="rpa-browser-warm", daemon=True).start()


def dask_teardown(worker: Any) -> None:
    from engine.cluster.tasks import HOST

    HOST.close()


def has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def worker_resources(browsers: int, gpu: bool | None) -> dict[str, float]:
    resources: dict[str, float] = {"browser": browsers}
    if gpu if gpu is not None else has_cuda():
        resources["gpu"] = 1
    return resources


async def serve(scheduler: str, *, browsers: int = 1, name: str | None = None, nanny: bool = True,
                gpu: bool | None = None, host: str | None = None, log_level: str | None = None, tls_ca_file: str | None = None,
                tls_cert: str | None = None, tls_key: str | None = None, connect_timeout_s: float = 30.0,
                memory_limit: str = "0") -> None:
    """Run until the worker is closed (Ctrl-C, SIGTERM, or the scheduler gone for ``connect_timeout_s``)."""
    from distributed import Nanny, Worker

    security = make_security(scheduler, tls_ca_file, tls_cert, tls_key, role="worker")
    kwargs: dict[str, Any] = dict(nthreads=browsers, resources=worker_resources(browsers, gpu), name=name,
                                  security=security, preload=[PRELOAD], death_timeout=connect_timeout_s,
                                  memory_limit=memory_limit)
    if nanny and log_level:
        kwargs["env"] = {LOG_LEVEL_ENV: log_level}
    if host:
        kwargs["host"] = host
    elif scheduler.startswith(("tcp://127.", "tcp://localhost", "127.", "localhost")):
        kwargs["host"] = "127.0.0.1"  # a local scheduler: stay off the network
    cls = Nanny if nanny else Worker
    try:
        server = await cls(scheduler, **kwargs)
    except (OSError, TimeoutError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ClusterError(
            f"Worker.start: cannot reach the Dask scheduler at {scheduler} within {connect_timeout_s:g} s "
            f"({first}). Start it with `dask scheduler`, or check the address."
        ) from None
    logger.info("cluster worker {} at {} offers {}", name or server.address, server.address, kwargs["resources"])
    try:
        await server.finished()
    finally:
        await server.close()
