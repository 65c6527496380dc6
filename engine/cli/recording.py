"""`rpa record URL --out recordings/NAME.yaml`: do the work once in a browser, get a plan."""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
from loguru import logger

from engine.errors import PlanValidationError

BROWSER_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
)


def check_args(url: str, out: Path, force: bool) -> None:
    """Refuse bad input before a browser opens."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise typer.BadParameter(f"{url!r} is not an http(s) URL", param_hint="URL")
    if out.suffix not in {".yaml", ".yml"}:
        raise typer.BadParameter(f"{out} must end in .yaml", param_hint="--out")
    if out.exists() and not force:
        raise typer.BadParameter(f"{out} exists; choose another name or pass --force", param_hint="--out")


async def _launch(playwright: Any, headed: bool) -> Any:
    from engine.config import get_settings

    settings = get_settings()
    return await playwright.chromium.launch(
        headless=not headed, executable_path=settings.chromium, args=list(BROWSER_ARGS)
    )


async def record(url: str, out: Path, *, name: str, headed: bool, force: bool,
                 sensitive: list[str], describe: bool) -> Path:
    """Open the browser, record until every window is closed or Ctrl+C, save the plan."""
    from playwright.async_api import async_playwright

    from bots.recorder import Recorder
    from engine.plan.yamlio import save_plan

    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    try:
        async with async_playwright() as pw:
            browser = await _launch(pw, headed)
            browser.on("disconnected", lambda _b: done.set())
            context = await browser.new_context(accept_downloads=True)
            page = await context.new_page()
            recorder = await Recorder.attach(page, name=name, sensitive=sensitive)

            def _closed(_page: Any) -> None:
                if all(p.is_closed() for p in context.pages):
                    done.set()

            context.on("page", lambda p: p.on("close", _closed))
            page.on("close", _closed)
            await page.goto(url)
            typer.echo(f"Recording {url}. Do the work, then close the window (or press Ctrl+C).", err=True)
            await done.wait()
            plan = await recorder.stop()
            try:
                await browser.close()
            except Exception:  # already gone when the user closed it
                pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if describe:
        plan = _describe(plan)
    saved = save_plan(plan, out, overwrite=force)
    typer.echo(f"saved {saved}: {len(plan.steps)} steps, params {sorted(plan.params) or '-'}, "
               f"secrets {plan.secrets or '-'}")
    for line in unstored_lines(recorder.unstored):
        typer.echo(line, err=True)
    if plan.description and "NEEDS ATTENTION" in plan.description:
        typer.echo(plan.description, err=True)
    return saved


def unstored_lines(names: list[str]) -> list[str]:
    """One line per secret the recording names but could not store: the command that stores it."""
    return [f"secret {name} was not stored (no OS keyring and RPA_SECRET_KEY is not set); the plan uses "
            f"{{{{ secrets.{name} }}}}. Store it with: rpa secret set {name}" for name in names]


def _describe(plan: Any) -> Any:
    """Name and describe the params and the skill from the recorded steps (engine.skills.describe);
    the recording is saved either way."""
    from engine.skills.describe import describe_plan

    try:
        return describe_plan(plan)
    except Exception as err:  # a description is a nicety, never a reason to lose a recording
        logger.warning("recorder: describe failed: {}", err)
        return plan


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("record")
    def record_cmd(
        url: str = typer.Argument(..., help="Where to start, e.g. http://127.0.0.1:8000/"),
        out: Path = typer.Option(..., "--out", "-o", help="Plan file to write, e.g. recordings/invoices.yaml"),
        headed: bool = typer.Option(True, "--headed/--headless", help="Visible window (default)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing file."),
        sensitive: list[str] = typer.Option([], "--sensitive", help="CSS selector of a field to treat as a secret."),
        describe: bool = typer.Option(False, "--describe", help="Write the skill's description and give its params names and descriptions from the steps."),
        name: str | None = typer.Option(None, "--name", help="Plan name (default: file name)."),
    ) -> None:
        """Record a bot: do the work once in the browser; closing the window saves the plan."""
        check_args(url, out, force)
        try:
            asyncio.run(record(url, out, name=name or out.stem, headed=headed, force=force,
                               sensitive=sensitive, describe=describe))
        except ValueError as err:
            if "nothing was recorded" in str(err):
                raise PlanValidationError(str(out), "nothing was recorded; nothing saved") from None
            raise
