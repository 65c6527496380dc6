"""Model commands: ``rpa models`` (what can plan here), ``rpa doctor`` (load one, answer one decision)
and ``rpa bench models`` (every backend on the same sandbox decisions)."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from engine.config import get_settings

console = Console()

BACKEND_HELP = "local (transformers), llama (llama.cpp in process) or openai (a server). Default: RPA_PLANNER_BACKEND."
MODEL_HELP = "A name from `rpa models`, a .gguf file or a folder. Default: RPA_MODEL, else the embedded model."


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _doctor(backend: str | None, model: str | None, as_json: bool) -> None:
    from engine.planner.catalog import check

    result = check(get_settings(), backend, model)
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    console.print(f"{result.backend} / {result.model}: loaded in {result.load_s:.2f} s, one decision in "
                  f"{result.decision_ms:.0f} ms ({result.prompt_tokens} prompt tokens, {result.tokens_per_s:.0f} "
                  f"tokens/s), RSS {result.rss_mb:.0f} MiB; chose {result.chosen}", highlight=False)


def cmd_models(
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
    check: bool = typer.Option(False, "--check", help="Load the chosen model and answer one decision (rpa doctor)."),
    backend: str | None = typer.Option(None, "--backend", help=BACKEND_HELP),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
) -> None:
    """List the models this machine can plan with, and the backends that load each."""
    from engine.planner.catalog import list_usable

    if check:
        _doctor(backend, model, as_json)
        return
    entries = list_usable(get_settings())
    if as_json:
        sys.stdout.write(json.dumps([e.model_dump(mode="json") for e in entries], indent=2) + "\n")
        return
    table = Table("name", "source", "backends", "size", "note")
    for e in entries:
        table.add_row(e.name, e.source, ", ".join(e.backends) or "-", _size(e.size_bytes), e.note)
    console.print(table)


def cmd_doctor(
    backend: str | None = typer.Option(None, "--backend", help=BACKEND_HELP),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the timings as JSON."),
) -> None:
    """Load the planner's model as configured and answer one decision, with load and decision timings."""
    _doctor(backend, model, as_json)


def cmd_bench_models(
    backends: str = typer.Option("local,llama,openai", "--backends", help="Comma list of local, llama, openai."),
    model: str | None = typer.Option(None, "--model", help="A .gguf (default: the embedded model)."),
    per_page: int = typer.Option(6, "--per-page", min=1, max=30, help="Decisions per sandbox page (7 pages)."),
    seed: int = typer.Option(0, "--seed"),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for every backend (default: as configured)."),
    out: str | None = typer.Option(None, "--out", help="Also write the JSON here."),
) -> None:
    """Every backend on the same sandbox decisions: load time, decision times, tokens/s, RSS, agreement."""
    from engine.bench.models import run_bench

    result = run_bench([b.strip() for b in backends.split(",") if b.strip()], model=model, per_page=per_page,
                       seed=seed, threads=threads)
    text = json.dumps(result, indent=2)
    if out:
        from pathlib import Path

        from engine.errors import ConfigError

        if Path(out).exists():
            raise ConfigError(f"Bench.models: {out} exists. Give another --out (results are never overwritten).")
        Path(out).write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("models")(cmd_models)
    app.command("doctor")(cmd_doctor)
    bench.command("models")(cmd_bench_models)
