"""Recordings become examples by replaying them on the bundled sandbox, observing before each step.

A recording (a plan YAML) stores locators, not the page it was recorded on. Replaying it against
``bots.sandbox`` (on 127.0.0.1, nothing leaves the machine) gives, for every step, the observation
the planner would have seen and the element the step acts on; the example is then exactly what the
planner would have been asked, with the step's action as the answer. Only recordings of the sandbox
(plans with a ``base_url`` parameter) are replayed; others are skipped and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loguru import logger

from engine.config import Settings
from engine.training.examples import VERBS, Collected, Example

# The sandbox's published demo password (bots/sandbox/README.md): replay needs no user secret.
SANDBOX_SECRETS = {"password": "wonderland"}
_INDEX_JS = """(t, sels) => sels.findIndex(s => { try { return document.querySelector(s) === t; } catch (e) { return false; } })"""


def _shown(obs: Any, el: Any, step: Any, instruction: str, ledger: Any) -> tuple[str, str]:
    """(page text, answer) as the planner builds them: the best actions the page allows for the
    instruction, with the recorded step's own action among them."""
    from engine.planner.actions import Choice, choices
    from engine.planner.agent import TOP_K, page_text
    from engine.planner.prompts import format_action

    verb = {"extract": "read"}.get(step.action.value, step.action.value)
    value = step.value if verb in ("fill", "select", "press") else None
    label = el.name or el.label or el.near or el.placeholder or el.hint
    answer = format_action(verb, el.ref, label, value)
    others = [c for c in choices(ledger.task, obs, ledger) if c.ref != el.ref and c.ref][: TOP_K - 1]
    own = Choice(verb=verb, ref=el.ref, value=value, answer=answer)  # type: ignore[arg-type]
    return page_text(obs, [own, *others], ledger.task), answer


async def _replay_one(browser: Any, path: Path, base_url: str, settings: Settings) -> tuple[list[Example], str | None]:
    """Replay through the bots' own executor (a session), observing before each step."""
    import tempfile

    from bots.browser import new_context
    from bots.locate import resolve
    from bots.observe import observe
    from bots.runner import Bot, RunContext
    from engine.inputs import secret_resolver
    from engine.plan import Action, load_plan, topological_order
    from engine.plan.template import resolve_params
    from engine.planner.ledger import Ledger
    from engine.planner.task import read_task

    plan = load_plan(path)
    if "base_url" not in plan.params:
        return [], "not a sandbox recording"
    params = resolve_params(plan, {"base_url": base_url})
    instruction = plan.instruction or plan.description or plan.name
    ledger = Ledger(read_task(instruction))
    out: list[Example] = []
    history: list[str] = []
    context = await new_context(browser)
    with tempfile.TemporaryDirectory(prefix="rpa-train-rec-") as tmp:
        ctx = RunContext(run_id="train", run_dir=Path(tmp), params=params,
                         secret=secret_resolver(settings, SANDBOX_SECRETS), screenshots=False, trace_on_failure=False,
                         default_timeout_ms=settings.step_timeout_ms)
        session = await Bot(context).start(plan, ctx)
        try:
            for step in [plan.step(sid) for sid in topological_order(plan)]:
                if step.action.value in VERBS and step.target is not None:
                    obs = await observe(session.page)
                    found = await resolve(session.page, step.target, step_id=step.id, timeout_ms=5000,
                                          render=session.render)
                    controls = [e for e in obs.elements if e.kind == "control"]
                    idx = await found.locator.evaluate(_INDEX_JS, [e.css for e in controls])
                    if idx < 0:
                        return out, f"step {step.id}: element not in the observation"
                    shown, answer = _shown(obs, controls[idx], step, instruction, ledger)
                    out.append(Example.make(instruction, shown, answer, "recordings", goal=step.description or "",
                                            history=history))
                    history = [*history, answer]
                if step.action in (Action.extract, Action.wait_for, Action.assert_, Action.download):
                    continue  # reading steps change nothing the next steps need
                if not (await session.perform(step)).ok:
                    return out, f"replay failed at step {step.id} ({session.outcome.error or ''})"[:120]
        except Exception as err:  # noqa: BLE001 - one broken recording is skipped, the rest still count
            msg = getattr(err, "message", None) or str(err).splitlines()[0]
            return out, f"replay failed ({msg[:100]})"
        finally:
            await session.finish()
            await context.close()
    return out, None


async def from_recordings(folder: str | Path, settings: Settings) -> Collected:
    """Every step of every sandbox recording in ``folder``, paired with its observation."""
    from bots.browser import BrowserConfig, launch
    from bots.sandbox import start_sandbox
    from engine.errors import ConfigError

    folder = Path(folder)
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    if not files:
        raise ConfigError(f"Training.recordings: no *.yaml recordings in {folder}.")
    out = Collected()
    with start_sandbox(port=0) as site:
        async with launch(BrowserConfig()) as browser:
            for path in files:
                try:
                    examples, why = await _replay_one(browser, path, site.url, settings)
                except Exception as err:  # unreadable plan: say which, keep going
                    examples, why = [], f"cannot load ({getattr(err, 'message', str(err))[:80]})"
                out.examples += examples
                if why:
                    out.skipped[f"recordings: {why}"] += 1
                    logger.info("train: recording {}: {} ({} step(s) kept)", path.name, why, len(examples))
    return out
