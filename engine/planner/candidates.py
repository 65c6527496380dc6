"""Allowed actions for one sub-goal on one observation, ranked by how well the words match.

Candidates come only from the observation (refs that exist) and values only from the goal (the
instruction's literals, parameters and secret names): whatever is chosen is valid by
construction. The lexical score is a cheap first ranking; the model breaks close calls.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from bots.observe import Element, Observation
from engine.planner.goals import words
from engine.planner.models import Candidate, Goal
from engine.planner.prompts import format_action

# Words of an instruction that name a kind of element, and the elements they fit.
TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "button": ("button",), "link": ("link",), "tab": ("tab",), "checkbox": ("checkbox",),
    "radio": ("radio",), "textbox": ("textbox", "searchbox"), "input": ("textbox", "searchbox"),
    "field": ("textbox", "searchbox", "combobox"), "textarea": ("textarea",), "dropdown": ("combobox",),
    "list": ("combobox", "listbox"), "menu": ("menuitem",), "option": ("option", "radio"),
    "result": ("link",), "icon": ("icon",), "folder": ("listitem", "treeitem"), "file": ("listitem", "treeitem"),
}
MIN_MATCH = 1.0  # below this nothing on the page matches a goal's target
SUBMIT_WORDS = {"submit", "ok", "search", "login", "log", "sign", "send", "continue", "next", "save", "go", "done"}


@dataclass
class EpisodeState:
    """What the step-wise loop has done so far (to avoid repeating itself)."""

    clicked: Counter[str] = field(default_factory=Counter)  # fingerprints
    filled: dict[str, str] = field(default_factory=dict)  # fingerprint -> value
    used_values: set[str] = field(default_factory=set)


def norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9@#]+", (text or "").lower()))


def phrase_in(phrase: str, text: str) -> bool:
    """Whole-word containment of normalized ``phrase`` in normalized ``text``."""
    p, t = norm(phrase), norm(text)
    return bool(p) and f" {p} " in f" {t} "


def names_value(obs: Observation, cand: Candidate, value: str) -> bool:
    """Whether the candidate's element carries the quoted ``value`` in its name or label."""
    el = obs.element(cand.ref)
    if norm(value) in _kind_words(el):
        return True
    return any(norm(value) and (norm(t) == norm(value) or phrase_in(value, t)) for t in (el.name, el.label, el.hint))


def _kind_words(el: Element) -> set[str]:
    kinds = {el.role, el.tag}
    if el.type:
        kinds.add(el.type)
    if el.tag == "textarea":
        kinds.add("textarea")
    if el.kind == "control" and not el.name.strip():
        kinds.add("icon")
    return kinds


class Ranker:
    """Scores elements of one observation against goals; word weights are per observation (IDF)."""

    def __init__(self, obs: Observation, instruction: str) -> None:
        self.obs = obs
        self.instruction = instruction
        self.controls = [e for e in obs.elements if e.kind == "control" and not e.disabled]
        docs = [set(words(e.words + " " + e.context)) for e in self.controls] or [set()]
        df: Counter[str] = Counter(w for d in docs for w in d)
        self.idf = {w: math.log(1 + len(docs) / c) for w, c in df.items()}

    def weight(self, word: str) -> float:
        return self.idf.get(word, math.log(1 + len(self.controls) or 1))

    def overlap(self, query: str, text: str) -> float:
        q, t = set(words(query)), set(words(text))
        return sum(self.weight(w) for w in q & t)

    def fits_type(self, goal_words: list[str], el: Element) -> float:
        score = 0.0
        kinds = _kind_words(el)
        for w in goal_words:
            if w in TYPE_WORDS:
                score += 1.0 if kinds & set(TYPE_WORDS[w]) else -0.5
        return score

    def ordinal_index(self, goal: Goal, el: Element, pool: list[Element]) -> float:
        if goal.ordinal is None:
            return 0.0
        typed = [w for w in words(goal.target) if w in TYPE_WORDS]
        same = [e for e in pool if not typed or _kind_words(e) & set(TYPE_WORDS[typed[0]])] or pool
        same = sorted(same, key=lambda e: (e.box[1], e.box[0]))
        idx = goal.ordinal - 1 if goal.ordinal > 0 else len(same) - 1
        return 4.0 if 0 <= idx < len(same) and same[idx].ref == el.ref else 0.0

    def name_score(self, goal: Goal, el: Element) -> float:
        score = 0.0
        name = el.name
        if goal.value and norm(goal.value) and norm(name) == norm(goal.value):
            score += 5.0
        elif goal.value and norm(name) and (phrase_in(goal.value, name) or phrase_in(name, goal.value)):
            score += 2.5
        if goal.affixes and name.lower().startswith(goal.affixes[0].lower()) \
                and name.lower().endswith(goal.affixes[1].lower()):
            score += 5.0
        if goal.value and norm(goal.value) in _kind_words(el):
            score += 3.0  # 'a "textarea" widget': the quoted word names the kind of element
        if name and len(norm(name)) >= 1 and phrase_in(name, goal.target):
            score += 2.0 + min(1.0, len(norm(name)) / 6)
        score += self.overlap(goal.target, el.words + " " + el.hint)
        score += self.fits_type(words(goal.target), el)
        numbers = {w for w in words(goal.target) if w.isdigit()}
        if numbers - set(words(el.words + " " + el.hint + " " + el.context)):
            # A number the user named ("invoice 3", "row 12") identifies the thing: no match without it.
            score = min(score, MIN_MATCH - 0.01)
        if goal.context:
            near = 0.8 * self.overlap(goal.context, el.context + " " + el.name)
            # The surroundings pick among elements that match; alone they do not make a match.
            score = score + near if score >= 0.5 or not goal.target else min(score + near, MIN_MATCH - 0.01)
        return score


def _cand(verb: str, el: Element, value: str | None, lexical: float) -> Candidate:
    label = el.name or el.label or el.near or el.placeholder or el.hint
    return Candidate(verb=verb, ref=el.ref, value=value, answer=format_action(verb, el.ref, label, value),  # type: ignore[arg-type]
                     lexical=lexical, score=lexical)


def candidates(goal: Goal, obs: Observation, instruction: str, state: EpisodeState,
               values: dict[str, str] | None = None) -> list[Candidate]:
    """Every allowed action for ``goal`` on ``obs``, best lexical score first."""
    r = Ranker(obs, instruction)
    out: list[Candidate] = []
    if goal.verb == "fill":
        out = _fill(goal, r, state, values or {})
    elif goal.verb == "select":
        out = _select(goal, r, state)
    elif goal.verb in ("check", "uncheck"):
        pool = [e for e in r.controls if e.checkable]
        for el in pool:
            if (el.checked is True) == (goal.verb == "check"):
                continue
            s = r.name_score(goal, el) + r.ordinal_index(goal, el, pool)
            out.append(_cand(goal.verb, el, None, s))
    else:
        out = _click(goal, r, state)
    return sorted(out, key=lambda c: -c.lexical)


def _click(goal: Goal, r: Ranker, state: EpisodeState) -> list[Candidate]:
    out = []
    pool = r.controls
    for el in pool:
        s = r.name_score(goal, el) + r.ordinal_index(goal, el, pool)
        if goal.verb == "focus":
            s += 2.0 if el.editable else -1.0
        if goal.verb == "submit":
            s += 1.5 * len(set(words(el.name)) & SUBMIT_WORDS) + (0.5 if el.role == "button" else 0.0)
        if el.editable and goal.verb not in ("focus",) and not any(w in ("textbox", "input", "field", "textarea")
                                                                  for w in words(goal.target)):
            s -= 1.0  # clicking into a text box rarely does what "click X" means
        s -= 2.0 * state.clicked[el.fingerprint]
        if el.container:
            s -= 1.5
        out.append(_cand("click", el, None, s))
    return out


def _fill(goal: Goal, r: Ranker, state: EpisodeState, values: dict[str, str]) -> list[Candidate]:
    fields = [e for e in r.controls if e.editable]
    out = []
    for value in _fill_values(goal, r, state, values):
        for el in fields:
            if state.filled.get(el.fingerprint) == value or (el.value or "") == value:
                continue
            s = r.name_score(goal.model_copy(update={"value": None}), el) + r.ordinal_index(goal, el, fields)
            s += _value_fits_field(goal, value, el, r)
            if state.filled.get(el.fingerprint) is not None:
                if goal.free_values:
                    continue  # spreading values over a form: one value a field
                s -= 2.0  # a field already typed into by this episode
            out.append(_cand("fill", el, value, s))
    return out


def _fill_values(goal: Goal, r: Ranker, state: EpisodeState, values: dict[str, str]) -> list[str]:
    if goal.value is not None:
        return [goal.value]
    if goal.free_values:
        labels = {w for e in r.controls if e.editable for w in words(e.words)}
        return [v for v in goal.free_values if v not in state.used_values and not set(words(v)) & labels]
    looked = lookup_value(goal.context, r.obs)
    return [looked] if looked else []


def _value_fits_field(goal: Goal, value: str, el: Element, r: Ranker) -> float:
    """A free value right after a word naming the field ('year 2011', 'directed by Holloway')."""
    if not goal.free_values:
        return 0.0
    tokens = goal.free_values
    field_words = set(words(el.words))
    i = tokens.index(value) if value in tokens else -1
    if i > 0 and set(words(tokens[i - 1])) & field_words:
        return 3.0
    if value.isdigit() and field_words & {"year", "number", "age", "count", "amount", "zip", "phone"}:
        return 2.0
    return 0.0


def lookup_value(key: str, obs: Observation) -> str | None:
    """'the value of Gender': the text next to the text 'Gender' on the same row (a key-value table)."""
    if not key:
        return None
    els = list(obs.elements)
    for i, el in enumerate(els):
        if el.kind != "text" or norm(el.name) != norm(key):
            continue
        row = [e for e in els[i + 1:i + 4] if e.kind == "text" and abs(e.box[1] - el.box[1]) <= 4 and e.box[0] > el.box[0]]
        if row:
            return row[0].name
    return None


def _select(goal: Goal, r: Ranker, state: EpisodeState) -> list[Candidate]:
    out = []
    value = goal.value or ""
    for el in r.controls:
        if el.selectable and el.options:
            for opt in el.options:
                if norm(opt) == norm(value) and norm(el.value or "") != norm(value):
                    out.append(_cand("select", el, opt, 5.0 + r.overlap(goal.target, el.words)))
        elif el.checkable:
            if el.checked:
                continue
            s = r.name_score(goal, el)
            if s > 0:
                out.append(_cand("check", el, None, s + 0.5))
        else:
            s = r.name_score(goal, el) - 2.0 * state.clicked[el.fingerprint]
            if norm(el.name) == norm(value):
                out.append(_cand("click", el, None, s))
    return out


def revealer(el: Element) -> float:
    """How much an element looks like it shows more of the page (a tab, a folder, a pager)."""
    hint = norm(el.hint)
    name = norm(el.name)
    if el.role == "tab" and el.selected is not True:
        return 1.0
    if el.expanded is False or any(w in hint for w in ("expand", "collapsed", "closed", "toggle")):
        return 1.0
    if name in ("next", "more", "show more", "load more") or el.name.strip() in (">", "»", "›"):
        return 0.8
    if not name and set(hint.split()) & {"more", "menu", "dropdown", "options", "ellipsis", "kebab"}:
        return 0.8
    if el.role == "link" and name.isdigit():
        return 0.6
    if el.role == "treeitem":
        return 0.6
    return 0.0


def seek_candidates(goal: Goal, obs: Observation, instruction: str, state: EpisodeState) -> list[Candidate]:
    """When nothing matches the goal: controls that may reveal it (tabs, folders, pagers)."""
    r = Ranker(obs, instruction)
    out = []
    for el in r.controls:
        base = revealer(el)
        if base <= 0 or el.editable or state.clicked[el.fingerprint]:
            continue
        s = base + 0.5 * r.overlap(goal.context + " " + goal.target, el.words + " " + el.context)
        out.append(_cand("click", el, None, s))
    if not out and goal.context:
        # Nothing to expand: open the item the instruction points at ("the email by Helena").
        for el in r.controls:
            if el.editable or state.clicked[el.fingerprint]:
                continue
            s = r.overlap(goal.context, el.name) + 0.3 * r.overlap(goal.context, el.context)
            if s > 0 and el.name:
                out.append(_cand("click", el, None, s - (1.0 if el.container else 0.0)))
    return sorted(out, key=lambda c: -c.lexical)
