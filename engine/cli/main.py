"""The ``rpa`` command. Each area registers its commands from its own module.

A command module defines ``register(app, bench)``: ``app`` is the root typer app, ``bench`` the
``rpa bench`` group. Errors that are ours (``RpaError``) print one line and exit 1; tracebacks
only with ``--debug``.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from rich.console import Console

from engine.errors import RpaError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Offline RPA bots: plan, schedule, run and record browser work.")
bench = typer.Typer(no_args_is_help=True, help="Benchmarks that print JSON.")
app.add_typer(bench, name="bench")
err_console = Console(stderr=True)

# One module per area, each with ``register(app, bench)``.
COMMAND_MODULES = [
    "engine.cli.core",       # run, validate, history, show, schema, sandbox, bench overhead
    "engine.cli.demo",       # demo
    "engine.cli.planning",   # plan, bench miniwob
    "engine.cli.secrets",    # secret set/list/rm
    "engine.cli.recording",  # record
    "engine.cli.jobs",       # schedule ..., daemon, bench soak
    "engine.cli.cluster",    # worker, bench cluster
    "engine.cli.training",   # train, export-dataset
    "engine.cli.models",     # models, doctor, bench models
    "engine.cli.scheduling", # bench psplib
    "engine.cli.looping",    # bench loop
    "engine.cli.items",      # items list/show/retry, bench items (rpa run --items hands over here)
    "engine.cli.ui",         # ui (the local dashboard)
    "engine.cli.skills",     # skills list/show/route, mcp, bench skills
]


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks.")) -> None:
    if debug:
        os.environ["RPA_DEBUG"] = "1"


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app, bench)


_register()


def run() -> None:
    """Entry point: one clear line for our errors, a non-zero exit."""
    try:
        app()
    except RpaError as err:
        if os.environ.get("RPA_DEBUG") == "1":
            raise
        err_console.print(f"[bold red]error:[/] {err.message}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    run()
