"""Planner commands: ``rpa plan`` and ``rpa bench miniwob``."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from engine.config import get_settings
from engine.errors import ConfigError

console = Console()


def _params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"Plan.params: expected KEY=VALUE, got {pair!r}. Pass --param name=value.")
        out[key.strip()] = value
    return out


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def cmd_plan(
    instruction: str = typer.Argument(..., help="What to do, e.g. 'create a group named Auditors'."),
    url: str = typer.Option(..., "--url", help="The page to start on."),
    param: list[str] = typer.Option([], "--param", "-p", help="KEY=VALUE; the plan refers to it as {{ params.KEY }}."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan and planning figures as JSON."),
    model: str | None = typer.Option(None, "--model", help="A model name under RPA_HOME/models, a folder or a .gguf."),
    out: str | None = typer.Option(None, "--out", help="Also save the plan as YAML here (never overwrites)."),
) -> None:
    """Plan an instruction by doing it once on the page, then print the plan (stored for replays)."""
    import os

    from engine.cli.core import _logging
    from engine.loop import JobSpec, run_batch
    from engine.plan import dump_plan, save_plan

    if model:
        os.environ["RPA_MODEL"] = model
    _logging()
    batch = run_batch([JobSpec(instruction=instruction, url=url, params=_params(param))])
    entry = batch.entries[0]
    if entry.plan is not None and entry.ok and out:
        save_plan(entry.plan, out)
    if as_json:
        _print_json({"status": entry.status.value, "error": entry.error,
                     "error_kind": entry.error_kind.value if entry.error_kind else None,
                     "plan": entry.plan.model_dump(mode="json") if entry.plan else None, "llm_calls": entry.llm_calls,
                     "from_cache": entry.from_cache, "planning_seconds": round(entry.planning_seconds, 2),
                     "replay_seconds": round(entry.replay_seconds, 2), "report": batch.report})
    else:
        if entry.plan is not None:
            sys.stdout.write(dump_plan(entry.plan))
        note = "from the plan cache" if entry.from_cache else f"{entry.llm_calls} model call(s)"
        console.print(f"[dim]# {note}, planning {entry.planning_seconds:.1f} s[/]", highlight=False)
        if not entry.ok:
            console.print(f"[bold red]error:[/] {entry.error}", highlight=False)
    raise typer.Exit(0 if entry.ok else 1)


def cmd_bench_instructions(
    suite: str = typer.Option(..., "--suite", help="A suite YAML file, or a shipped one: sandbox, django_admin."),
    split: str | None = typer.Option(None, "--split", help="Only the cases of one split: tuned, held_out, held_out_2, tuned_2, tuned_3, tuned_5, tuned_6, held_out_3, held_out_4, held_out_5 or held_out_6."),
    case: list[str] = typer.Option([], "--case", help="Only these case ids (repeatable)."),
    no_replay: bool = typer.Option(False, "--no-replay", help="Skip the replay of each planned case."),
    model: str | None = typer.Option(None, "--model", help="The planner's model."),
    backend: str | None = typer.Option(None, "--backend", help="local (default), llama or openai."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Goal-level instructions planned and replayed on a real app, checked against its own state."""
    from engine.bench.instructions import run_suite
    from engine.cli.core import _logging

    from engine.bench.instructions import SPLITS

    if split is not None and split not in SPLITS:
        raise ConfigError(f"Bench.instructions: --split must be one of {', '.join(SPLITS)}, got {split!r}.")
    _logging()
    result = run_suite(suite, split=split, only=case or None, replay=not no_replay, model=model, backend=backend)
    if as_json:
        _print_json(result)
        return
    table = Table("case", "split", "status", "LLM calls", "planning s", "replay s", "why")
    for r in result["results"]:
        table.add_row(r["id"], r["split"], r["status"], str(r["llm_calls"]), f"{r['planning_s']:.1f}",
                      f"{r['replay_s']:.1f}" if r["replay_s"] is not None else "-", (r["why"] or "")[:60])
    console.print(table)
    for name, s in result["splits"].items():
        console.print(f"{name}: done {s['done']}/{s['cases']}, false successes {s['false_successes']}, "
                      f"median decision {s['p50_decision_s']} s", highlight=False)


def cmd_bench_miniwob(
    tasks: str = typer.Option("../shared/miniwob-dev.txt", "--tasks", help="Comma-separated tasks or a file."),
    seeds: str = typer.Option("3", "--seeds", help="A count (3), a list (1,2,3) or a range (10-19)."),
    backend: str | None = typer.Option(None, "--backend", help="local (default) or openai."),
    model: str | None = typer.Option(None, "--model"),
    baseline: str | None = typer.Option(None, "--baseline", help="random: a random-click agent on the same episodes."),
    max_steps: int = typer.Option(10, "--max-steps", min=1, max=50),
    episode_s: float = typer.Option(120.0, "--episode-time", help="The page's episode time limit (MiniWoB's is 10 s)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """MiniWoB++ success rate of the planner (and of a random baseline)."""
    from engine.bench.miniwob import parse_seeds, parse_tasks, run_miniwob

    result = asyncio.run(run_miniwob(parse_tasks(tasks), parse_seeds(seeds), settings=get_settings(), backend=backend,
                                     model=model, baseline=baseline, max_steps=max_steps, episode_s=episode_s))
    if as_json:
        _print_json(result)
        return
    table = Table("task", "success", "episodes", *(["random"] if baseline else []))
    for name, row in result["tasks"].items():
        extra = [f"{result['baseline']['tasks'][name]['success']:.2f}"] if baseline else []
        table.add_row(name, f"{row['success']:.2f}", str(row["episodes"]), *extra)
    console.print(table)
    console.print(f"mean success {result['mean_success']:.3f}"
                  + (f" (random {result['baseline']['mean_success']:.3f})" if baseline else "")
                  + f", invalid actions {result['invalid_action_rate']}, median decision {result['p50_decision_s']} s, "
                  f"model {result['model']}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("plan")(cmd_plan)
    bench.command("miniwob")(cmd_bench_miniwob)
    bench.command("instructions")(cmd_bench_instructions)
