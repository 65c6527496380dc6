"""``rpa demo``: the whole loop on the bundled sandbox.

An instruction the planner has to do on its own (it asks the model at each step) plus the shipped
recordings become one batch; the scheduler orders it, three bots run it, and the batch report
shows the timeline.
"""

from __future__ import annotations

import json as _json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from engine.errors import ConfigError

REPO_RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"
DEMO_SECRETS = {"password": "wonderland", "sandbox_password": "wonderland"}
DEMO_INSTRUCTION = "Log in as alice"
DEMO_BOTS = 3
console = Console()


def demo_recordings() -> list[Path]:
    """The shipped example recordings (benchmark flows and repaired versions left out)."""
    return sorted(p for p in REPO_RECORDINGS.glob("*.yaml") if "overhead" not in p.name and ".v" not in p.stem)


def demo_jobs(url: str) -> list[Any]:
    from engine.loop import JobSpec
    from engine.plan import load_plan

    files = demo_recordings()
    if not files:
        raise ConfigError(f"Demo.start: no recordings in {REPO_RECORDINGS}. Restore the repository's recordings/.")
    jobs = [JobSpec(instruction=DEMO_INSTRUCTION, url=url + "/login")]
    for path in files:
        plan = load_plan(path)
        params = {n: url for n in plan.params if n in ("base_url", "url", "sandbox_url")}
        jobs.append(JobSpec(plan=plan, plan_path=str(path), params=params))
    return jobs


def _table(batch: Any) -> None:
    table = Table("job", "status", "attempts", "LLM calls", "planning s", "replay s", "error", title="Demo batch")
    for e in batch.entries:
        style = "green" if e.ok else "red"
        table.add_row(e.label, f"[{style}]{e.status.value}[/]", str(e.attempts), str(e.llm_calls),
                      f"{e.planning_seconds:.2f}" if e.planned else "-", f"{e.replay_seconds:.2f}",
                      (e.error or "")[:80])
    console.print(table)
    console.print(f"scheduled by {batch.solver}; {batch.succeeded} of {len(batch.entries)} jobs succeeded "
                  f"with {DEMO_BOTS} bots in {batch.seconds:.1f}s; LLM calls {batch.llm_calls}", highlight=False)
    if batch.report:
        console.print(f"report: {batch.report}", highlight=False)


def cmd_demo(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Start the sandbox and run an instruction and the shipped recordings through the loop."""
    from bots.sandbox import start_sandbox
    from engine.cli.core import _logging
    from engine.loop import run_batch

    _logging()
    with start_sandbox(port=0) as site:
        if not as_json:
            console.print(f"Sandbox site: {site.url}", highlight=False)
        batch = run_batch(demo_jobs(site.url), concurrency=DEMO_BOTS, secrets=DEMO_SECRETS)
    if as_json:
        data: dict[str, Any] = {**batch.summary_json(), "mode": "loop", "bots": DEMO_BOTS, "solver": batch.solver}
        sys.stdout.write(_json.dumps(data, indent=2, default=str) + "\n")
    else:
        _table(batch)
    raise typer.Exit(0 if batch.ok else 1)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("demo")(cmd_demo)
