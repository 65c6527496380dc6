"""Scheduler commands: ``rpa bench psplib``."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def cmd_bench_psplib(
    paths: list[str] = typer.Argument(..., help=".sm files or folders of them (e.g. ../shared/psplib/j30)."),
    schedules: int = typer.Option(5000, "--schedules", min=1, help="Schedules per instance for the GA."),
    time_limit: float = typer.Option(1.0, "--time-limit", min=0.01, help="Seconds per instance for CP-SAT."),
    baseline: str = typer.Option("cpsat,lft", "--baseline", help="Comma-separated: cpsat, lft, minslack, wspt."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (CUDA when present)."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="GA seeds per instance (deviation averaged)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most N instances per set, evenly spread."),
    cpsat_limit: int | None = typer.Option(None, "--cpsat-limit", min=1,
                                           help="At most N of those for CP-SAT (it costs wall time)."),
    solutions: str | None = typer.Option(None, "--solutions", help="Reference makespans (PSPLIB list format)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """GA vs priority rule vs CP-SAT on PSPLIB, as % above the optimum (j30) or best known makespan."""
    from engine.bench.psplib import run_bench

    names = [b.strip() for b in baseline.split(",") if b.strip()]
    rows = run_bench(paths, schedules=schedules, time_limit=time_limit, baselines=names, device=device,
                     seeds=seeds, limit=limit, solutions=solutions, cpsat_limit=cpsat_limit)
    if as_json:
        sys.stdout.write(json.dumps({"results": [r.model_dump() for r in rows]}, indent=2) + "\n")
        return
    table = Table("set", "solver", "instances", "% above ref", "ref", "schedules/s", "seconds", "device", "budget")
    for r in rows:
        table.add_row(r.set, r.solver, str(r.instances), f"{r.mean_pct_above_reference:.2f}", r.reference,
                      "-" if r.schedules_per_s is None else f"{r.schedules_per_s:,.0f}", f"{r.seconds:.1f}",
                      r.device, r.budget)
    console.print(table)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    bench.command("psplib")(cmd_bench_psplib)
