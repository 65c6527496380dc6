"""``rpa ui``: the local dashboard (engine/ui)."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

err_console = Console(stderr=True)


def cmd_ui(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; beyond loopback needs TLS and RPA_UI_TOKEN."
    ),
    port: int = typer.Option(8700, "--port", min=0, max=65535, help="Port (0 picks a free one)."),
    plans: list[Path] = typer.Option(
        [], "--plans", help="More folders of plan files for the Bots page (repeatable)."
    ),
    tls_cert: str | None = typer.Option(
        None, "--tls-cert", envvar="RPA_TLS_CERT", help="Server certificate (PEM)."
    ),
    tls_key: str | None = typer.Option(
        None, "--tls-key", envvar="RPA_TLS_KEY", help="Its private key (PEM)."
    ),
) -> None:
    """Serve the dashboard: runs, bots, schedules, plan, secrets. Log in with the printed address."""
    from engine.errors import RpaError
    from engine.logs import setup
    from engine.ui import make_config, serve

    try:
        for folder in plans:
            if not folder.is_dir():
                raise _config_error(
                    f"Ui.start: --plans {folder} is not a folder. Give a folder of plan files."
                )
        # The token is read from the environment only: on a command line every user of the machine sees it.
        config = make_config(
            host,
            port,
            token=os.environ.get("RPA_UI_TOKEN") or None,
            tls_cert=tls_cert,
            tls_key=tls_key,
            plan_dirs=tuple(p.resolve() for p in plans),
        )
        setup(level="INFO")

        def announce(url: str) -> None:
            if config.token_generated:
                typer.echo(f"rpa ui: open {url}?token={config.token}  (this token is shown once)")
            else:
                typer.echo(f"rpa ui: open {url} and log in with RPA_UI_TOKEN")

        serve(config, announce=announce)
    except RpaError as err:
        err_console.print(f"[bold red]error:[/] {err.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _config_error(message: str) -> Exception:
    from engine.errors import ConfigError

    return ConfigError(message)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("ui")(cmd_ui)
