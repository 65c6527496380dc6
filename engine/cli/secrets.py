"""`rpa secret set|list|rm`."""
from __future__ import annotations

import getpass
import sys

import typer

from engine.errors import SecretError


def register(app: typer.Typer, bench: typer.Typer) -> None:
    group = typer.Typer(help="Encrypted secrets used as {{ secrets.NAME }} in plans.", no_args_is_help=True)
    app.add_typer(group, name="secret")

    def _fail(err: SecretError) -> None:
        typer.echo(err.message, err=True)
        raise typer.Exit(1)

    @group.command("set")
    def set_(name: str = typer.Argument(..., help="Secret name, e.g. LOGIN_PASSWORD")) -> None:
        """Store a secret (read without echo, or from stdin when piped)."""
        from engine.secrets import SecretStore

        if sys.stdin.isatty():
            value = getpass.getpass(f"Value for {name}: ")
        else:
            value = sys.stdin.read().rstrip("\r\n")
        if not value:
            typer.echo("secret set: empty value. Type a value or pipe one on stdin.", err=True)
            raise typer.Exit(1)
        try:
            SecretStore().set(name, value)
        except SecretError as err:
            _fail(err)
        typer.echo(f"stored {name}")

    @group.command("list")
    def list_() -> None:
        """Print secret names (never values)."""
        from engine.secrets import SecretStore

        try:
            for name in SecretStore().list():
                typer.echo(name)
        except SecretError as err:
            _fail(err)

    @group.command("rm")
    def rm(name: str) -> None:
        """Remove a secret."""
        from engine.secrets import SecretStore

        try:
            SecretStore().remove(name)
        except SecretError as err:
            _fail(err)
        typer.echo(f"removed {name}")
