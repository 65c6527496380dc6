"""Scheduler commands: ``rpa bench psplib``."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def cmd_bench_psplib(
    paths: list[str] = typer.Argument(..., help=".sm files or folders of them (e.g. ../shared/psplib/j30)."),
    schedules: int = typer.Option(5000, "--schedules", min=1, help="Schedules per instance for the GA."),
    time_limit: str = typer.Option("1", "--time-limit",
                                   help="Seconds per instance for CP-SAT; a list like 1,10 gives one row each."),
    ga_time_limit: float | None = typer.Option(None, "--ga-time-limit", min=0.01,
                                               help="Give the GA seconds per instance instead of --schedules."),
    baseline: str = typer.Option("cpsat,lft", "--baseline", help="Comma-separated: cpsat, lft, minslack, wspt."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (CUDA when present)."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="GA seeds per instance (deviation averaged)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most N instances per set, evenly spread."),
    cpsat_limit: int | None = typer.Option(None, "--cpsat-limit", min=1,
                                           help="At most N of those for CP-SAT (it costs wall time)."),
    solutions: str | None = typer.Option(None, "--solutions", help="Reference makespans (PSPLIB list format)."),
    determinism: int = typer.Option(2, "--determinism", min=0,
                                    help="Solve the first N instances per set again to check each seed repeats."),
    online: bool = typer.Option(True, "--online/--no-online",
                                help="Also time re-optimization of 50 pending jobs."),
    online_ms: float = typer.Option(30.0, "--online-ms", min=1, help="Budget of each re-optimization (ms)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """GA vs priority rule vs CP-SAT on PSPLIB, as % above the optimum (j30) or best known makespan."""
    from engine.bench.psplib import BenchReport, online_bench, run_bench
    from engine.errors import SchedulerError

    names = [b.strip() for b in baseline.split(",") if b.strip()]
    try:
        limits = [float(x) for x in time_limit.split(",") if x.strip()]
    except ValueError:
        raise SchedulerError(f"Bench.psplib: --time-limit {time_limit!r} is not a number or a list like 1,10.") from None
    if not limits or min(limits) < 0.01:
        raise SchedulerError(f"Bench.psplib: --time-limit {time_limit!r} must be at least 0.01 s.")
    rows = run_bench(paths, schedules=schedules, time_limit=limits[0], time_limits=limits, baselines=names,
                     device=device, seeds=seeds, limit=limit, solutions=solutions, cpsat_limit=cpsat_limit,
                     determinism=determinism, ga_time_limit=ga_time_limit)
    report = BenchReport(results=rows, online=online_bench(budget_ms=online_ms, device=device) if online else None,
                         cpu_count=os.cpu_count() or 1, load_average=os.getloadavg())
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    table = Table("set", "solver", "instances", "% above ref", "ref", "schedules/s", "s/instance", "cores",
                  "device", "budget", "same per seed")
    for r in rows:
        table.add_row(r.set, r.solver, str(r.instances), f"{r.mean_pct_above_reference:.2f}", r.reference,
                      "-" if r.schedules_per_s is None else f"{r.schedules_per_s:,.0f}",
                      f"{r.seconds_per_instance:.2f}", str(r.cores), r.device, r.budget,
                      "-" if r.deterministic is None else ("yes" if r.deterministic else "NO"))
    console.print(table)
    if report.online:
        o = report.online
        console.print(f"online: {o.pending_jobs} pending + {o.running_jobs} running jobs, {o.budget_ms:g} ms budget: "
                      f"{o.mean_ms:.1f} ms mean, {o.max_ms:.1f} ms max over {o.trials} trials, "
                      f"{o.mean_pct_better_than_current:.2f} % better than the current order, "
                      f"feasible: {'yes' if o.feasible else 'NO'}")
    console.print(f"load average {report.load_average[0]:.1f} on {report.cpu_count} CPUs")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    bench.command("psplib")(cmd_bench_psplib)
