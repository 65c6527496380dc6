"""``rpa demo``: the whole loop on the bundled sandbox.

An instruction planned by the embedded model plus the shipped recordings become one batch; the
scheduler orders it, three bots run it, and the batch report shows the timeline.
"""

from __future__ import annotations

import importlib.util
import json as _json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from engine.config import Settings, get_settings
from engine.errors import ConfigError
from engine.loop.loop import run_batch
from engine.loop.models import BatchOutcome, JobSpec
from engine.plan import load_plan

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "recordings"
DEMO_SECRETS = {"password": "wonderland", "sandbox_password": "wonderland"}
DEMO_INSTRUCTION = "Log in as alice"
DEMO_BOTS = 3


def demo_jobs(url: str, *, with_instruction: bool) -> list[JobSpec]:
    files = sorted(p for p in RECORDINGS.glob("*.yaml") if ".v" not in p.stem and "overhead" not in p.name)
    if not files:
        raise ConfigError(f"Demo.start: no recordings in {RECORDINGS}. Restore the repository's recordings/.")
    jobs = []
    for path in files:
        plan = load_plan(path)
        params = {n: url for n in plan.params if n in ("base_url", "url", "sandbox_url")}
        jobs.append(JobSpec(plan=plan, plan_path=str(path), params=params))
    if with_instruction:
        jobs.insert(0, JobSpec(instruction=DEMO_INSTRUCTION, url=url + "/"))
    return jobs


def _table(batch: BatchOutcome, console: Console) -> None:
    table = Table("job", "status", "attempts", "LLM calls", "seconds", "error", title="Demo batch")
    for e in batch.entries:
        style = "green" if e.ok else "red"
        table.add_row(e.label, f"[{style}]{e.status.value}[/]", str(e.attempts), str(e.llm_calls),
                      f"{e.seconds:.2f}", (e.error or "")[:80])
    console.print(table)
    console.print(f"scheduled by {batch.solver}; {batch.succeeded} of {len(batch.entries)} jobs succeeded "
                  f"with {DEMO_BOTS} bots in {batch.seconds:.1f}s; LLM calls {batch.llm_calls}", highlight=False)
    if batch.report:
        console.print(f"report: {batch.report}", highlight=False)


def run_demo(settings: Settings | None = None, *, json: bool = False) -> int:
    from bots.sandbox import start_sandbox

    settings = (settings or get_settings()).ensure()
    console = Console()
    with_instruction = importlib.util.find_spec("engine.planner") is not None
    with start_sandbox(port=0) as site:
        if not json:
            console.print(f"Sandbox site: {site.url}", highlight=False)
            if not with_instruction:
                console.print("[yellow]No planner in this build: running the recordings only.[/]")
        batch = run_batch(demo_jobs(site.url, with_instruction=with_instruction), concurrency=DEMO_BOTS,
                          settings=settings, secrets=DEMO_SECRETS)
    if json:
        data: dict[str, Any] = {**batch.summary_json(), "mode": "loop", "bots": DEMO_BOTS, "solver": batch.solver}
        sys.stdout.write(_json.dumps(data, indent=2, default=str) + "\n")
    else:
        _table(batch, console)
    return 0 if batch.ok else 1
