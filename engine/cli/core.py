"""Core commands: run, validate, history, show, schema, sandbox, and ``bench overhead``.

Commands stay thin: parse, call one engine function, render with rich. ``RpaError`` reaches
``engine.cli.main.run`` which prints one line and exits 1; typer's own usage errors exit 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine.errors import ConfigError, PlanValidationError, RpaError
from engine.outcome import RunOutcome

console = Console()
err_console = Console(stderr=True)


# -- helpers ------------------------------------------------------------------------------------

def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--param")
        params[key.strip()] = value
    return params


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _fail_line(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)


def _logging() -> None:
    """The console shows only errors (a command prints its own one-line result; --debug shows
    everything); each run's log.jsonl gets every line."""
    import os

    from engine.logs import setup

    setup(level="DEBUG" if os.environ.get("RPA_DEBUG") == "1" else "ERROR")


def _settings() -> Any:
    from engine.config import get_settings

    return get_settings().ensure()


class StepProgress:
    """One rich progress bar per run, advanced by the bots' step events."""

    def __init__(self, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[step]}"), TimeElapsedColumn(), console=err_console,
            transient=True, disable=not enabled,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> StepProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def on_event(self, event: Any) -> None:
        run_id = str(getattr(event, "run_id", "") or "run")
        total = getattr(event, "total", None)
        if run_id not in self.tasks:
            name = getattr(event, "plan_name", None) or run_id[-6:]
            self.tasks[run_id] = self.progress.add_task("", total=total, name=name, step="")
        task = self.tasks[run_id]
        status = str(getattr(getattr(event, "status", None), "value", getattr(event, "status", "")) or "")
        step = getattr(event, "step_id", "") or ""
        done = status in ("succeeded", "failed", "skipped", "finished")
        self.progress.update(task, total=total, step=f"{step} {status}".strip(), advance=1 if done else 0)


# -- run ----------------------------------------------------------------------------------------

def _load_plans(files: list[Path]) -> tuple[list[tuple[Path, Any]], list[RunOutcome]]:
    """Plans that load, and a recorded failed run for each file that does not."""
    from engine.inputs import record_invalid_plan
    from engine.plan import load_plan

    plans, bad = [], []
    for path in files:
        try:
            plans.append((path, load_plan(path)))
        except PlanValidationError as err:
            bad.append(record_invalid_plan(str(path), err))
    return plans, bad


def _params_for(plan: Any, params: dict[str, str], several: bool) -> dict[str, str]:
    """One plan gets every --param (an unknown name is an error); several get the ones they declare."""
    return {k: v for k, v in params.items() if k in plan.params} if several else dict(params)


def run_jobs(plans: list[tuple[Path, Any]], params: dict[str, str], *, headed: bool, concurrency: int,
             on_event: Callable[[Any], None], instruction: str | None, url: str | None,
             cluster: str | None) -> Any:
    """The CLI's one way to run work: every plan file and the instruction as jobs of one batch."""
    from engine.loop import JobSpec, run_batch

    several = len(plans) + (1 if instruction else 0) > 1
    jobs = [JobSpec(plan=plan, plan_path=str(path), params=_params_for(plan, params, several)) for path, plan in plans]
    if instruction:
        jobs.append(JobSpec(instruction=instruction, url=url, params=params))
    return run_batch(jobs, concurrency=concurrency, on_event=on_event, headed=headed, cluster=cluster)


def _print_outcome(outcome: RunOutcome) -> None:
    if outcome.ok:
        console.print(f"[green]✓[/] {outcome.plan_name}: succeeded in {outcome.seconds:.2f}s "
                      f"({len(outcome.steps)} steps) run {outcome.run_id}", highlight=False)
    else:
        _fail_line(outcome.error or f"run {outcome.run_id} failed")
    for name, value in outcome.outputs.items():
        text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
        console.print(f"  [dim]output[/] {name} = {text[:200]}", highlight=False)
    for path in outcome.downloads:
        console.print(f"  [dim]download[/] {path}", highlight=False)
    if outcome.report:
        console.print(f"  [dim]report[/] {outcome.report}", highlight=False)


def _error_json(err: RpaError) -> dict[str, Any]:
    return {"run_id": None, "status": "failed", "error": err.message, "error_kind": None, "steps": [],
            "outputs": {}, "llm_calls": 0, "seconds": 0.0, "report": None}


def cmd_run(
    files: list[Path] = typer.Argument(None, help="Plan files (YAML) to run.", show_default=False),
    param: list[str] = typer.Option([], "--param", "-p", help="KEY=VALUE for the plan's params (repeatable)."),
    headed: bool = typer.Option(False, "--headed", help="Show the browser window."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    concurrency: int = typer.Option(1, "--concurrency", "-c", help="Bots running at once (1-64)."),
    instruction: str | None = typer.Option(None, "--instruction", help="Plan this with the LLM and run it too."),
    url: str | None = typer.Option(None, "--url", help="Start page for --instruction."),
    cluster: str | None = typer.Option(None, "--cluster", envvar="RPA_CLUSTER",
                                       help="Dask scheduler address: run the bots on its workers (docs/cluster.md)."),
    model: str | None = typer.Option(None, "--model", envvar="RPA_MODEL",
                                     help="The planner's model: a name trained with `rpa train`, a folder or a .gguf."),
    items: Path | None = typer.Option(None, "--items", help="Run once per row of this CSV/XLSX/JSONL."),
    output: Path | None = typer.Option(None, "--output", help="--items: one row per item (csv/xlsx/jsonl)."),
    sheet: str | None = typer.Option(None, "--sheet", help="With --items: the workbook's sheet."),
    emit_items: Path | None = typer.Option(None, "--emit-items", help="Append table rows to this JSONL."),
) -> None:
    """Run plan files (and/or an instruction); exit 0 only when every run succeeded."""
    if not 1 <= concurrency <= 64:  # checked here: typer's range check prints a multi-line box
        _fail_line(f"rpa run: --concurrency must be 1 to 64, got {concurrency}. Pass e.g. --concurrency 4.")
        raise typer.Exit(2)
    files = list(files or [])
    if not files and not instruction:
        raise typer.BadParameter("give at least one FILE.yaml or --instruction", param_hint="FILES")
    if model:
        _use_model(model)
    params = _parse_params(param)
    _logging()
    if instruction and not items:  # a recorded bot first; --url only for the open-world planner
        from engine.cli.skills import route_for_run

        route_for_run(instruction, params, url, quiet=as_json)
    if items or output or sheet or emit_items:  # work items (docs/items.md)
        from engine.cli.items import run_items

        run_items(files, params, items=items, output=output, sheet=sheet, emit_items=emit_items,
                  concurrency=concurrency, headed=headed, as_json=as_json, cluster=cluster,
                  instruction=instruction)
    plans, bad = _load_plans(files)
    with StepProgress(enabled=not as_json and console.is_terminal) as progress:
        batch = run_jobs(plans, params, headed=headed, concurrency=concurrency, on_event=progress.on_event,
                         instruction=instruction, url=url, cluster=cluster) if plans or instruction else None
    results: list[RunOutcome | RpaError] = [*bad, *(batch.runs if batch else [])]
    if batch is not None:  # jobs that never reached a bot (unschedulable)
        ran = {r.run_id for r in batch.runs}
        results += [RpaError(e.error or f"{e.label}: {e.status.value}") for e in batch.entries
                    if not e.ok and not ran.intersection(e.run_ids)]
    ok = not bad and (batch is None or batch.ok)
    _report_results(results, batch, as_json, ok)
    raise typer.Exit(0 if ok and results else 1)


def _use_model(model: str) -> None:
    """Check the model exists before any browser starts (a ConfigError is the one-line error);
    the loop's planner reads RPA_MODEL from the settings."""
    import os

    from engine.planner.model import resolve_source

    resolve_source(_settings(), model)
    os.environ["RPA_MODEL"] = model


def _report_results(results: list[RunOutcome | RpaError], batch: Any, as_json: bool, ok: bool) -> None:
    if as_json:
        items = [r.summary_json() if isinstance(r, RunOutcome) else _error_json(r) for r in results]
        if len(items) == 1:
            _print_json(items[0])
        else:
            extra = batch.summary_json() if batch is not None else {}
            _print_json({**extra, "status": "succeeded" if ok and items else "failed", "runs": items})
        return
    for r in results:
        if isinstance(r, RunOutcome):
            _print_outcome(r)
        else:
            _fail_line(r.message)
    if batch is not None and batch.report and len(results) > 1:
        console.print(f"batch report: {batch.report}", highlight=False)


# -- validate, schema ---------------------------------------------------------------------------

def cmd_validate(files: list[Path] = typer.Argument(..., help="Plan files to check.")) -> None:
    """Check plan files without running them."""
    from engine.plan import load_plan

    bad = 0
    for path in files:
        try:
            plan = load_plan(path)
        except PlanValidationError as err:
            _fail_line(err.message)
            bad += 1
            continue
        console.print(f"[green]ok[/] {path}: plan '{plan.name}', {len(plan.steps)} steps", highlight=False)
    raise typer.Exit(1 if bad else 0)


def cmd_schema() -> None:
    """Print the JSON Schema of the plan format."""
    from engine.plan import Plan

    _print_json(Plan.model_json_schema())


# -- history, show ------------------------------------------------------------------------------

def _when(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _status_style(status: str) -> str:
    return {"succeeded": "green", "running": "cyan"}.get(status, "red" if "fail" in status else "yellow")


def cmd_history(
    job: str | None = typer.Option(None, "--job", help="Only runs of this job id."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Newest N runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List recorded runs, newest first."""
    from engine.cli.items import history_queues, print_history_queues  # the work-item queues' section
    from engine.history import History

    runs = History(_settings()).list_runs(job_id=job, limit=limit)
    if as_json:
        _print_json({"runs": [r.to_json() for r in runs], "queues": [] if job else history_queues()})
        return
    rows = [{"run": r.id, "plan": r.plan_name, "job": r.job_id or "", "scheduled": _when(r.scheduled_for)
             if r.scheduled_for else "", "started": _when(r.started_at), "ended": _when(r.finished_at),
             "seconds": f"{r.seconds:.2f}" if r.seconds is not None else "",
             "status": f"[{_status_style(r.status)}]{r.status}[/]", "attempt": str(r.attempt),
             "report": r.report or ""} for r in runs]
    # Columns nobody uses (no jobs, nothing scheduled) are left out to keep the table readable.
    columns = [c for c in (rows[0] if rows else {}) if c in ("run", "status") or any(row[c] for row in rows)]
    table = Table(*columns)
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    console.print(table if runs else "No runs recorded yet.")
    if not job:
        print_history_queues()


def cmd_show(run_id: str = typer.Argument(..., help="A run id, or a unique prefix of one."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show one run with its steps."""
    from engine.history import History

    rec = History(_settings()).get_run(run_id)
    if rec is None:
        raise ConfigError(f"History.get: no run '{run_id}' (or the prefix matches several). See `rpa history`.")
    if as_json:
        _print_json(rec.to_json())
        return
    console.print(f"[bold]{rec.plan_name}[/] run {rec.id}: [{_status_style(rec.status)}]{rec.status}[/]"
                  f"  started {_when(rec.started_at)}  {rec.seconds or 0:.2f}s  attempt {rec.attempt}", highlight=False)
    if rec.error:
        console.print(f"[red]{rec.error}[/]", highlight=False)
    table = Table("step", "action", "status", "seconds", "attempts", "locator", "error")
    for s in rec.steps:
        table.add_row(s.step_id, s.action, f"[{_status_style(s.status)}]{s.status}[/]", f"{s.seconds:.3f}",
                      str(s.attempts), s.locator or "", s.error or "")
    if rec.steps:
        console.print(table)
    for name, value in rec.outputs.items():
        console.print(f"output {name} = {json.dumps(value, ensure_ascii=False)[:300]}", highlight=False)
    if rec.report:
        console.print(f"report: {rec.report}", highlight=False)


# -- sandbox, demo ------------------------------------------------------------------------------

def cmd_sandbox(
    port: int = typer.Option(8765, "--port", help="Port on 127.0.0.1 (0 = any free port)."),
    flaky: float = typer.Option(0.0, "--flaky", min=0.0, max=1.0, help="Probability of slow responses and HTTP 500s."),
    drift: bool = typer.Option(False, "--drift", help="Rename ids/classes, move elements, reword labels."),
) -> None:
    """Serve the bundled sandbox site until Ctrl+C."""
    from bots import sandbox

    sandbox.serve(port=port, flaky=flaky, drift=drift)


# -- bench overhead -----------------------------------------------------------------------------

def cmd_bench_overhead(
    runs: int = typer.Option(5, "--runs", min=1, max=200, help="Runs of each variant."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Framework vs hand-written Playwright on the same 30-step sandbox flow (browser launch excluded)."""
    from engine.bench.overhead import run_overhead

    result = run_overhead(runs=runs)
    if as_json:
        _print_json(result)
        return
    table = Table("variant", "median s", title=f"30-step flow, {runs} runs each")
    table.add_row("raw Playwright", f"{result['raw_median_s']:.3f}")
    table.add_row("framework", f"{result['framework_median_s']:.3f}")
    table.add_row("framework, no screenshots", f"{result['framework_noshots_median_s']:.3f}")
    console.print(table)
    console.print(f"ratio framework/raw: {result['ratio']:.3f} (no screenshots: {result['ratio_noshots']:.3f}); "
                  f"aim <= 1.15", highlight=False)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("run")(cmd_run)
    app.command("validate")(cmd_validate)
    app.command("history")(cmd_history)
    app.command("show")(cmd_show)
    app.command("schema")(cmd_schema)
    app.command("sandbox")(cmd_sandbox)
    bench.command("overhead")(cmd_bench_overhead)
