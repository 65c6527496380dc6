"""Planning by doing: observe, list every allowed action, let the model choose, have the bot do it.

The bot's ``Session`` performs each chosen step exactly as a replay would (``adapt=True`` lets a
click that cannot reach its element become a DOM event, recorded in the step), so the plan that
comes out replays what was done. The run ends when every part of the instruction is done and the
page confirms it (``done``), or fails naming the parts it could not do.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loguru import logger

from bots.observe import Observation, observe
from engine.dates import TYPED_INPUTS
from engine.errors import BusinessError, GoalError, RpaError
from engine.plan import Action, Expect, Plan, Step, Target
from engine.plan.models import TEMPLATE_RE
from engine.planner.actions import Choice, choices
from engine.planner.ledger import Evidence, Ledger
from engine.planner.models import Decision, PlanningResult
from engine.planner.prompts import decision_messages
from engine.planner.task import Task, norm, read_task, words

if TYPE_CHECKING:
    from bots.runner import Session
    from engine.planner.planner import Planner

TOP_K = 8  # actions the model sees
MODEL_WEIGHT = 0.5  # weight of the mean token log-likelihood against the prior
MAX_STEPS = 16  # at least; an instruction of many parts gets STEPS_PER_PART for each
STEPS_PER_PART = 4
PROMPT_CHARS = 1600
SETTLE_S = 0.15
CONFIRM_WAITS = 2  # observations to wait for the page's confirmation once every part is done
MAX_REFUSALS = 2  # forms the site may send back before the run fails with what the site said
MAX_IDLE = 4  # steps in a row that do no part of the instruction before the run gives up

_VERB_ACTION = {"click": Action.click, "fill": Action.fill, "select": Action.select, "check": Action.check,
                "uncheck": Action.uncheck, "press": Action.press, "read": Action.extract,
                "download": Action.download, "back": Action.back}


def plan_name(instruction: str) -> str:
    slug = "-".join(norm(instruction).split()[:6])
    return slug or "plan"


def page_text(obs: Observation, shown: list[Choice], task: Task) -> str:
    """What the model reads: the page's title, the chosen elements, then text that shares the task's words."""
    refs = {c.ref for c in shown if c.ref}
    want = set(task.words)
    lines = [f"{obs.title} ({urlsplit(obs.url).path or '/'})"]
    lines += [el.line() for el in obs.elements if el.ref in refs]
    extra = [el.line() for el in obs.elements if el.ref not in refs and (
        el.role == "heading" or el.kind == "text" and want & set(words(el.name)))]
    out = "\n".join(lines + extra[:6])
    return out[:PROMPT_CHARS]


def _output_name(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "value"
    if base[0].isdigit():
        base = "v_" + base
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


class Agent:
    """One planning run of one instruction on one bot session."""

    def __init__(self, planner: Planner, session: Session, instruction: str, *, max_steps: int | None = None,
                 done_when: Callable[[], Awaitable[bool]] | None = None, sample: bool = False,
                 seed: int | None = None, temperature: float = 1.0) -> None:
        self.planner, self.session, self.instruction = planner, session, instruction
        self.task = read_task(instruction)
        self.ledger = Ledger(self.task)
        self.max_steps = max_steps or max(MAX_STEPS, STEPS_PER_PART * len(self.task.parts))
        self.done_when = done_when
        self.sample, self.seed, self.temperature = sample, seed, temperature
        self.steps: list[Step] = []
        self.decisions: list[Decision] = []
        self.answers: list[str] = []
        self.outputs: set[str] = set()
        self.calls0 = planner.backend.calls

    async def run(self, url: str | None) -> PlanningResult:
        t0 = time.perf_counter()
        error: RpaError | None = None
        if self.task.unread:  # a value said but never read into a part: no run may do less than was asked
            named = ", ".join(f"'{v}'" for v in self.task.unread[:4])
            return self._result(url or self.session.page.url, t0, error=GoalError(
                self.task.unread[0], f"Planner.plan: could not read what to do with {named} in "
                f"\"{self.instruction}\"; say it as its own request (\"set the e-mail to ...\")."))
        if url:
            opened = await self.session.perform(Step(id="s1", action=Action.goto, value=url,
                                                     description="open the start page"))
            if not opened.ok:
                return self._result(url, t0, error=None)
            self.steps.append(opened.step)
        try:
            error = await self._loop()
        except RpaError as err:
            error = err
        return self._result(url or self.session.page.url, t0, error=error)

    async def _loop(self) -> RpaError | None:
        before: Observation | None = None
        waits = done_seen = 0
        idle = 0.0
        visited: set[str] = set()  # pages this run has been on: coming back to one is no progress
        for n in range(self.max_steps):
            if self.done_when is not None and await self.done_when():
                return None
            t_obs = time.perf_counter()
            obs = await observe(self.session.page)
            obs_s = time.perf_counter() - t_obs
            if self.ledger.complete():
                self.ledger.confirmed = self.ledger.confirmed or self.ledger.confirm(before, obs)
                if self.ledger.confirmed is not None:
                    return None  # every part done and the page says so: nothing more to do on this site
                else:
                    waits += 1
                    if waits > CONFIRM_WAITS:
                        return self._unconfirmed(obs)
            page_words = set(words(obs.title)) | {w for e in obs.elements if e.role == "heading"
                                                  for w in words(e.name)}
            self.ledger.kept(obs, page_words)
            self.ledger.moved(obs)
            self.ledger.preset(obs, page_words)
            if len(self.ledger.done) > done_seen:
                idle = 0  # the last step's effect shows on this page (an option now in the chosen list)
            cands = choices(self.task, obs, self.ledger)
            if not cands or (cands[0].prior < 0.5 and not self.ledger.complete()):
                cands.append(Choice(verb="stuck", answer="stuck", prior=0.0, score=0.0))
            chosen, decision = await self._choose(obs, cands, n)
            decision.seconds += obs_s
            self.decisions.append(decision)
            if chosen.verb == "done":
                decision.outcome = "done"
                if self.ledger.complete() and self.ledger.confirmed is not None:
                    return None
                return self._unconfirmed(obs) if self.ledger.complete() else self._missing(obs)
            if chosen.verb == "stuck":
                decision.outcome = "stuck"
                return self._missing(obs)
            step = self._step(chosen, obs, n)
            performed = await self.session.perform(step, adapt=True)
            decision.action = performed.step.model_dump(mode="json")
            if not performed.ok:
                decision.outcome = "failed"
                return None  # the session's outcome carries the step's own error and kind
            decision.outcome = "performed"
            self.steps.append(performed.step)
            self.answers.append(chosen.answer)
            el = obs.element(chosen.ref) if chosen.ref else None
            done_before, dirty_before = len(self.ledger.done), self.ledger.dirty
            self.ledger.record(chosen.verb, el, chosen.value, obs, page_words)
            await self._settle(chosen.verb)
            if chosen.verb in ("click", "press", "download") and el is not None:
                after = await observe(self.session.page)
                if after.url == obs.url and after.signature() == obs.signature():
                    self.ledger.no_change(el)
                if not self.ledger.last_submit and self.ledger.dirty and after.url != obs.url:
                    self.ledger.abandon()
                self.ledger.hear(obs, after)
                if self.ledger.last_submit and (said := self.ledger.refused(obs, after)) is not None:
                    logger.info("planner: the site sent the form back: {}", said)
                    if len(self.ledger.refusals) >= MAX_REFUSALS:
                        return BusinessError(step.id, f"the site says \"{said}\" (after {len(self.ledger.refusals)} "
                                             f"tries of \"{self.instruction}\")")
            before = obs
            visited.add(obs.url)
            if len(self.ledger.done) > done_before or self.ledger.last_submit and dirty_before:
                idle = 0  # a part done, or a form of ours sent (an empty one sent is no progress)
            else:
                # a page not seen before may be the way on (a list, then a record): it counts half
                idle += 1 if self.session.page.url in visited else 0.5
            done_seen = len(self.ledger.done)
            if idle >= MAX_IDLE:  # wandering: nothing on these pages does what is left
                return self._missing(await observe(self.session.page))
        return self._missing(obs) if not self.ledger.complete() else self._unconfirmed(obs)

    async def _choose(self, obs: Observation, cands: list[Choice], n: int) -> tuple[Choice, Decision]:
        t0 = time.perf_counter()
        top = cands[:TOP_K]
        if not any(c.verb == "stuck" for c in top) and any(c.verb == "stuck" for c in cands):
            top[-1] = next(c for c in cands if c.verb == "stuck")
        page = page_text(obs, top, self.task)
        missing = "; ".join(p.text for p in self.ledger.missing()) or "confirm it is done"
        chosen, scored, ranked = top[0], top, None
        if len(top) > 1:
            messages = decision_messages(self.instruction, page, missing, self.answers)
            ranked = await self.planner.rank(messages, [c.answer for c in top])
            if ranked.scores is not None:
                scored = [c.model_copy(update={"model": m, "score": c.prior + MODEL_WEIGHT * m})
                          for c, m in zip(top, ranked.scores)]
                chosen = max(scored, key=lambda c: c.score)
                if self.sample:  # practice: explore near what the evidence and the model prefer
                    chosen = _sampled(scored, random.Random(None if self.seed is None else self.seed + n),
                                      self.temperature)
            else:
                chosen = top[ranked.chosen]
        decision = Decision(instruction=self.instruction, goal=missing, observation=page, history=self.answers[-6:],
                            action={}, answer=chosen.answer, candidates=[c.answer for c in scored],
                            scores=[round(c.score, 3) for c in scored], llm=ranked is not None,
                            prompt_tokens=ranked.prompt_tokens if ranked else 0,
                            seconds=time.perf_counter() - t0)
        logger.debug("planner: {} | {} (of {} actions) <- {}", self.ledger.state(), chosen.answer, len(cands),
                     "; ".join(f"{c.answer} {c.prior:.2f}/{c.model if c.model is None else round(c.model, 2)}"
                               for c in sorted(scored, key=lambda c: -c.score)[:5]))
        return chosen, decision

    def _step(self, c: Choice, obs: Observation, n: int) -> Step:
        sid = f"s{len(self.steps) + 1}"
        verb = _VERB_ACTION[c.verb]
        missing = self.ledger.missing()
        why = next((p.text for p in missing if p.value is not None and p.value.text == c.value), None)
        if verb is Action.back:
            return Step(id=sid, action=verb, description="go back")
        target = obs.selector_map[c.ref] if c.ref else None
        el = obs.element(c.ref) if c.ref else None
        desc = why or (el.name or el.label or "")[:80] if el is not None else None
        if verb is Action.extract:
            reads = self.ledger.open_reads()
            name = _output_name(reads[0].text if reads else (el.name if el else "value"), self.outputs)
            return Step(id=sid, action=verb, target=_not_by_own_text(target, el), output=name,
                        description=f"read {name}")
        if verb is Action.download:
            return Step(id=sid, action=verb, target=target, output=_output_name("file", self.outputs),
                        description=desc)
        # The last character as a key press wakes suggestion lists; a date or time input takes its value whole.
        keys = verb is Action.fill and (el is None or el.type not in TYPED_INPUTS)
        value = c.value if verb in (Action.fill, Action.select, Action.press) else None
        return Step(id=sid, action=verb, target=target, value=value, keys=keys, description=desc)

    async def _settle(self, verb: str) -> None:
        page = self.session.page
        try:
            await page.wait_for_load_state("domcontentloaded", timeout=5000)
        except Exception:  # noqa: BLE001 - a page in the middle of navigating: the next observe waits for it
            pass
        # Typing may open a suggestion list after a short debounce (300 ms is a common default).
        await asyncio.sleep(SETTLE_S + (0.3 if verb == "fill" else 0.0))

    # -- endings --------------------------------------------------------------------------------
    def _missing(self, obs: Observation) -> GoalError:
        parts = self.ledger.missing()
        where = obs.url
        if not parts:
            return self._unconfirmed(obs)
        named = ", ".join(f"'{p.text}'" for p in parts[:4])
        return GoalError(parts[0].text, f"Planner.plan: could not find how to do {named} of "
                         f"\"{self.instruction}\" on {where}.")

    def _unconfirmed(self, obs: Observation) -> GoalError:
        if self.ledger.dirty:
            return GoalError(self.instruction, f"Planner.plan: the form on {obs.url} was changed for "
                             f"\"{self.instruction}\" but never submitted.")
        return GoalError(self.instruction, f"Planner.plan: every part of \"{self.instruction}\" was done but "
                         f"{obs.url} shows no sign that it worked (no message, new address or value shown).")

    def _result(self, url: str, t0: float, *, error: RpaError | None) -> PlanningResult:
        steps = list(self.steps)
        ev: Evidence | None = self.ledger.confirmed
        if error is None and ev is not None and steps and steps[-1].expect is None and ev.kind in ("message", "shown"):
            # Replays confirm the goal the way planning did: the same words on the page.
            steps[-1] = steps[-1].model_copy(update={"expect": Expect(text=_literal(ev.text))})
        plan = build_plan(self.instruction, url, steps)
        return PlanningResult(plan=plan, decisions=self.decisions, llm_calls=self.planner.backend.calls - self.calls0,
                              error=error, confirmation=ev.text if ev else None, seconds=time.perf_counter() - t0)


def _sampled(scored: list[Choice], rng: random.Random, temperature: float) -> Choice:
    """One choice drawn with probability softmax(score / temperature)."""
    t = max(temperature, 1e-3)
    top = max(c.score for c in scored)
    weights = [math.exp((c.score - top) / t) for c in scored]
    return rng.choices(scored, weights=weights, k=1)[0]


def _not_by_own_text(target: Target | None, el: Any) -> Target | None:
    """A value read by a replay changes (another invoice's total): never find it by its own text."""
    if target is None or el is None or not el.name:
        return target
    keep = [loc for loc in target.locators if el.name not in (loc.name, loc.text)]
    return Target(keep) if keep else target


def _literal(text: str) -> str:
    """A message as an expectation a replay can match: its first sentence, and of that the longest
    piece between gaps (the observation drops a link's words inside a message: 'The user “ ” was
    added'), so that the words the site repeats are what the replay waits for."""
    first = re.split(r"(?<=[.!])\s", text.split("\n")[0].strip())[0]
    pieces = [p.strip(" .,;:!") for p in re.split(r"[“\"'‘][\s]*[”\"'’]|\s{2,}", first)]
    best = max(pieces, key=len) if pieces else first
    return (best if len(best) >= 8 else first)[:100]


def build_plan(instruction: str, url: str, steps: list[Step], name: str | None = None) -> Plan:
    """A replayable plan of the performed steps; params and secrets are declared by name."""
    params: set[str] = set()
    secrets: set[str] = set()
    for s in steps:
        for m in TEMPLATE_RE.finditer(s.value or ""):
            (params if m.group(1) == "params" else secrets).add(m.group(2))
    host = urlsplit(url).hostname
    if not steps:
        steps = [Step(id="s1", action=Action.goto, value=url or "about:blank")]
    return Plan(name=name or plan_name(instruction), instruction=instruction,
                description=f"Planned from: {instruction}"[:200], params={p: {} for p in sorted(params)},
                secrets=sorted(secrets), allowed_domains=[host] if host else [], steps=steps)


def run_agent(planner: Planner, session: Session, instruction: str, *, url: str | None, **kw: Any) -> Awaitable[PlanningResult]:
    return Agent(planner, session, instruction, **kw).run(url)
