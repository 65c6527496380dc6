"""MiniWoB++ task pages as episodes a planner acts in: the benchmark and practice share them.

Task pages come from the PyPI package ``miniwob`` and load as file:// URLs in our Chromium. Each
episode is seeded with ``Math.seedrandom``, started through the page's ``core`` object, and scored
from ``WOB_RAW_REWARD_GLOBAL`` once ``WOB_DONE_GLOBAL`` is set (success = raw reward > 0). The
instruction is the task's utterance; the planner sees only the observation of the page, through a
bot session like any run. The page's own 10 s episode timer is raised (``episode_s``) so that a
score measures choices, not CPU speed.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from engine.errors import ConfigError
from engine.plan import Step
from engine.planner.prompts import parse_action


def miniwob_dir() -> Path:
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("Bench.miniwob: the 'miniwob' package is not installed. Run: pip install --no-deps miniwob")
    return Path(list(spec.submodule_search_locations)[0]) / "html" / "miniwob"


def task_names(spec: str, where: str = "Bench.miniwob") -> list[str]:
    """Names from a comma-separated list, or from a file with one name a line (# comments)."""
    path = Path(spec).expanduser()
    if "," not in spec and path.is_file():  # a long comma list is not a path (and may exceed NAME_MAX)
        lines = path.read_text(encoding="utf-8").splitlines()
        names = [ln.split("#", 1)[0].strip() for ln in lines]
    else:
        names = [t.strip() for t in spec.split(",")]
    names = [t for t in names if t]
    if not names:
        raise ConfigError(f"{where}: no tasks in '{spec}'. Give a comma-separated list or a file.")
    return names


def parse_tasks(spec: str) -> list[str]:
    """MiniWoB++ task names (``task_names``), each checked against the shipped pages."""
    tasks = task_names(spec)
    root = miniwob_dir()
    unknown = [t for t in tasks if not (root / f"{t}.html").exists()]
    if unknown:
        raise ConfigError(f"Bench.miniwob: unknown task(s) {', '.join(unknown)}. See {root} for the task pages.")
    return tasks


def parse_seeds(spec: str) -> list[int]:
    """'5' -> seeds 0..4; '1,7,9' -> those seeds; 'A-B' -> A..B."""
    spec = spec.strip()
    try:
        if "," in spec:
            return [int(s) for s in spec.split(",") if s.strip()]
        if "-" in spec[1:]:
            a, b = spec.split("-", 1)
            return list(range(int(a), int(b) + 1))
        return list(range(int(spec)))
    except ValueError:
        raise ConfigError(f"Bench.miniwob: bad --seeds '{spec}'. Use a count (5), a list (1,2,3) or a range (10-19).") from None


class Episode(BaseModel):
    task: str
    seed: int
    agent: str
    utterance: str = ""
    reward: float = 0.0
    done: bool = False
    success: bool = False
    steps: int = 0
    llm_calls: int = 0
    invalid: int = 0
    decision_s: list[float] = Field(default_factory=list)
    llm_decision_s: list[float] = Field(default_factory=list, description="Decisions that asked the model.")
    tokens: list[int] = Field(default_factory=list)
    error: str | None = None


async def start_episode(page: Any, task: str, seed: int, episode_s: float) -> str:
    await page.goto((miniwob_dir() / f"{task}.html").as_uri())
    await page.wait_for_function("typeof core !== 'undefined' && typeof genProblem === 'function'")
    await page.evaluate("([seed, ms]) => { Math.seedrandom(seed); core.EPISODE_MAX_TIME = ms; core.startEpisodeReal(); }",
                        [f"rpa-{seed}", int(episode_s * 1000)])
    said = await page.evaluate("core.getUtterance()")
    if isinstance(said, dict):  # some tasks return {utterance, fields}: the words are the instruction
        said = said.get("utterance") or " ".join(str(v) for v in said.values())
    return str(said)


async def episode_result(page: Any) -> tuple[bool, float]:
    done, reward = await page.evaluate("[WOB_DONE_GLOBAL, WOB_RAW_REWARD_GLOBAL]")
    return bool(done), float(reward)


def invalid(decision: Any) -> bool:
    """A decision that would not run: an unparsable answer or a step that breaks the plan format."""
    parsed = parse_action(decision.answer)
    if parsed is None:
        return True
    if parsed[0] in ("done", "stuck"):
        return False  # an ending, not a step
    try:
        Step.model_validate(decision.action)
    except Exception:
        return True
    return False


def _episode_ctx(run_dir: Path) -> Any:
    """A bot run on the episode's page: no pictures, no trace (the bench measures choices)."""
    from bots.runner import RunContext

    def no_secrets(name: str) -> str:
        from engine.errors import MissingInputError

        raise MissingInputError("secret", name, "MiniWoB++ tasks use no secrets.")

    return RunContext(run_id=run_dir.name, run_dir=run_dir, params={}, secret=no_secrets, default_timeout_ms=5000,
                      screenshots=False, trace_on_failure=False)


async def planner_episode(planner: Any, context: Any, task: str, seed: int, *, max_steps: int, episode_s: float,
                          run_dir: Path, sample: bool = False, seed_offset: int | None = None,
                          temperature: float = 1.0) -> tuple[Episode, Any]:
    """One episode: the planner does the utterance on a bot session over the task's page."""
    from bots.runner import Bot
    from engine.plan import Action, Plan, Step

    ep = Episode(task=task, seed=seed, agent="planner")
    stub = Plan(name=task, allow_file=True, steps=[Step(id="s1", action=Action.goto, value="about:blank")])
    session = await Bot(context).start(stub, _episode_ctx(run_dir))
    ep.utterance = await start_episode(session.page, task, seed, episode_s)

    async def is_done() -> bool:
        return (await episode_result(session.page))[0]

    res = await planner.act(session, ep.utterance, url=None, max_steps=max_steps, done_when=is_done, sample=sample,
                            seed=seed_offset, temperature=temperature)
    await session.finish()
    ep.done, ep.reward = await episode_result(session.page)
    ep.success = ep.done and ep.reward > 0
    ep.steps = len(res.decisions)
    ep.llm_calls = res.llm_calls
    ep.invalid = sum(invalid(d) for d in res.decisions)
    ep.decision_s = [d.seconds for d in res.decisions]
    ep.llm_decision_s = [d.seconds for d in res.decisions if d.llm]
    ep.tokens = [d.prompt_tokens for d in res.decisions]
    ep.error = res.error.message if res.error else None
    return ep, res


async def random_episode(page: Any, task: str, seed: int, *, max_steps: int, episode_s: float) -> Episode:
    """Click a random visible control each step (the baseline), on the same seeded episode."""
    from bots.locate import resolve
    from bots.observe import observe

    ep = Episode(task=task, seed=seed, agent="random")
    ep.utterance = await start_episode(page, task, seed, episode_s)
    rng = random.Random(seed)
    for _ in range(max_steps):
        if (await episode_result(page))[0]:
            break
        obs = await observe(page)
        controls = obs.controls
        if not controls:
            break
        el = rng.choice(controls)
        ep.steps += 1
        try:
            loc = await resolve(page, obs.selector_map[el.ref], step_id="random", timeout_ms=1000)
            await loc.locator.click(timeout=1000)
        except Exception:  # noqa: BLE001 - a random click may hit something covered; it still counts as a step
            pass
    ep.done, ep.reward = await episode_result(page)
    ep.success = ep.done and ep.reward > 0
    return ep


