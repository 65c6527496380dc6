"""``rpa train --explore TASKS --rounds K``: the planner practises, keeps what worked, trains, repeats.

Each round runs the current model with sampling (every decision asks the model) on MiniWoB++ task
pages, seeds ``EXPLORE_SEED0`` and up (the bench's evaluation seeds are small numbers, so training
never sees an evaluation episode when the bench uses seeds below ``EXPLORE_SEED0``). The decisions
of episodes that succeeded become examples; the round's model is trained from the previous one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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


async def _miniwob(planner: Any, page: Any, task: str, seed: int, max_steps: int, temperature: float) -> tuple[bool, Any]:
    from engine.bench.miniwob import _result, _start  # the bench's own episode start and score

    utterance = await _start(page, task, seed, 120.0)

    async def is_done() -> bool:
        return (await _result(page))[0]

    res = await planner.run_stepwise(page, utterance, max_steps=max_steps, is_done=is_done, start_url=page.url,
                                     sample=True, seed=seed, temperature=temperature)
    done, reward = await _result(page)
    return done and reward > 0, res


async def _sandbox(planner: Any, page: Any, task: str, seed: int, max_steps: int, temperature: float,
                   sites: dict[bool, Any]) -> tuple[bool, Any]:
    from engine.training.practice import SANDBOX_PASSWORD, sandbox_episode

    ep = sandbox_episode(task, seed)
    await page.goto(sites[ep.drift].url + ep.path)

    def secret(name: str) -> str:
        if name != "password":
            raise ConfigError(f"Training.explore: the sandbox has no secret '{name}'.")
        return SANDBOX_PASSWORD

    res = await planner.run_stepwise(page, ep.instruction, max_steps=max_steps, secret=secret, start_url=page.url,
                                     sample=True, seed=seed, temperature=temperature)
    if res.error is not None or res.missing:
        return False, res
    await page.wait_for_load_state()
    return await ep.check(page), res


async def _episodes(settings: Settings, model: str | None, tasks: list[str], seeds: list[int], max_steps: int,
                    temperature: float, on_episode: Callable[[str, bool], None] | None = None,
                    ) -> tuple[list[Example], int, int]:
    from bots.sandbox import start_sandbox
    from engine.logs import register_secret
    from engine.planner import get_planner
    from engine.planner.browse import launch_browser
    from engine.training.practice import SANDBOX_PASSWORD, is_sandbox

    planner = get_planner(settings, model=model)
    examples: list[Example] = []
    ok = total = 0
    sites: dict[bool, Any] = {}
    if any(is_sandbox(t) for t in tasks):
        register_secret(SANDBOX_PASSWORD)  # masked wherever it could show up
        sites = {False: start_sandbox(port=0, slow=(0.0, 0.0)), True: start_sandbox(port=0, drift=True, slow=(0.0, 0.0))}
    try:
        async with launch_browser(settings) as browser:
            for task in tasks:
                for seed in seeds:
                    context = await browser.new_context()
                    page = await context.new_page()
                    page.set_default_timeout(5000)
                    try:
                        if is_sandbox(task):
                            good, res = await _sandbox(planner, page, task, seed, max_steps, temperature, sites)
                        else:
                            good, res = await _miniwob(planner, page, task, seed, max_steps, temperature)
                    except Exception as err:  # one broken episode does not stop the round
                        logger.info("explore: {} seed {} failed to run: {}", task, seed, err)
                        good, res = False, None
                    finally:
                        await context.close()
                    total += 1
                    if good and res is not None:
                        ok += 1
                        examples += [Example.make(d.instruction, d.observation, d.answer, "explore", goal=d.goal,
                                                  history=d.history, alternatives=d.candidates)
                                     for d in res.decisions if d.outcome != "failed"]
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
