"""Filling a skill's params from an instruction: every value is a span of it, or one of the param's choices.

Deterministic, in three passes over the spans (``text.spans``): a param with ``choices`` takes a span that
is one of them; a typed param (email, url, date, number, or a code shaped like its default such as
``INV-1007``) takes a one-token span of that form (a date written out, "March 15, 2027", is taken as
2027-03-15); a text param takes a run of words that are not the
skills' own words, capitalized like its default (``Globex``, ``Ada Lovelace``), or any word right after a
cue from its name or description (``as bob`` for "The sandbox user to sign in as."). A span goes to one
param only, and the strongest evidence is placed first. Secrets are never params, so never filled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.plan import Plan
from engine.planner.task import SAME_THING
from engine.skills.models import Filled
from engine.dates import written_dates
from engine.skills.text import STOP, Span, fits_type, spans, stem, tokens, value_like, value_type, words

# Evidence of each way a value was found (also what a filled param adds to its skill's score).
STRENGTH = {"choice": 1.0, "typed": 1.0, "cued": 0.8, "name": 0.5}


@dataclass(frozen=True)
class Found:
    param: str
    span: Span
    value: str
    how: str  # a key of STRENGTH

    @property
    def strength(self) -> float:
        return STRENGTH[self.how]


def _capitalized(word: str) -> bool:
    return word[:1].isupper()


def _name_like(span: Span, text: str, vocabulary: set[str], default: str) -> bool:
    """Words only, none of them the skills' own words; capitalized like the default (inner particles
    such as 'von' allowed between capitalized words)."""
    toks = tokens(span.text)
    if any(any(c.isdigit() or c in "@/:" for c in t.text) for t in toks):
        return False
    if any(stem(t.text) in vocabulary for t in toks):
        return False
    if any(t.low.endswith(("'s", "’s")) for t in toks[:-1]):
        return False  # "Ada's colleague Joan Clarke": whose, then the name
    if _capitalized(default):
        return _capitalized(toks[0].text) and _capitalized(toks[-1].text) and toks[0].text.lower() != "i"
    return len(toks) == 1 and toks[0].text.islower()


def _cues(name: str, description: str | None) -> set[str]:
    """Words that announce this param's value: its name's words, and its description's words."""
    out = {stem(w) for w in name.split("_") if w} | set(words(description or ""))
    last = (description or "").split()[-1:] or [""]
    if last[0].lower().strip(".,;:") in STOP:  # "... to sign in as." / "... the request is for."
        out.add(last[0].lower().strip(".,;:"))
    return out


_DETERMINERS = {"the", "my", "our", "your", "his", "her", "their"}


def _cued(span: Span, toks: list, cues: set[str]) -> bool:
    """One of the two words before the span is a cue, or another name for one ("my login is oscar")."""
    def cue(t) -> bool:  # the other name as written (or its plural): "Accounting" is a department, not an account
        return t.low in cues or stem(t.text) in cues or any(s in cues for s in SAME_THING.get(t.low.removesuffix("s"), ()))

    before = [toks[i] for i in range(max(0, span.first - 2), span.first)]
    # ... or the cue right after a determiner and the value: "using the dave account"
    after = span.last < len(toks) and span.first and toks[span.first - 1].low in _DETERMINERS and cue(toks[span.last])
    return any(cue(t) for t in before) or bool(after)


def candidates(plan: Plan, text: str, vocabulary: set[str]) -> list[Found]:
    """Every (param, span) that could hold the param's value, with how it was found."""
    toks = tokens(text)
    found: list[Found] = []
    all_spans = spans(text)
    # A function word is a value only as written: "IT" is a department, "it" is not.
    words_as_written = [Span(t.text, t.start, t.end, i, i + 1) for i, t in enumerate(toks) if t.low in STOP]
    dates = []  # "March 15, 2027": the date a date param takes as 2027-03-15
    for a, b, iso in written_dates(text):
        inside = [i for i, t in enumerate(toks) if a <= t.start and t.end <= b]
        if inside:
            dates.append((Span(text[a:b], a, b, inside[0], inside[-1] + 1), iso))
    for name, p in plan.params.items():
        kind = value_type(p.type, p.default)
        # a word that several params' descriptions share announces none of them ("sandbox": where it runs,
        # and whom to sign in as); a param's own name always does
        shared = {w for other, q in plan.params.items() if other != name for w in words(q.description or "")}
        cues = _cues(name, p.description) - (shared - {stem(w) for w in name.split("_") if w})
        if kind == "date" and not p.choices:
            found += [Found(name, sp, iso, "typed") for sp, iso in dates]
        for sp in words_as_written if p.choices else []:
            if sp.text in p.choices:
                found.append(Found(name, sp, sp.text, "choice"))
        for sp in all_spans:
            one = sp.last - sp.first == 1
            if p.choices:
                hit = next((c for c in p.choices if c.lower() == sp.text.lower()), None)
                if hit is not None:
                    found.append(Found(name, sp, hit, "choice"))
                continue
            value = sp.text.removesuffix("'s").removesuffix("’s")  # "Soylent's invoices": Soylent
            if kind != "text":
                if one and fits_type(kind, value, p.default):  # "INV-1011's CSV": INV-1011
                    found.append(Found(name, sp, value, "typed"))
                continue
            if not fits_type("text", sp.text, p.default) or not _name_like(sp, text, vocabulary, p.default or ""):
                continue
            if _cued(sp, toks, cues):
                found.append(Found(name, sp, value, "cued"))
            elif _capitalized(p.default or "") and sp.last - sp.first >= len((p.default or "").split()):
                # uncued, a name is as long as the param's own ("Ada Lovelace" takes a full name, never a
                # capitalized first word: "Cancel service request ...")
                found.append(Found(name, sp, value, "name"))
    return found


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def assign(found: list[Found]) -> list[Found]:
    """At most one value per param and one param per span: strongest first, then the longest span."""
    order = sorted(found, key=lambda f: (-f.strength, -(f.span.end - f.span.start), f.span.start))
    taken: list[Found] = []
    for f in order:
        if any(t.param == f.param or _overlaps(t.span, f.span) for t in taken):
            continue
        taken.append(f)
    # A name-like run that does not hold its own param is no value at all (it may hold a longer one).
    return taken


def fill(plan: Plan, text: str, vocabulary: set[str]) -> tuple[dict[str, Filled], float, int]:
    """(filled params, evidence they add to the skill, value-like tokens of ``text`` left unplaced)."""
    chosen = assign(candidates(plan, text, vocabulary))
    out = {f.param: Filled(value=f.value, source="choice" if f.how == "choice" else "span", start=f.span.start,
                           end=f.span.end) for f in chosen}
    evidence = sum(f.strength for f in chosen if f.how != "name") + 0.25 * sum(1 for f in chosen if f.how == "name")
    return out, evidence, len(unplaced(text, [(f.span.start, f.span.end) for f in chosen]))


def unplaced(text: str, placed: list[tuple[int, int]]) -> list[str]:
    """The value-like tokens of ``text`` outside the ``placed`` character ranges."""
    return [t.text for t in tokens(text) if value_like(t.text) and not any(a <= t.start and t.end <= b for a, b in placed)]


def covered(text: str, filled: dict[str, Filled]) -> list[tuple[int, int]]:
    """Character ranges of ``text`` that hold param values."""
    out = []
    for f in filled.values():
        if 0 <= f.start < f.end:
            out.append((f.start, f.end))
        if f.value.strip():  # the value said again ("our Umbrella account - ... invoices from Umbrella")
            out += [(m.start(), m.end()) for m in re.finditer(rf"(?<!\w){re.escape(f.value)}(?!\w)", text)]
    return out


__all__ = ["Found", "candidates", "assign", "fill", "covered", "STOP"]
