"""The planner: sub-goals from the instruction, candidates from the page, the model picks.

Step-wise mode (``run_stepwise``) observes the page, takes one sub-goal, lists the allowed actions
for it, lets the model choose among the close ones, performs the action, and observes again. The
whole-plan mode (``plan``) runs the same loop in a private browser context that may only reach the
start URL's host, and returns the executed steps as a ``Plan``: locators, not refs, so it replays
without the model. Both produce ``engine.plan.Plan`` and nothing else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from bots.observe import Observation, observe
from engine.config import Settings
from engine.errors import RpaError
from engine.plan import Action, Plan, Step
from engine.plan.models import TEMPLATE_RE
from engine.planner.act import perform
from engine.planner.cache import CacheKey, PlanCache
from engine.planner.candidates import MIN_MATCH, EpisodeState, candidates, names_value, norm, seek_candidates
from engine.planner.goals import decompose, words
from engine.planner.inference import Ranked
from engine.planner.models import Candidate, Decision, Goal, PlanResult
from engine.planner.prompts import decision_messages

TOP_K = 6  # candidates the model sees
MARGIN = 1.5  # a lexical lead this large needs no model
MODEL_WEIGHT = 1.5  # weight of the mean token log-likelihood against the lexical score
MAX_SEEK = 4  # clicks to reveal a target that is not on the page yet
SETTLE_MS = 150
PROMPT_TOKENS = 400


class Backend(Protocol):
    kind: str
    name: str
    calls: int

    def rank(self, messages: list[dict[str, str]], answers: list[str], *, sample: bool = False,
             seed: int | None = None, temperature: float = 1.0) -> Ranked: ...

    def count_tokens(self, text: str) -> int: ...


class StepwiseResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    plan: Plan
    decisions: list[Decision] = Field(default_factory=list)
    llm_calls: int = 0
    missing: list[str] = Field(default_factory=list)
    error: str | None = None


def allowed_domains_for(url: str) -> list[str]:
    """Only the start URL's host: nothing a page says can widen this."""
    host = urlsplit(url).hostname
    return [host] if host else []


def _refs(value: str | None) -> tuple[set[str], set[str]]:
    params, secrets = set(), set()
    for m in TEMPLATE_RE.finditer(value or ""):
        (params if m.group(1) == "params" else secrets).add(m.group(2))
    return params, secrets


def build_plan(instruction: str, url: str, steps: list[Step], name: str | None = None) -> Plan:
    """A plan that opens ``url`` and performs ``steps``; params and secrets are declared by name."""
    goto = Step(id="s1", action=Action.goto, value=url, description="open the start page")
    body = [s.model_copy(update={"id": f"s{i + 2}"}) for i, s in enumerate(steps)]
    params: set[str] = set()
    secrets: set[str] = set()
    for s in body:
        p, q = _refs(s.value)
        params |= p
        secrets |= q
    words_ = [w for w in norm(instruction).split()[:6]]
    return Plan(name=name or ("-".join(words_) or "plan"), instruction=instruction,
                description=f"Planned from: {instruction}"[:200], params={p: {} for p in sorted(params)},
                secrets=sorted(secrets), allowed_domains=allowed_domains_for(url), steps=[goto, *body])


class Planner:
    """One per process per backend (``get_planner``); decisions are serialized by a lock."""

    def __init__(self, settings: Settings, backend: Backend, cache: PlanCache) -> None:
        self.settings = settings
        self.backend = backend
        self.cache = cache
        self.model_name = backend.name
        self._lock = asyncio.Lock()

    @property
    def llm_calls(self) -> int:
        return self.backend.calls

    # -- one decision ---------------------------------------------------------------------------
    def page_text(self, obs: Observation, shown: list[Candidate], goal: Goal) -> str:
        """The lines the model sees: the candidates' elements, then text that shares the goal's words."""
        refs = {c.ref for c in shown}
        lines = [el.line() for el in obs.elements if el.ref in refs]
        want = set(words(goal.target + " " + goal.context + " " + (goal.value or "")))
        extra = [el.line() for el in obs.elements if el.kind == "text" and el.ref not in refs
                 and want & set(words(el.name))]
        out = "\n".join(lines + extra[:4])
        return out[: PROMPT_TOKENS * 4]

    def choose(self, instruction: str, goal: Goal, obs: Observation, cands: list[Candidate],
               history: list[str], *, sample: bool = False, seed: int | None = None,
               temperature: float = 1.0) -> tuple[Candidate, Decision]:
        t0 = time.perf_counter()
        top = cands[:TOP_K]
        page = self.page_text(obs, top, goal)
        close = len(top) > 1 and top[0].lexical - top[1].lexical < MARGIN
        ranked: Ranked | None = None
        chosen = top[0]
        scored = top
        if sample or close:
            messages = decision_messages(instruction, page, goal.text, history)
            ranked = self.backend.rank(messages, [c.answer for c in top], sample=sample, seed=seed,
                                       temperature=temperature)
            if ranked.scores is not None and not sample:
                scored = [c.model_copy(update={"model": m, "score": c.lexical + MODEL_WEIGHT * m})
                          for c, m in zip(top, ranked.scores)]
                chosen = max(scored, key=lambda c: c.score)
            else:
                chosen = top[ranked.chosen]
        step = self.to_step(chosen, obs, goal)
        decision = Decision(
            instruction=instruction, goal=goal.text, observation=page, history=list(history[-6:]),
            action=step.model_dump(mode="json"), answer=chosen.answer, candidates=[c.answer for c in scored],
            scores=[round(c.score, 3) for c in scored], llm=ranked is not None,
            prompt_tokens=ranked.prompt_tokens if ranked else self.backend.count_tokens(page),
            seconds=time.perf_counter() - t0)
        return chosen, decision

    @staticmethod
    def to_step(c: Candidate, obs: Observation, goal: Goal) -> Step:
        return Step(id="s0", action=Action(c.verb), target=obs.selector_map[c.ref], value=c.value,
                    description=goal.text[:120] or None)

    # -- step-wise ------------------------------------------------------------------------------
    async def run_stepwise(self, page: Any, instruction: str, *, max_steps: int = 12,
                           params: dict[str, str] | None = None, secret: Callable[[str], str] | None = None,
                           start_url: str | None = None, is_done: Callable[[], Awaitable[bool]] | None = None,
                           sample: bool = False, seed: int | None = None, temperature: float = 1.0) -> StepwiseResult:
        """Observe, choose one action, perform it, observe again; returns the executed steps as a plan."""
        params = dict(params or {})
        secret = secret or _no_secrets
        goals = decompose(instruction)
        state = EpisodeState()
        steps: list[Step] = []
        decisions: list[Decision] = []
        history: list[str] = []
        missing: list[str] = []
        calls0 = self.backend.calls
        gi, seeks, progress, error, finished = 0, 0, 0, None, False
        for n in range(max_steps):
            if gi >= len(goals) or (is_done is not None and await is_done()):
                finished = True
                break
            goal = goals[gi]
            t_obs = time.perf_counter()
            obs = await observe(page)
            obs_s = time.perf_counter() - t_obs
            cands = candidates(goal, obs, instruction, state)
            if goal.verb in ("click", "submit", "select", "check", "uncheck") and goal.target + (goal.value or ""):
                cands = [c for c in cands if c.lexical >= MIN_MATCH]
            elif goal.verb == "fill" and goal.optional and goal.target:
                cands = [c for c in cands if c.lexical >= MIN_MATCH]  # implied fields: only ones that match
            if goal.verb == "click" and goal.value and progress == 0 and seeks < MAX_SEEK:
                # A quoted name that no element carries yet: first look behind tabs, folders, pagers.
                named = [c for c in cands if names_value(obs, c, goal.value)]
                hidden = seek_candidates(goal, obs, instruction, state) if not named else []
                cands = named or ([] if hidden else cands)
            seeking = False
            if not cands:
                if progress == 0 and not goal.optional and seeks < MAX_SEEK and goal.verb != "fill":
                    cands = seek_candidates(goal, obs, instruction, state)
                    seeking, seeks = bool(cands), seeks + 1
                if not cands:
                    if progress == 0 and not goal.optional:
                        missing.append(goal.text)
                    gi, progress = gi + 1, 0
                    continue
            async with self._lock:
                chosen, decision = await asyncio.to_thread(
                    self.choose, instruction, goal, obs, cands, history, sample=sample,
                    seed=None if seed is None else seed + n, temperature=temperature)
            decision.seconds += obs_s
            step = self.to_step(chosen, obs, goal)
            error = await _perform(page, step, params, secret)
            decision.outcome = "failed" if error else "done"
            decisions.append(decision)
            if error:
                break
            steps.append(step)
            history.append(chosen.answer)
            _remember(state, obs, chosen)
            if seeking:
                pass  # a click to reveal the target: the goal is still ahead
            elif goal.verb == "fill" and (goal.repeat or goal.free_values):
                progress += 1  # stays until no field is left for it
            else:
                gi, progress, seeks = gi + 1, 0, 0
            await _settle(page, longer=chosen.verb == "fill")
        else:
            finished = is_done is not None and await is_done()
        if not finished and error is None:
            missing += [g.text for g in goals[gi:] if not g.optional and g.text not in missing]
        # Clicks that looked for a target and never found it are not part of the plan.
        sought = {m[:120] for m in missing}
        while steps and missing and steps[-1].description in sought:
            steps.pop()
        url = start_url or getattr(page, "url", "") or ""
        return StepwiseResult(plan=build_plan(instruction, url, steps), decisions=decisions,
                              llm_calls=self.backend.calls - calls0, missing=missing, error=error)

    # -- whole plan -----------------------------------------------------------------------------
    def plan(self, instruction: str, *, url: str, params: dict[str, str] | None = None,
             max_steps: int = 12) -> PlanResult:
        """A plan for ``instruction`` at ``url``: from the cache, else planned in a private browser."""
        from engine.planner.browse import plan_in_browser, run_sync

        t0 = time.perf_counter()
        key = CacheKey.make(instruction, url, "", sorted(params or {}))
        cached = self.cache.get(key)
        if cached is not None:
            logger.info("planner: cache hit for {!r} at {}", instruction, url)
            return PlanResult(plan=cached, llm_calls=0, from_cache=True, seconds=time.perf_counter() - t0)
        result, signature = run_sync(plan_in_browser(self, instruction, url, params or {}, max_steps=max_steps))
        if result.error is None and not result.missing:
            self.cache.put(key.model_copy(update={"signature": signature}), result.plan)
        return PlanResult(plan=result.plan, llm_calls=result.llm_calls, from_cache=False,
                          seconds=time.perf_counter() - t0, decisions=result.decisions, missing=result.missing)

    def remember(self, instruction: str, url: str, plan: Plan) -> None:
        """Store a plan that succeeded (the loop calls this)."""
        self.cache.put(CacheKey.make(instruction, url, "", sorted(plan.params)), plan)

    def invalidate(self, instruction: str, url: str) -> int:
        n = self.cache.invalidate(instruction, url)
        logger.info("planner: invalidated {} cached plan(s) for {!r}", n, instruction)
        return n

    # -- repair ---------------------------------------------------------------------------------
    def repair(self, plan: Plan, failed_step_id: str, error: str, observation: Observation) -> Plan | None:
        """A new target for the failed step, chosen on ``observation`` among elements fit for its verb."""
        from engine.planner.repair import repair_plan

        return repair_plan(self, plan, failed_step_id, error, observation)

    def describe(self, plan: Plan) -> str:
        """One line saying what a plan does (no model needed)."""
        parts = []
        for s in plan.steps:
            what = s.target.locators[0].describe() if s.target else (s.value or "")
            parts.append(f"{s.action.value} {what}".strip())
        return ("; ".join(parts))[:200]


def _no_secrets(name: str) -> str:
    from engine.errors import MissingInputError

    raise MissingInputError("secret", name, f"Set it with: rpa secret set {name}")


async def _perform(page: Any, step: Step, params: dict[str, str], secret: Callable[[str], str]) -> str | None:
    """Perform one step; the error line if it failed."""
    try:
        await perform(page, step, params, secret)
        return None
    except RpaError as err:
        return err.message
    except Exception as err:  # Playwright's own errors: the page moved on under us
        return f"{type(err).__name__}: {str(err).splitlines()[0]}"


def _remember(state: EpisodeState, obs: Observation, chosen: Candidate) -> None:
    el = obs.element(chosen.ref)
    if chosen.verb == "fill":
        state.filled[el.fingerprint] = chosen.value or ""
        state.used_values.add(chosen.value or "")
    else:
        state.clicked[el.fingerprint] += 1


async def _settle(page: Any, *, longer: bool = False) -> None:
    try:
        await page.wait_for_load_state("domcontentloaded", timeout=5000)
    except Exception:  # a page in the middle of navigating: the next observe waits for it
        pass
    # Typing may open a suggestion list after a short debounce (300 ms is a common default).
    await asyncio.sleep((SETTLE_MS + (300 if longer else 0)) / 1000)
