"""Work items: ``rpa run PLAN --items FILE`` (handed over from ``rpa run``), ``rpa items list|show|retry``,
``rpa bench items``; and the queue section of ``rpa history``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from engine.cli.output import print_result

console = Console()
err_console = Console(stderr=True)
items_app = typer.Typer(no_args_is_help=True, help="Work-item queues: list, show, retry.")


def _settings() -> Any:
    from engine.config import get_settings

    return get_settings().ensure()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _fail_line(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


# -- rpa run --items ------------------------------------------------------------------------------
def run_items(
    files: list[Path],
    params: dict[str, str],
    *,
    items: Path | None,
    output: Path | None,
    sheet: str | None,
    emit_items: Path | None,
    concurrency: int,
    headed: bool,
    as_json: bool,
    cluster: str | None,
    instruction: str | None,
) -> None:
    """``rpa run`` with --items/--output/--sheet/--emit-items; always ends with ``typer.Exit``."""
    if items is None:
        if output is not None or sheet is not None:
            raise typer.BadParameter("--output and --sheet go with --items FILE", param_hint="--items")
        assert emit_items is not None
        _run_producer(files, params, emit_items, concurrency, headed, as_json, cluster)
    if len(files) != 1 or instruction:
        raise typer.BadParameter("--items runs exactly one plan file (no --instruction)", param_hint="FILES")
    from engine.cli.core import StepProgress
    from engine.items import QueueRequest, prepare, run_queue

    request = QueueRequest(
        plan_path=files[0],
        items_path=items,
        params=params,
        output=output,
        sheet=sheet,
        concurrency=concurrency,
        headed=headed,
        cluster=cluster,
        emit_items=emit_items,
    )
    _finish(request, prepare, run_queue, StepProgress, as_json)


def _finish(request: Any, prepare: Any, run_queue: Any, progress_cls: Any, as_json: bool) -> None:
    settings = _settings()
    prepared = prepare(request, settings)  # every bad input is one line here, before any run
    with progress_cls(enabled=not as_json and console.is_terminal) as progress:
        outcome = run_queue(prepared, settings, on_event=progress.on_event)
    if as_json:
        _print_json(outcome.summary_json())
    else:
        _print_outcome(outcome)
    raise typer.Exit(0 if outcome.ok else 1)


def _print_outcome(outcome: Any) -> None:
    s = outcome.summary
    for v in outcome.items:
        if v.present and v.state.value not in ("succeeded",):
            line = f"line {v.line} ({v.state.value})" + (f": {v.error}" if v.error else "")
            if v.state.value == "held":
                line += f" Held for a person: `rpa items retry {s.queue}` runs it again."
            _fail_line(line)
    colour = "green" if outcome.ok else "red"
    console.print(
        f"[{colour}]queue {s.queue}[/]: {s.items} items, {s.done} done, {s.failed} failed, {s.left} left"
        f" (ran {outcome.ran}, skipped {outcome.skipped} already done)",
        highlight=False,
    )
    if s.output:
        console.print(f"  [dim]output[/] {s.output}", highlight=False)
    if outcome.emitted:
        console.print(f"  [dim]emitted[/] {outcome.emitted} rows", highlight=False)
    if s.report:
        console.print(f"  [dim]report[/] {s.report}", highlight=False)


def _run_producer(
    files: list[Path],
    params: dict[str, str],
    emit_items: Path,
    concurrency: int,
    headed: bool,
    as_json: bool,
    cluster: str | None,
) -> None:
    """``rpa run PLAN --emit-items Q.jsonl`` without --items: one run, its table rows appended to Q."""
    from engine.errors import ConfigError
    from engine.items.output import emit_rows, rows_of
    from engine.loop import JobSpec, run_batch
    from engine.plan import load_plan

    if len(files) != 1:
        raise typer.BadParameter("--emit-items runs exactly one plan file", param_hint="FILES")
    if emit_items.suffix.lower() not in (".jsonl", ".ndjson"):
        raise ConfigError(f"Items.emit: {emit_items.name} must be a .jsonl file (one JSON object a line).")
    plan = load_plan(files[0])
    from engine.items.runner import input_checks

    check_inputs, secret_resolver = input_checks()
    if not cluster:
        check_inputs(plan, params, secret_resolver(_settings()))
    job = JobSpec(plan=plan, plan_path=str(files[0]), params=params)
    batch = run_batch(
        [job], concurrency=concurrency, headed=headed, **({"cluster": cluster} if cluster else {})
    )
    emitted = sum(emit_rows(emit_items, r.run_id, rows_of(r.outputs)) for r in batch.runs if r.ok)
    if as_json:
        _print_json({**batch.summary_json(), "emitted": emitted, "emit_items": str(emit_items)})
    else:
        for r in batch.runs:
            if not r.ok:
                _fail_line(r.error or f"run {r.run_id} failed")
        console.print(f"emitted {emitted} rows to {emit_items}", highlight=False)
    raise typer.Exit(0 if batch.ok else 1)


def check_scheduled_items(plan: Path | None, items: Path, params: dict[str, str]) -> None:
    """``rpa schedule add PLAN --items FILE``: the same checks as ``rpa run --items`` (secrets are the
    daemon's), with a file that has no rows yet allowed."""
    from engine.items import QueueRequest, prepare

    if plan is None:
        raise typer.BadParameter("--items goes with a plan FILE.yaml", param_hint="--items")
    prepare(
        QueueRequest(plan_path=plan, items_path=items, params=params, allow_empty=True, check_secrets=False)
    )


# -- rpa items ... --------------------------------------------------------------------------------
def _summaries(limit: int = 50) -> list[Any]:
    from engine.items import QueueStore

    store = QueueStore(_settings())
    out = []
    for q in store.queues(limit=limit):
        out.append(store.summary(q, store.refresh(q.id)))
    return out


def cmd_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Queues, newest first: items, done, failed, left."""
    summaries = _summaries()
    if as_json:
        _print_json({"queues": [s.model_dump() for s in summaries]})
        return
    if not summaries:
        console.print("No queues yet. Run one with `rpa run PLAN.yaml --items FILE`.")
        return
    table = Table("queue", "plan", "items file", "items", "done", "failed", "held", "left", "updated")
    for s in summaries:
        table.add_row(
            s.queue,
            s.plan,
            s.items_path,
            str(s.items),
            str(s.done),
            str(s.failed),
            str(s.held),
            str(s.left),
            (s.updated_at or "")[:19],
        )
    console.print(table)


def cmd_show(
    queue: str = typer.Argument(..., help="A queue id (or a unique prefix, or its items file)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One queue: every item with its state, attempt, run and error."""
    from engine.items import QueueStore

    store = QueueStore(_settings())
    row = store.find_queue(queue)
    views = store.refresh(row.id)
    summary = store.summary(row, views)
    if as_json:
        _print_json(
            {
                **summary.model_dump(),
                "plan_path": row.plan_path,
                "params": row.params,
                "entries": [v.model_dump(mode="json") for v in views],
            }
        )
        return
    console.print(
        f"[bold]queue {summary.queue}[/]: plan {summary.plan} over {summary.items_path}", highlight=False
    )
    console.print(
        f"{summary.items} items, {summary.done} done, {summary.failed} failed, {summary.held} held, "
        f"{summary.left} left",
        highlight=False,
    )
    table = Table("line", "item", "status", "attempt", "run", "error")
    for v in views:
        if v.present:
            table.add_row(
                str(v.line),
                ", ".join(f"{k}={x}" for k, x in v.values.items())[:60],
                v.state.value,
                str(v.attempt),
                v.run_id or "",
                (v.error or "")[:120],
            )
    console.print(table)
    gone = sum(1 for v in views if not v.present)
    if gone:
        console.print(f"[dim]{gone} item(s) no longer in the file (kept in history)[/]", highlight=False)


def cmd_retry(
    queue: str = typer.Argument(..., help="A queue id (or a unique prefix, or its items file)."),
    failed: bool = typer.Option(False, "--failed", help="Only the failed items (not pending or held ones)."),
    concurrency: int | None = typer.Option(
        None, "--concurrency", "-c", min=1, max=64, help="Bots at once (default: the queue's last)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run a queue again: all not done, held items too (a person decided); --failed: only the failures."""
    from engine.cli.core import StepProgress
    from engine.items import QueueRequest, QueueStore, prepare, run_queue

    row = QueueStore(_settings()).find_queue(queue)
    request = QueueRequest(
        plan_path=Path(row.plan_path),
        items_path=Path(row.items_path),
        params=row.params,
        output=Path(row.output) if row.output else None,
        sheet=row.sheet,
        concurrency=concurrency or row.concurrency,
        only_failed=failed,
        release_held=not failed,
    )
    _finish(request, prepare, run_queue, StepProgress, as_json)


# -- rpa history's section ------------------------------------------------------------------------
def history_queues(limit: int = 10) -> list[dict[str, Any]]:
    """Counts of the newest queues, for ``rpa history`` (empty when none was ever run)."""
    try:
        return [s.model_dump() for s in _summaries(limit=limit)]
    except Exception as err:  # noqa: BLE001 - the run listing must not fail because of this section
        err_console.print(f"[yellow]queues unavailable: {err}[/]", highlight=False)
        return []


def print_history_queues(limit: int = 10) -> None:
    queues = history_queues(limit)
    if not queues:
        return
    table = Table("queue", "plan", "items", "done", "failed", "left", title="Queues (rpa items show QUEUE)")
    for q in queues:
        table.add_row(
            q["queue"], q["plan"], str(q["items"]), str(q["done"]), str(q["failed"]), str(q["left"])
        )
    console.print(table)


# -- rpa bench items ------------------------------------------------------------------------------
def cmd_bench_items(
    items: int = typer.Option(40, "--items", min=1, max=1000, help="Items in the queue."),
    kills: int = typer.Option(2, "--kills", min=0, max=20, help="SIGKILLs of the runner at random moments."),
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1, max=16, help="Bots at once."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the kill moments."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """A sandbox plan over N items while the runner is SIGKILLed and resumed: duplicates and lost items."""
    from engine.items.bench import bench_items

    result = bench_items(items=items, kills=kills, concurrency=concurrency, seed=seed)
    print_result(result, as_json=as_json, console=console, width=16)
    if result["duplicates"] or result["lost"]:
        raise typer.Exit(1)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    items_app.command("list")(cmd_list)
    items_app.command("show")(cmd_show)
    items_app.command("retry")(cmd_retry)
    app.add_typer(items_app, name="items")
    bench.command("items")(cmd_bench_items)
