"""``rpa bench miniwob``: the planner on MiniWoB++ task pages (``engine.envs.miniwob``), with a
random-click baseline; decision times are reported apart from the success rate.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from loguru import logger

from engine.config import Settings, get_settings
from engine.envs.miniwob import Episode, parse_seeds, parse_tasks, planner_episode, random_episode, task_names
from engine.errors import ConfigError

__all__ = ["parse_seeds", "parse_tasks", "run_miniwob", "summarize", "task_names"]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    vs = sorted(values)
    return round(vs[min(len(vs) - 1, int(q * len(vs)))], 3)


def summarize(episodes: list[Episode], tasks: list[str]) -> dict[str, Any]:
    per_task = {}
    for t in tasks:
        eps = [e for e in episodes if e.task == t]
        per_task[t] = {"success": round(sum(e.success for e in eps) / max(1, len(eps)), 3), "episodes": len(eps),
                       "mean_reward": round(statistics.fmean([e.reward for e in eps]) if eps else 0.0, 3)}
    decisions = [s for e in episodes for s in e.decision_s]
    asked = [s for e in episodes for s in e.llm_decision_s]
    tokens = [t for e in episodes for t in e.tokens]
    steps = sum(e.steps for e in episodes)
    return {
        "tasks": per_task,
        "mean_success": round(statistics.fmean([v["success"] for v in per_task.values()]), 3) if per_task else 0.0,
        "episodes": len(episodes),
        "invalid_action_rate": round(sum(e.invalid for e in episodes) / steps, 4) if steps else 0.0,
        "llm_calls": sum(e.llm_calls for e in episodes),
        "decisions": len(decisions),
        "tokens_per_observation": round(statistics.fmean(tokens), 1) if tokens else 0.0,
        "p50_decision_s": _pct(decisions, 0.5),
        "p95_decision_s": _pct(decisions, 0.95),
        # Most decisions have one clear candidate and skip the model; these are the ones that asked it.
        "llm_decisions": len(asked),
        "p50_llm_decision_s": _pct(asked, 0.5),
        "p95_llm_decision_s": _pct(asked, 0.95),
        "errors": sum(1 for e in episodes if e.error),
    }


async def run_miniwob(tasks: list[str], seeds: list[int], *, settings: Settings | None = None,
                      backend: str | None = None, model: str | None = None, baseline: str | None = None,
                      max_steps: int = 10, episode_s: float = 120.0) -> dict[str, Any]:
    import tempfile

    from bots.browser import BrowserConfig, launch, new_context
    from engine.planner import get_planner

    settings = settings or get_settings()
    if baseline not in (None, "random"):
        raise ConfigError(f"Bench.miniwob: unknown baseline '{baseline}'. Use --baseline random.")
    t0 = time.perf_counter()
    planner = get_planner(settings, backend=backend, model=model)
    load = getattr(planner.backend, "load", None)
    if load is not None:
        load()  # load time is reported apart from decision times
    load_s = time.perf_counter() - t0
    ours: list[Episode] = []
    rand: list[Episode] = []
    config = BrowserConfig(default_timeout_ms=5000)
    async with launch(config) as browser:
        for task in tasks:
            for seed in seeds:
                for agent in ["planner"] + (["random"] if baseline else []):
                    context = await new_context(browser, config)
                    try:
                        if agent == "planner":
                            with tempfile.TemporaryDirectory(prefix="rpa-miniwob-") as tmp:
                                ep, _ = await planner_episode(planner, context, task, seed, max_steps=max_steps,
                                                              episode_s=episode_s, run_dir=Path(tmp))
                            ours.append(ep)
                        else:
                            page = await context.new_page()
                            rand.append(await random_episode(page, task, seed, max_steps=max_steps, episode_s=episode_s))
                            ep = rand[-1]
                        logger.info("miniwob: {} seed {} {}: reward {:.2f} in {} steps", task, seed, agent, ep.reward, ep.steps)
                    finally:
                        await context.close()
    out = summarize(ours, tasks)
    # Latency depends on what else the CPU runs: say how busy the machine was.
    out["load_avg"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    out["cpu_count"] = os.cpu_count()
    stats = planner.backend.stats() if hasattr(planner.backend, "stats") else {}
    model_s = float(stats.get("model_s") or 0.0)
    out.update({"model": planner.model_name, "backend": planner.backend.kind, "seeds": seeds, "max_steps": max_steps,
                "episode_time_limit_s": episode_s, "model_load_s": round(load_s, 2),
                "model_load_source": stats.get("load_source"),
                # Throughput in the model: tokens each call covered (prompt prefix reused from the KV
                # cache included) and tokens actually run through it, per second of model time.
                "tokens_per_s": round(stats["scored_tokens"] / model_s, 1) if model_s else None,
                "forwarded_tokens_per_s": round(stats["forwarded_tokens"] / model_s, 1) if model_s else None,
                "model_s": round(model_s, 2),
                "seconds": round(time.perf_counter() - t0, 1)})
    if baseline:
        out["baseline"] = {"agent": "random", **summarize(rand, tasks)}
    return out
