"""Scale-out commands: ``rpa worker`` and ``rpa bench cluster``."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from engine.cli.output import print_result

console = Console()

CA_OPTION = typer.Option(None, "--tls-ca-file", envvar="RPA_TLS_CA_FILE", help="CA certificate (PEM) for tls://.")
CERT_OPTION = typer.Option(None, "--tls-cert", envvar="RPA_TLS_CERT", help="This machine's certificate (PEM).")
KEY_OPTION = typer.Option(None, "--tls-key", envvar="RPA_TLS_KEY", help="This machine's private key (PEM).")


def cmd_worker(
    scheduler: str = typer.Option(..., "--scheduler", envvar="RPA_CLUSTER", help="e.g. tcp://127.0.0.1:8786 or tls://host:8786."),
    browsers: int = typer.Option(1, "--browsers", min=1, max=64, help="Concurrent bots (browser slots) on this machine."),
    name: str | None = typer.Option(None, "--name", help="Worker name shown in logs and history."),
    gpu: bool | None = typer.Option(None, "--gpu/--no-gpu", help="Offer gpu=1 (default: when CUDA is present)."),
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default: chosen by Dask)."),
    nanny: bool = typer.Option(True, "--nanny/--no-nanny", help="Restart the worker process if it dies."),
    connect_timeout: float = typer.Option(30.0, "--connect-timeout", min=1.0, help="Seconds to wait for the scheduler."),
    ca: str | None = CA_OPTION,
    cert: str | None = CERT_OPTION,
    key: str | None = KEY_OPTION,
) -> None:
    """Start a Dask worker that runs bots: offers browser=N (and gpu=1 with CUDA), with its own Chromium."""
    from engine.cluster.worker import serve
    from engine.logs import setup

    setup(level="INFO")
    asyncio.run(serve(scheduler, browsers=browsers, name=name, nanny=nanny, gpu=gpu, host=host, tls_ca_file=ca,
                      tls_cert=cert, tls_key=key, connect_timeout_s=connect_timeout, log_level="INFO"))


def cmd_bench_cluster(
    workers: str = typer.Option("1,2", "--workers", help="Comma-separated worker counts (one browser each)."),
    jobs: int = typer.Option(20, "--jobs", min=1, help="Jobs per batch."),
    kill_one: bool = typer.Option(False, "--kill-one", help="Also kill a busy worker during a batch."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Throughput by worker count on a local scheduler and worker processes; fault counts with --kill-one."""
    from engine.bench.cluster import bench_cluster
    from engine.logs import setup

    setup(level="WARNING")
    try:
        counts = sorted({int(x) for x in workers.split(",") if x.strip()})
    except ValueError:
        raise typer.BadParameter("expected numbers like 1,2", param_hint="--workers") from None
    if not counts or min(counts) < 1:
        raise typer.BadParameter("expected numbers like 1,2", param_hint="--workers")
    result = bench_cluster(workers=counts, jobs=jobs, kill_one=kill_one)
    print_result(result, as_json=as_json, console=console, width=22)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("worker")(cmd_worker)
    bench.command("cluster")(cmd_bench_cluster)
