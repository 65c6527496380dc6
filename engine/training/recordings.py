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


def _shown(obs: Any, el: Any, step: Any, instruction: str) -> tuple[str, str]:
    """(page text, answer) as the planner builds them: the candidates for this step's goal, the
    chosen element among them, then text lines sharing the goal's words."""
    from engine.planner.candidates import EpisodeState, candidates
    from engine.planner.models import Candidate, Goal
    from engine.planner.planner import TOP_K, Planner
    from engine.planner.prompts import format_action

    verb = step.action.value
    value = step.value if verb in ("fill", "select", "press") else None
    label = el.name or el.label or el.near or el.placeholder or el.hint
    answer = format_action(verb, el.ref, label, value)
    chosen = Candidate(verb=verb, ref=el.ref, value=value, answer=answer)
    text = step.description or f"{verb} {label}"
    goal = Goal(verb=verb if verb != "press" else "click", text=text, target=label or text, value=value)
    try:
        cands = [c for c in candidates(goal, obs, instruction, EpisodeState()) if c.ref != el.ref]
    except Exception as err:  # the candidate generator is the planner's; a change there must not stop training
        logger.debug("train: candidates unavailable ({}); showing the chosen element only", err)
        cands = []
    shown = [chosen, *cands[: TOP_K - 1]]
    page = Planner.page_text(None, obs, shown, goal)  # type: ignore[arg-type]  # uses no state of the planner
    return page, answer


async def _replay_one(browser: Any, path: Path, base_url: str, settings: Settings) -> tuple[list[Example], str | None]:
    from bots.observe import observe
    from engine.plan import Action, load_plan, topological_order
    from engine.planner.act import perform, resolve
    from engine.runs import secret_resolver

    plan = load_plan(path)
    if "base_url" not in plan.params:
        return [], "not a sandbox recording"
    params = {k: (p.default if p.default is not None else "") for k, p in plan.params.items()}
    params["base_url"] = base_url
    secret = secret_resolver(settings, SANDBOX_SECRETS)
    instruction = plan.instruction or plan.description or plan.name
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(settings.step_timeout_ms)
    out: list[Example] = []
    history: list[str] = []
    try:
        for step in [plan.step(sid) for sid in topological_order(plan)]:
            if step.action.value in VERBS and step.target is not None:
                obs = await observe(page)
                loc = await resolve(page, step.target, step.id)
                controls = [e for e in obs.elements if e.kind == "control"]
                idx = await loc.evaluate(_INDEX_JS, [e.css for e in controls])
                if idx < 0:
                    return out, f"step {step.id}: element not in the observation"
                shown, answer = _shown(obs, controls[idx], step, instruction)
                out.append(Example.make(instruction, shown, answer, "recordings", goal=step.description or "",
                                        history=history))
                history = [*history, answer]
            if step.action in (Action.extract, Action.wait_for, Action.assert_, Action.download):
                continue  # reading steps change nothing the next steps need
            await perform(page, step, params, secret)
            await page.wait_for_load_state("domcontentloaded")
    except Exception as err:  # one broken recording is skipped, the rest still count
        msg = getattr(err, "message", None) or str(err).splitlines()[0]
        return out, f"replay failed ({msg[:100]})"
    finally:
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
