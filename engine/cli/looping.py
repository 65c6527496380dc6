"""Loop commands: ``rpa export-dataset`` and ``rpa bench loop``.

``rpa run`` and ``rpa demo`` (engine.cli.core) go through ``engine.loop`` on their own.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from engine.cli.output import print_result

console = Console(stderr=True)


def _has_command(app: typer.Typer, name: str) -> bool:
    return any((c.name or getattr(c.callback, "__name__", "")) == name for c in app.registered_commands)


def cmd_export_dataset(
    out: Path = typer.Option(..., "--out", "-o", help="JSON-lines file to write."),
    succeeded_only: bool = typer.Option(False, "--succeeded-only", help="Only decisions whose step succeeded."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Write every stored decision (instruction, observation, action, outcome), secrets masked."""
    from engine.loop.dataset import export_dataset

    n = export_dataset(out, only_succeeded=succeeded_only, overwrite=force)
    console.print(f"{n} example(s) from the run history written to {out}", highlight=False)


def cmd_bench_loop(
    jobs: int = typer.Option(20, "--jobs", min=1, help="Recorded jobs per batch."),
    concurrency: str = typer.Option("1,2,4", "--concurrency", help="Comma-separated bot counts."),
    flaky: float = typer.Option(0.0, "--flaky", min=0.0, max=0.9, help="Also run on a flaky sandbox (P of failure)."),
    drift: bool = typer.Option(False, "--drift", help="Also run the recordings on the drifted sandbox."),
    no_plan: bool = typer.Option(False, "--no-plan", help="Skip the planning half (no model)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Throughput by concurrency, success under flakiness, repair under drift, plan-cache speed-up."""
    from engine.bench.loop import bench_loop

    try:
        levels = [int(x) for x in concurrency.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter("expected numbers like 1,2,4", param_hint="--concurrency") from None
    result = bench_loop(jobs=jobs, concurrency=levels, flaky=flaky, drift=drift, instructions=not no_plan)
    print_result(result, as_json=as_json, console=console, width=28)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    if not _has_command(app, "export-dataset"):  # the training area may own it too
        app.command("export-dataset")(cmd_export_dataset)
    bench.command("loop")(cmd_bench_loop)
