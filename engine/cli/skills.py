"""`rpa skills list|show|route`, `rpa bench skills`, `rpa mcp`, and the routing step of `rpa run --instruction`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)
DEFAULT_SUITE = Path(__file__).resolve().parents[1] / "bench" / "suites" / "skills.yaml"


def _settings() -> Any:
    from engine.config import get_settings

    return get_settings().ensure()


def _library(folders: list[Path] | None, *, only: bool = False) -> Any:
    from engine.skills import load_library

    return load_library(_settings(), folders or None, defaults=not (only and folders))


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


LIBRARY_OPT = typer.Option(None, "--library", "-l", help="Another folder of skills (repeatable).")


def cmd_list(library: list[Path] = LIBRARY_OPT,
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the skills: recordings/, RPA_HOME/skills, RPA_SKILLS folders and --library."""
    lib = _library(library)
    if as_json:
        _json({"skills": [s.summary_json() for s in lib.skills], "folders": [str(f) for f in lib.folders],
               "errors": lib.errors})
        return
    table = Table("skill", "params", "secrets", "description")
    for s in lib.skills:
        table.add_row(s.name, ", ".join(s.params) or "-", ", ".join(s.secrets) or "-", s.description)
    console.print(table if lib.skills else "No skills: record one with `rpa record URL --out ~/.local/share/rpa/skills/NAME.yaml`.")
    for line in lib.errors:
        err_console.print(f"[yellow]skipped:[/] {line}", highlight=False, soft_wrap=True)


def cmd_show(name: str = typer.Argument(..., help="A skill name (see `rpa skills list`)."),
             library: list[Path] = LIBRARY_OPT,
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show one skill: where it is, what it does, its params and secrets (names only)."""
    skill = _library(library).get(name)
    if as_json:
        _json(skill.summary_json())
        return
    console.print(f"[bold]{skill.name}[/]  {skill.path}  ({len(skill.plan.steps)} steps)", highlight=False)
    if skill.description:
        console.print(skill.description, highlight=False)
    table = Table("param", "default", "type", "choices", "description")
    for k, p in skill.plan.params.items():
        table.add_row(k, p.default if p.default is not None else "[red]required[/]", p.type or "",
                      ", ".join(p.choices or []), p.description or "")
    console.print(table)
    if skill.secrets:
        console.print(f"secrets: {', '.join(skill.secrets)}", highlight=False)


def cmd_route(instruction: str = typer.Argument(..., help="What to do, in words."),
              library: list[Path] = LIBRARY_OPT,
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Route an instruction without running anything: which skill(s), which params, and why."""
    from engine.skills import route_instruction

    routing = route_instruction(instruction, _settings(), library=_library(library))
    if as_json:
        _json(routing.summary_json())
    else:
        console.print(routing.reason, highlight=False)
    raise typer.Exit(2 if routing.status.value == "ambiguous" else 0)


def route_for_run(instruction: str, params: dict[str, str], url: str | None, *, quiet: bool) -> Any:
    """The routing step of `rpa run --instruction`: prints the choice and why in one line; an ambiguous
    instruction prints the best candidates and exits 2; None means the open-world planner takes it."""
    from engine.skills import route_instruction
    from engine.skills.run import AmbiguousRoutingError, check_routing, with_start_url

    routing = route_instruction(instruction, _settings(), params=params)
    try:
        routed = check_routing(routing, url=url)
        if routed is not None:
            with_start_url(routed, url, params)
    except AmbiguousRoutingError:
        err_console.print(f"ambiguous: {routing.reason.removeprefix('ambiguous: ')}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if not quiet:
        line = routing.reason if routed is not None else f"{routing.reason}: planning in the open at {url}"
        err_console.print(f"[bold]skills:[/] {line}", highlight=False, soft_wrap=True)
    return routed


def cmd_bench(
    library: list[Path] = typer.Option(None, "--library", "-l", help="Skill folders (default: recordings/)."),
    suite: Path = typer.Option(DEFAULT_SUITE, "--suite", help="YAML list of {instruction, skill, params, split}."),
    split: list[str] = typer.Option(None, "--split", help="Only these splits (repeatable), e.g. tuned."),
    details: bool = typer.Option(False, "--details", help="Add every case's decision."),
    no_model: bool = typer.Option(False, "--no-model", help="Words only: never ask the model."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Route every case of a suite (nothing runs): skill and param accuracy, wrong-skill runs, per split."""
    from engine.bench.skills import load_suite, run_skills_bench
    from engine.cli.output import print_result
    from engine.skills import Router, load_library
    from engine.skills.library import PROJECT_RECORDINGS

    settings = _settings()
    lib = load_library(settings, library or [PROJECT_RECORDINGS], defaults=False)
    backend = None
    if not no_model:
        from engine.skills import _backend

        backend = _backend(settings)
        backend.load()  # loading is not routing: the model loads before the clock starts
    result = run_skills_bench(Router(lib, backend), load_suite(suite), splits=split or None, details=details)
    result = {"suite": str(suite), "library": [str(f) for f in lib.folders],
              "model": getattr(backend, "name", None), **result}
    print_result(result, as_json=as_json, console=console)


def cmd_mcp(library: list[Path] = LIBRARY_OPT) -> None:
    """Serve the skills over MCP on stdio: one tool per skill, plus run_instruction, list_runs, get_run."""
    from engine.skills.mcp import serve

    serve(library or None)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    group = typer.Typer(help="Your recorded bots as skills that instructions route to.", no_args_is_help=True)
    app.add_typer(group, name="skills")
    group.command("list")(cmd_list)
    group.command("show")(cmd_show)
    group.command("route")(cmd_route)
    app.command("mcp")(cmd_mcp)
    bench.command("skills")(cmd_bench)
