"""Unattended jobs: ``rpa schedule add|list|pause|resume|remove|run-now``, ``rpa daemon``, ``rpa bench soak``."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from engine.cli.output import print_result

console = Console()
err_console = Console(stderr=True)
schedule = typer.Typer(no_args_is_help=True, help="Scheduled jobs: add, list, pause, resume, remove, run-now.")

DB_OPTION = typer.Option(None, "--db", help="SQLAlchemy URL of the job store (default: RPA_DB or RPA_HOME/rpa.db).")


def _params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected NAME=VALUE, got '{pair}'", param_hint="--param")
        out[key] = value
    return out


def cmd_add(
    file: Path | None = typer.Argument(None, help="Plan file (YAML) to run."),
    instruction: str | None = typer.Option(None, "--instruction", help="Plan this instruction at each run."),
    url: str | None = typer.Option(None, "--url", help="Page an --instruction is planned on."),
    command: str | None = typer.Option(None, "--command", help="A program to run instead (exit 0 ok, 2 refused)."),
    cron: str | None = typer.Option(None, "--cron", help="Crontab fields, e.g. '0 9 * * MON-FRI'."),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone of --cron/--at (default UTC)."),
    every: str | None = typer.Option(None, "--every", help="Interval, e.g. 15m, 1h30m."),
    at: str | None = typer.Option(None, "--at", help="Once, at an ISO date-time, e.g. 2026-12-01T09:00."),
    retries: int = typer.Option(1, "--retries", min=0, max=10, help="Extra attempts after an application error."),
    timeout: str | None = typer.Option(None, "--timeout", help="Kill an attempt after this long, e.g. 10m."),
    name: str | None = typer.Option(None, "--name", help="Name shown in lists and notifications."),
    param: list[str] = typer.Option([], "--param", help="NAME=VALUE for the plan (repeatable)."),
    items: Path | None = typer.Option(None, "--items", help="Items (CSV/XLSX/JSONL) to run FILE over."),
    db: str | None = DB_OPTION,
) -> None:
    """Schedule a plan file, an instruction or a program."""
    from engine.jobs.manage import JobRequest, add_job

    if items is not None:  # checked now (columns, types): a bad file is one line here, not a failed fire
        from engine.cli.items import check_scheduled_items

        check_scheduled_items(file, items, _params(param))
    request = JobRequest(file=file, instruction=instruction, url=url, command=shlex.split(command) if command else None,
                         cron=cron, every=every, at=at, tz=tz, retries=retries, timeout=timeout, name=name,
                         params=_params(param), items=items)
    job = add_job(request, db=db)
    from engine.jobs.triggers import describe

    console.print(f"scheduled [bold]{job.id}[/] ({job.name}): {describe(job.trigger)}", highlight=False)


def cmd_list(as_json: bool = typer.Option(False, "--json", help="Print JSON."), db: str | None = DB_OPTION) -> None:
    """The scheduled jobs, their next run and their last status."""
    from engine.jobs.manage import list_jobs
    from engine.jobs.triggers import describe

    views = list_jobs(db=db)
    if as_json:
        sys.stdout.write(json.dumps([v.to_json() for v in views], indent=2) + "\n")
        return
    table = Table("id", "name", "when", "next run (UTC)", "last", "retries", "timeout", "state")
    for v in views:
        nxt = v.next_run_time.astimezone().strftime("%Y-%m-%d %H:%M:%S") if v.next_run_time else "-"
        table.add_row(v.job.id, v.job.name, describe(v.job.trigger), nxt, v.last_status or "-", str(v.job.retries),
                      f"{v.job.timeout_s:g}s" if v.job.timeout_s else "-", "paused" if v.job.paused else "active")
    console.print(table)


def cmd_pause(job_id: str = typer.Argument(...), db: str | None = DB_OPTION) -> None:
    """Stop running a job until it is resumed (times owed meanwhile are not run later)."""
    from engine.jobs.manage import set_paused

    console.print(f"paused {set_paused(job_id, True, db=db).id}", highlight=False)


def cmd_resume(job_id: str = typer.Argument(...), db: str | None = DB_OPTION) -> None:
    """Run a paused job again from its next scheduled time."""
    from engine.jobs.manage import set_paused

    console.print(f"resumed {set_paused(job_id, False, db=db).id}", highlight=False)


def cmd_remove(job_id: str = typer.Argument(...), db: str | None = DB_OPTION) -> None:
    """Delete a job (its history stays)."""
    from engine.jobs.manage import remove_job

    console.print(f"removed {remove_job(job_id, db=db).id}", highlight=False)


def cmd_run_now(job_id: str = typer.Argument(...), db: str | None = DB_OPTION) -> None:
    """Run a job once now: through the running daemon, or here if none runs."""
    from engine.history import HistoryStatus
    from engine.jobs.manage import run_now

    status = run_now(job_id, db=db)
    if status == "queued":
        console.print(f"{job_id}: queued for the running daemon", highlight=False)
        return
    console.print(f"{job_id}: {status}", highlight=False)
    if status != HistoryStatus.succeeded.value:
        raise typer.Exit(1)


def cmd_daemon(
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=64, help="Jobs run at a time."),
    grace: float = typer.Option(30.0, "--grace", min=0, help="Seconds running jobs get to finish on stop."),
    db: str | None = DB_OPTION,
    cluster: str | None = typer.Option(None, "--cluster", envvar="RPA_CLUSTER",
                                       help="Dask scheduler address: jobs run on its workers (docs/cluster.md)."),
) -> None:
    """Run the scheduled jobs in the foreground until SIGTERM or Ctrl+C."""
    from engine.config import get_settings
    from engine.jobs.daemon import Daemon, DaemonOptions
    from engine.logs import add_json_file, setup

    settings = get_settings().ensure()
    setup(level="INFO")
    if cluster:
        from engine.cluster import check_cluster

        check_cluster(cluster)  # unreachable: one line and exit 1, before any job is taken
        os.environ["RPA_CLUSTER"] = cluster  # each job's worker process dispatches there
    add_json_file(settings.home / "logs" / "daemon.jsonl")
    Daemon(settings, url=db, options=DaemonOptions(concurrency=concurrency, grace_s=grace)).serve()


def cmd_bench_soak(
    seconds: float = typer.Option(60.0, "--seconds", min=5, help="How long the soak runs (at least)."),
    kills: int = typer.Option(3, "--kills", min=0, help="SIGKILLs of the daemon."),
    kill_after_run: bool = typer.Option(False, "--kill-after-run",
                                        help="Kill right after a run's final row is written (the worst moment)."),
    every: float = typer.Option(2.0, "--every", min=0.5, help="Seconds between scheduled runs."),
    jobs: str = typer.Option("plan", "--jobs", help="plan: a one-step plan on the sandbox; command: a program."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the random kill times."),
    keep: bool = typer.Option(False, "--keep", help="Keep the soak's RPA_HOME (daemon log, database)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """A job every 2 s while a real daemon is SIGKILLed and restarted: duplicates and lost runs."""
    from engine.errors import ConfigError
    from engine.jobs.soak import soak

    if jobs not in ("plan", "command"):
        raise ConfigError(f"Bench.soak: --jobs is 'plan' or 'command', not '{jobs}'.")
    options: dict[str, Any] = dict(seconds=seconds, kills=kills, every_s=every, seed=seed, keep=keep,
                                   kill_after_run=kill_after_run)
    if jobs == "plan":
        from bots.sandbox import start_sandbox

        with start_sandbox(port=0) as server:
            result = soak(page_url=f"{server.url}/", **options)
    else:
        result = soak(**options)
    print_result(result.model_dump(), as_json=as_json, console=console, width=22)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    schedule.command("add")(cmd_add)
    schedule.command("list")(cmd_list)
    schedule.command("pause")(cmd_pause)
    schedule.command("resume")(cmd_resume)
    schedule.command("remove")(cmd_remove)
    schedule.command("run-now")(cmd_run_now)
    app.add_typer(schedule, name="schedule")
    app.command("daemon")(cmd_daemon)
    bench.command("soak")(cmd_bench_soak)
