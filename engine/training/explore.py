"""``rpa train --explore TASKS --rounds K``: the planner practises, keeps what worked, trains, repeats.

Each round runs the current model with sampling (every decision asks the model) on MiniWoB++ task
pages, seeds ``EXPLORE_SEED0`` and up (the bench's evaluation seeds are small numbers, so training
never sees an evaluation episode when the bench uses seeds below ``EXPLORE_SEED0``). The decisions
of episodes that succeeded become examples; the round's model is trained from the previous one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field

from engine.config import Settings
from engine.errors import ConfigError
from engine.training.examples import Example, masked, register_known_secrets
from engine.training.trainer import Progress, TrainConfig, TrainResult, train, write_jsonl

EXPLORE_SEED0 = 100_000


class RoundResult(BaseModel):
    round: int
    model: str
    episodes: int
    succeeded: int
    examples: int
    trained: TrainResult | None = None
    seconds: dict[str, float] = Field(default_factory=dict)
    succeeded_by_task: dict[str, int] = Field(default_factory=dict)
    dataset: str | None = Field(None, description="The round's examples (chat JSON lines) under RPA_HOME/training.")


async def _miniwob(planner: Any, context: Any, task: str, seed: int, max_steps: int, temperature: float,
                  run_dir: Path) -> tuple[bool, Any]:
    from engine.envs.miniwob import planner_episode

    ep, res = await planner_episode(planner, context, task, seed, max_steps=max_steps, episode_s=120.0,
                                    run_dir=run_dir, sample=True, seed_offset=seed, temperature=temperature)
    return ep.success, res


async def _sandbox(planner: Any, context: Any, task: str, seed: int, max_steps: int, temperature: float,
                   sites: dict[bool, Any], run_dir: Path) -> tuple[bool, Any]:
    from bots.runner import Bot, RunContext
    from engine.plan import Action, Plan, Step
    from engine.training.practice import SANDBOX_PASSWORD, sandbox_episode

    ep = sandbox_episode(task, seed)

    def secret(name: str) -> str:
        if name != "password":
            raise ConfigError(f"Training.explore: the sandbox has no secret '{name}'.")
        return SANDBOX_PASSWORD

    url = sites[ep.drift].url + ep.path
    stub = Plan(name=task, allowed_domains=["127.0.0.1"], steps=[Step(id="s1", action=Action.goto, value=url)])
    ctx = RunContext(run_id=run_dir.name, run_dir=run_dir, params={}, secret=secret, default_timeout_ms=5000,
                     screenshots=False, trace_on_failure=False)
    session = await Bot(context).start(stub, ctx)
    res = await planner.act(session, ep.instruction, url=url, max_steps=max_steps, sample=True, seed=seed,
                            temperature=temperature)
    outcome = await session.finish()
    if res.error is not None or not outcome.ok:
        return False, res
    await session.page.wait_for_load_state()
    return await ep.check(session.page), res


async def _episodes(settings: Settings, model: str | None, tasks: list[str], seeds: list[int], max_steps: int,
                    temperature: float, on_episode: Callable[[str, bool], None] | None = None,
                    ) -> tuple[list[Example], int, int]:
    import tempfile

    from bots.browser import BrowserConfig, launch, new_context
    from bots.sandbox import start_sandbox
    from engine.logs import register_secret
    from engine.planner import get_planner
    from engine.training.practice import SANDBOX_PASSWORD, is_sandbox

    planner = get_planner(settings, model=model)
    examples: list[Example] = []
    ok = total = 0
    sites: dict[bool, Any] = {}
    if any(is_sandbox(t) for t in tasks):
        register_secret(SANDBOX_PASSWORD)  # masked wherever it could show up
        sites = {False: start_sandbox(port=0, slow=(0.0, 0.0)), True: start_sandbox(port=0, drift=True, slow=(0.0, 0.0))}
    config = BrowserConfig(default_timeout_ms=5000)
    try:
        async with launch(config) as browser:
            for task in tasks:
                for seed in seeds:
                    context = await new_context(browser, config)
                    try:
                        with tempfile.TemporaryDirectory(prefix="rpa-explore-") as tmp:
                            if is_sandbox(task):
                                good, res = await _sandbox(planner, context, task, seed, max_steps, temperature,
                                                           sites, Path(tmp))
                            else:
                                good, res = await _miniwob(planner, context, task, seed, max_steps, temperature,
                                                           Path(tmp))
                    except Exception as err:  # noqa: BLE001 - one broken episode does not stop the round
                        logger.info("explore: {} seed {} failed to run: {}", task, seed, err)
                        good, res = False, None
                    finally:
                        await context.close()
                    total += 1
                    if good and res is not None:
                        ok += 1
                        examples += [Example.make(d.instruction, d.observation, d.answer, "explore", goal=d.goal,
                                                  history=d.history, alternatives=d.candidates)
                                     for d in res.decisions if d.outcome == "performed" or d.outcome == "done"]
                    if on_episode is not None:
                        on_episode(task, good)
    finally:
        for site in sites.values():
            site.stop()
    return examples, ok, total


def explore(settings: Settings, tasks: list[str], *, name: str, rounds: int = 1, episodes_per_task: int = 10,
            base: str | None = None, config: TrainConfig | None = None, max_steps: int = 10,
            temperature: float = 1.0, on_progress: Callable[[Progress], None] | None = None,
            on_round: Callable[[RoundResult], None] | None = None,
            on_episode: Callable[[str, bool], None] | None = None) -> list[RoundResult]:
    """K rounds of practice and training; round r's model is ``NAME-rR`` and the last one is ``NAME``."""
    import time

    if rounds < 1:
        raise ConfigError("Training.explore: --rounds must be at least 1.")
    register_known_secrets(settings)
    config = config or TrainConfig(name=name)
    current = base
    out: list[RoundResult] = []
    for r in range(1, rounds + 1):
        t0 = time.perf_counter()
        seeds = [EXPLORE_SEED0 + (r - 1) * episodes_per_task + i for i in range(episodes_per_task)]
        by_task: dict[str, int] = {t: 0 for t in tasks}

        def count(task: str, good: bool) -> None:
            by_task[task] += int(good)
            if on_episode is not None:
                on_episode(task, good)

        examples, ok, total = asyncio.run(_episodes(settings, current, tasks, seeds, max_steps, temperature, count))
        t1 = time.perf_counter()
        rname = name if r == rounds else f"{name}-r{r}"
        res = RoundResult(round=r, model=rname, episodes=total, succeeded=ok, examples=len(examples),
                          succeeded_by_task=by_task, seconds={"practice": round(t1 - t0, 1)})
        if examples:
            examples = [masked(e) for e in examples]
            # Kept in RPA_HOME (masked) so a round can be retrained with `rpa train --dataset FILE`.
            saved = settings.home / "training" / f"{rname}.jsonl"
            write_jsonl(examples, saved)
            cfg = config.model_copy(update={"name": rname, "base": current})
            res.dataset = str(saved)
            res.trained = train(examples, cfg, settings, on_progress=on_progress)
            res.seconds["train"] = round(time.perf_counter() - t1, 1)
            current = rname
        else:
            logger.warning("explore: round {}: no episode succeeded; nothing to train on", r)
        out.append(res)
        if on_round is not None:
            on_round(res)
    return out
