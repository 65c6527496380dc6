"""Choosing the skill(s) for an instruction and filling their params: a constrained, checkable decision.

For each part of the instruction ("do X, then Y" has two), every skill gets a score from evidence:
its words in the instruction (idf-weighted), params the instruction fills with values of their form, the
share of the instruction's words the skill explains (what its steps do included), and values the skill
has no param for. "none" competes with a fixed score. A softmax turns the scores into a share each; the
best skill runs only when its share reaches ``min_confidence``, else the router abstains (ambiguous) or
says no skill fits. A routed call that is not clear-cut also asks the model which of the two best
skills' descriptions reads more likely after the request (log-likelihood, calibrated on a content-free
request); the model can only stop that run, never start one: measured on the tuned split, the embedded
135M model alone picks the right skill about half the time. The part is read as evidence first: typos of
the skills' words mended, what the instruction says not to do left out, and context clauses ("it's for the
month-end pack") weighed less than the clause the skill explains best. Weights and thresholds were
calibrated on the tuned split of ``engine/bench/suites/skills.yaml`` only; held_out_3 is never looked at.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from engine.errors import MissingInputError
from engine.planner.task import INTENT_WORDS, NEGATED, intent_of, lead_verbs
from engine.skills.library import Library
from engine.skills.models import Candidate, ChosenSkill, Filled, RouteStatus, Routing, Skill
from engine.skills.params import covered, fill, unplaced
from engine.skills.prompts import CONTENT_FREE, choice_answers, choice_messages
from engine.skills.text import (ACTION_WORDS, CLAUSES, STOP, LexicalIndex, content_tokens, correct_typos, corrected,
                                skill_vocabulary, split_sequence, stem, words)

QUESTION_WORDS = {"how", "what", "which", "who", "when", "where", "why", "is", "are", "does", "do"}

# "..., then do the same for Tyrell": a part that repeats the previous part's skill with its own values.
SAME_AGAIN = re.compile(r"^(?:and\s+)?(?:please\s+)?(?:(?:do|repeat|run)\s+(?:the\s+same|that|it|this)(?:\s+again)?|"
                        r"(?:another|one more)(?:\s+one)?)\s+(?:for|with|on)\b", re.IGNORECASE)


@dataclass(frozen=True)
class RouterConfig:
    """Weights of the evidence and the abstain threshold (calibrated on the tuned split)."""

    w_lex: float = 1.0
    w_params: float = 1.0
    w_coverage: float = 5.0
    w_loose: float = 1.5
    none_score: float = 4.5
    temperature: float = 0.5
    clause_mix: float = 0.5  # coverage: this share from the best-explained clause, the rest from the whole
    min_confidence: float = 0.6
    model_check_below: float = 0.75 # a routed decision less sure than this is checked by the model


@dataclass
class PartScore:
    """Evidence for one skill on one part of the instruction."""

    skill: Skill
    lexical: float
    evidence: float
    coverage: float
    loose: int
    filled: dict[str, Filled]
    model: float = 0.0
    forbidden: bool = False  # the instruction says not to do what this skill does ("don't download it")

    def total(self, cfg: RouterConfig) -> float:
        if self.forbidden:
            return -100.0
        return (cfg.w_lex * self.lexical + cfg.w_params * self.evidence + cfg.w_coverage * self.coverage
                - cfg.w_loose * self.loose)


@dataclass
class PartRoute:
    part: str
    status: RouteStatus
    scores: list[PartScore]
    probs: list[float]  # per skill, then none
    best: int
    model_calls: int = 0
    vetoed_by: str | None = None

    @property
    def confidence(self) -> float:
        return self.probs[self.best] if self.best >= 0 else self.probs[-1]


def _softmax(xs: list[float], t: float) -> list[float]:
    m = max(xs)
    es = [math.exp((x - m) / t) for x in xs]
    s = sum(es)
    return [e / s for e in es]


@dataclass
class Router:
    library: Library
    backend: Any = None
    config: RouterConfig = field(default_factory=RouterConfig)

    def __post_init__(self) -> None:
        self.skills = list(self.library.skills)
        self.index = LexicalIndex([s.plan for s in self.skills])
        self.vocab = [skill_vocabulary(s.plan) for s in self.skills]
        self.all_words: set[str] = set().union(*self.vocab) if self.vocab else set()
        self.choices = {c.lower() for s in self.skills for p in s.plan.params.values() for c in p.choices or []}
        # What each skill does that not every skill does (a download, an upload): words for those actions
        # in what the instruction says not to do rule the skill out.
        acts = [{st.action.value for st in s.plan.steps} for s in self.skills]
        common = set.intersection(*acts) if acts else set()
        self.own_actions = [{w for a in a_s - common for w in words(ACTION_WORDS.get(a, a))} for a_s in acts]
        self._content_free: list[float] | None = None

    # -- evidence -------------------------------------------------------------------------------
    def read(self, part: str) -> tuple[str, set[str]]:
        """The part as evidence (typos of the skills' words mended, what must not be done left out), and
        the words of what must not be done."""
        mended = corrected(correct_typos(part, self.all_words, self.choices))
        refused = set(words(" ".join(m.group(0) for m in NEGATED.finditer(mended))))
        return " ".join(NEGATED.sub(" ", mended).split()), refused

    def _coverage(self, skill: int, part: str, values: list[tuple[int, int]]) -> float:
        """The share of the part's words the skill explains, the leading word of each clause counting
        double (it is usually the verb), mixed with the share in the clause it explains best: a request
        often comes with context ("..., it's for the month-end pack") that no skill explains."""
        whole_w = whole_x = 0.0
        best = 0.0
        start = 0
        bounds = [m.start() for m in CLAUSES.finditer(part)] + [len(part)]
        for end in bounds:
            weight = explained = 0.0
            n = 0
            for w, a, b in content_tokens(part[start:end]):
                if any(x <= a + start and b + start <= y for x, y in values):
                    continue
                k = 2.0 if n == 0 else 1.0
                n += 1
                weight += k
                explained += k if w in self.vocab[skill] else 0.0
            if weight:
                best = max(best, explained / weight)
            whole_w, whole_x = whole_w + weight, whole_x + explained
            start = end
        if not whole_w:  # values only ("how much is INV-1023?"): explained by a skill that places them all
            return 1.0 if values and not unplaced(part, values) else 0.0
        whole = whole_x / whole_w
        return whole + self.config.clause_mix * max(0.0, best - whole)

    def score_part(self, part: str) -> list[PartScore]:
        part, refused = self.read(part)
        lex, _ = self.index.scores(part)
        out = []
        for i, skill in enumerate(self.skills):
            filled, evidence, loose = fill(skill.plan, part, self.all_words)
            coverage = self._coverage(i, part, covered(part, filled))
            out.append(PartScore(skill, lex[i], evidence, coverage, loose, filled,
                                 forbidden=bool(refused & self.own_actions[i])))
        return out

    def _does(self, skill: int, verb: str) -> bool:
        """Whether the skill can do what ``verb`` asks: a question word asks nothing; a verb of
        looking or reading is what any skill does; one that changes things (delete, approve, pay)
        must be among the skill's own words or those of its steps."""
        intent = intent_of(verb)
        if verb in QUESTION_WORDS or intent in ("find", "open", "read", "type", "click", "select", "login"):
            return True
        # ("set" is also how any form's list is chosen: no evidence that a skill changes what exists)
        said = tuple(w for w in INTENT_WORDS.get(intent or "", ()) if w != "set") + (verb,)
        return any(stem(w) in self.vocab[skill] for w in said)

    def _explains(self, skill: int, route: PartRoute) -> bool:
        """The skill knows every word of that part (so doing it whole drops nothing)."""
        return route.scores[skill].coverage >= 1.0 and route.scores[skill].loose == 0

    def _model_shares(self, part: str, idx: list[int]) -> list[float] | None:
        """The model's calibrated preference among the descriptions of skills ``idx`` (None: no model)."""
        if self.backend is None or len(idx) < 2:
            return None
        descs = [self.skills[i].description or self.skills[i].name for i in idx]
        answers = choice_answers(descs)
        if self._content_free is None:
            all_answers = choice_answers([s.description or s.name for s in self.skills])
            self._content_free = list(self.backend.rank(choice_messages(CONTENT_FREE), all_answers).scores)
        ranked = self.backend.rank(choice_messages(part), answers)
        calibrated = [s - self._content_free[i] for s, i in zip(ranked.scores, idx)]
        return _softmax(calibrated, 0.1)

    def route_part(self, part: str) -> PartRoute:
        cfg = self.config
        scores = self.score_part(part)
        if not scores:
            return PartRoute(part, RouteStatus.none, [], [1.0], -1)
        probs = _softmax([s.total(cfg) for s in scores] + [cfg.none_score], cfg.temperature)
        best = max(range(len(scores)), key=lambda i: probs[i])
        if probs[-1] >= probs[best]:
            return PartRoute(part, RouteStatus.none, scores, probs, -1)
        if probs[best] < cfg.min_confidence:
            return PartRoute(part, RouteStatus.ambiguous, scores, probs, best)
        values = {w.lower() for f in scores[best].filled.values() for w in f.value.split()}
        # (a verb as asked is in its plain form: "updates go to hedy@..." names where news goes)
        unexplained = [v for v in lead_verbs(self.read(part)[0])
                       if v not in values and v not in STOP and stem(v) == v.lower() and not self._does(best, v)]
        if unexplained:  # a bot that cannot do that verb would leave part of the work undone
            return PartRoute(part, RouteStatus.none, scores, probs, -1)
        route = PartRoute(part, RouteStatus.routed, scores, probs, best)
        if probs[best] < cfg.model_check_below:
            self._model_check(route)
        return route

    def _same_again(self, part: str, prev: PartRoute) -> PartRoute:
        """The previous part's skill again, with the values this part states."""
        scores = self.score_part(part)
        return PartRoute(part, RouteStatus.routed, scores, prev.probs, prev.best)

    def _follow_up(self, part: str, route: PartRoute, prev: PartRoute) -> PartRoute | None:
        """A part that only goes on with the previous one: values alone ("download INV-1001, then INV-1002 as
        well") do the previous skill again; what fills params the previous part left open ("a request for
        Hedy; updates go to hedy@example.org; Sales handles it") is more of the same request."""
        skill = prev.scores[prev.best].skill
        mine = route.scores[prev.best].filled if route.scores else {}
        said = set(prev.scores[prev.best].filled)
        verbs = [v for v in lead_verbs(self.read(part)[0]) if v not in STOP]
        if mine and not verbs and set(mine) <= said and route.scores[prev.best].loose == 0:
            return self._same_again(part, prev)
        same = route.status is RouteStatus.routed and route.scores[route.best].skill is skill
        if mine and not set(mine) & said and (route.status is not RouteStatus.routed or same):
            whole = self.route_part(f"{prev.part}; {part}")
            if whole.status is RouteStatus.routed and whole.scores[whole.best].skill is skill \
                    and set(whole.scores[whole.best].filled) > said:
                return whole
        return None

    def _says_nothing(self, part: str) -> bool:
        """Context only: no verb leads it and no value-like token is in it."""
        read = self.read(part)[0]
        return not [v for v in lead_verbs(read) if v not in STOP] and not unplaced(read, [])

    def _model_check(self, route: PartRoute) -> None:
        """A close call goes to the model too: it may only stop a run (never start one) when it prefers
        the runner-up's description. The embedded model is too weak to choose on its own."""
        others = sorted((i for i in range(len(route.scores)) if i != route.best), key=lambda i: -route.probs[i])
        if not others:
            return
        shares = self._model_shares(route.part, [route.best, others[0]])
        if shares is None:
            return
        route.model_calls = 1
        route.scores[route.best].model, route.scores[others[0]].model = shares
        if shares[0] < 0.5:
            route.status = RouteStatus.ambiguous
            route.vetoed_by = route.scores[others[0]].skill.name

    # -- the decision ---------------------------------------------------------------------------
    def route(self, instruction: str, *, params: dict[str, str] | None = None) -> Routing:
        """Route ``instruction``; ``params`` (given by the user) count as stated. Raises
        ``MissingInputError`` when the chosen skill needs a param that neither states."""
        t0 = time.perf_counter()
        text = " ".join(instruction.split())
        parts = split_sequence(text)
        routes: list[PartRoute] = []
        for p in parts:
            prev = routes[-1] if routes else None
            if prev is not None and prev.status is RouteStatus.routed and SAME_AGAIN.match(p):
                routes.append(self._same_again(p, prev))
                continue
            route = self.route_part(p)
            if prev is not None and prev.status is RouteStatus.routed and (follow := self._follow_up(p, route, prev)):
                if follow.part == p:
                    routes.append(follow)
                else:
                    routes[-1] = follow
                continue
            routes.append(route)
        if len(routes) > 1 and any(r.status is RouteStatus.routed for r in routes):
            # "I'm out tomorrow; before I go, please lodge ...": a part that asks nothing and states no value
            routes = [r for r in routes if r.status is not RouteStatus.none or not self._says_nothing(r.part)]
        if len(routes) > 1 and not all(r.status is RouteStatus.routed for r in routes):
            whole = self.route_part(text)  # "sign in, then search X" may be one skill's whole job
            if all(r.status is RouteStatus.none for r in routes) or (
                    whole.status is RouteStatus.routed and all(self._explains(whole.best, r) for r in routes)):
                routes = [whole]
        routing = self._decide(text, routes)
        routing.seconds = time.perf_counter() - t0
        routing.model_calls = sum(r.model_calls for r in routes)
        if routing.ok:
            check_missing(routing, params or {})
        logger.info("skills: {}", routing.reason)
        return routing

    def _candidates(self, route: PartRoute) -> list[Candidate]:
        out = [Candidate(name=s.skill.name, prob=route.probs[i], lexical=s.lexical, model=s.model or None)
               for i, s in enumerate(route.scores)]
        out.append(Candidate(name="none", prob=route.probs[-1]))
        return sorted(out, key=lambda c: -c.prob)

    def _decide(self, text: str, routes: list[PartRoute]) -> Routing:
        cands = self._candidates(routes[0]) if len(routes) == 1 else \
            [c for r in routes for c in self._candidates(r)[:2]]
        conf = min(r.confidence for r in routes)
        if all(r.status is RouteStatus.routed for r in routes):
            chosen = [ChosenSkill(name=r.scores[r.best].skill.name, path=r.scores[r.best].skill.path,
                                  plan=r.scores[r.best].skill.plan, part=r.part,
                                  params=r.scores[r.best].filled, confidence=r.confidence) for r in routes]
            return Routing(instruction=text, status=RouteStatus.routed, chosen=chosen, candidates=cands,
                           confidence=conf, reason=_routed_reason(chosen))
        if all(r.status is RouteStatus.none for r in routes):
            best = next((c for c in cands if c.name != "none"), None)
            hint = f" (closest: {best.name} {best.prob:.2f})" if best else ""
            return Routing(instruction=text, status=RouteStatus.none, candidates=cands, confidence=conf,
                           reason=f"no skill fits{hint}")
        unsure = next(r for r in routes if r.status is not RouteStatus.routed)
        top = ", ".join(f"{c.name} {c.prob:.2f}" for c in self._candidates(unsure)[:3])
        where = f" for '{unsure.part}'" if len(routes) > 1 else ""
        if unsure.status is RouteStatus.none:
            why = "no skill fits that part"
        elif unsure.vetoed_by:
            why = f"the words favour {unsure.scores[unsure.best].skill.name} but the model prefers {unsure.vetoed_by}"
        else:
            why = "no candidate is sure enough"
        return Routing(instruction=text, status=RouteStatus.ambiguous, candidates=cands, confidence=conf,
                       reason=f"ambiguous{where}: {why}; best candidates {top}. "
                              "Say which bot, or run a plan file")


def _routed_reason(chosen: list[ChosenSkill]) -> str:
    parts = []
    for c in chosen:
        vals = ", ".join(f"{k}={v.value}" for k, v in c.params.items())
        parts.append(f"{c.name}({vals}) {c.confidence:.2f}")
    return "routed to " + " then ".join(parts)


def check_missing(routing: Routing, given: dict[str, str]) -> None:
    """A param without a default that neither the instruction nor the user states: one clear error."""
    for c in routing.chosen:
        for name, p in c.plan.params.items():
            if p.default is None and name not in c.params and name not in given:
                raise MissingInputError(
                    "param", name, f"The instruction routes to skill '{c.name}' ({c.path.name}), which needs "
                    f"'{name}'{': ' + p.description if p.description else ''}; say it in the instruction or "
                    f"pass --param {name}=VALUE.")
