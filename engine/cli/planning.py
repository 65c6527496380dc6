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
    instruction: str = typer.Argument(..., help="What to do, e.g. 'Enter \"alice\" as username ... click \"Sign in\"'."),
    url: str = typer.Option(..., "--url", help="The page to start on."),
    param: list[str] = typer.Option([], "--param", "-p", help="KEY=VALUE; the plan refers to it as {{ params.KEY }}."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan and planning figures as JSON."),
    model: str | None = typer.Option(None, "--model", help="A model name under RPA_HOME/models, a folder or a .gguf."),
    backend: str | None = typer.Option(None, "--backend", help="local (default) or openai."),
    max_steps: int = typer.Option(12, "--max-steps", min=1, max=50),
    out: str | None = typer.Option(None, "--out", help="Also save the plan as YAML here (never overwrites)."),
) -> None:
    """Plan an instruction on a page (in a private browser) and print the plan."""
    from engine.plan import dump_plan, save_plan
    from engine.planner import get_planner

    result = get_planner(get_settings(), backend=backend, model=model).plan(
        instruction, url=url, params=_params(param), max_steps=max_steps)
    if out:
        save_plan(result.plan, out)
    if as_json:
        _print_json({"plan": result.plan.model_dump(mode="json"), "llm_calls": result.llm_calls,
                     "from_cache": result.from_cache, "seconds": round(result.seconds, 2), "missing": result.missing,
                     "decisions": len(result.decisions)})
        return
    sys.stdout.write(dump_plan(result.plan))
    note = "from the plan cache" if result.from_cache else f"{result.llm_calls} model call(s)"
    console.print(f"[dim]# {note}, {result.seconds:.1f} s[/]", highlight=False)
    if result.missing:
        console.print(f"[yellow]Not found on the page: {'; '.join(result.missing)}. "
                      "Say it differently or give the missing value.[/]", highlight=False)


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
