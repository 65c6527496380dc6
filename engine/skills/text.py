"""Words, spans and shapes of instructions and skills: the lexical half of routing (pure functions).

A token keeps values whole (``INV-1042``, ``ada@example.com``, ``http://127.0.0.1:9000``, ``2026-10-01``);
trailing punctuation is not part of it. A span is a run of tokens with its character offsets, so that a
param value is always text that stands in the instruction.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from engine.plan import Plan

TOKEN_RE = re.compile(r"[^\W_][\w@.:/+'\-]*(?:[^\W_]|/)|[^\W_]")  # letters of any script
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
URL_RE = re.compile(r"^https?://\S+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NUMBER_RE = re.compile(r"^-?\d+(?:[.,]\d+)?$")
# Function words carry no evidence for a skill and never start or end a param value.
STOP = frozenset("""a an the and or of to for from in on at by with as is are be it its me my i we you your our
their them this that these those then than so do does did can could would should will shall please
what which who whom whose how when where why all every each any some one there here have has had get
give want need let just also into onto about after before first next afterwards now up out ones
# quantifiers, forms of be/have/get, and the courtesies of a request: no evidence either
many much few several lot lots am was were been being got gotten pls plz kindly hi hey hello thanks thank
thx ok okay really actually maybe anything something everything nothing
u ur well whats hows whos thats theres heres lets can't cannot don't won't isn't aren't doesn't didn't wasn't weren't couldn't wouldn't shouldn't""".split())
SEQUENCE_MARKERS = re.compile(
    r"\s*(?:,|;)?\s*\b(?:and\s+)?(?:then|after that|afterwards|followed by|"
    r"(?:once|when|after)\s+(?:that|it|this)(?:'s|\s+is|\s+has\s+been)?\s+(?:done|finished|complete)(?:\s*,)?)\b\s*"
    r"|\s*;\s*", re.IGNORECASE)
# Sentences and comma clauses: a request often comes with context ("it's for the month-end pack").
CLAUSES = re.compile(r"[.?!;,]+(?:\s+|$)|\s+(?:because|since|as)\s+|\s+[-–—]+\s+")  # "... account - can you ..."


def is_stop(low: str) -> bool:
    """A function word, or one with a clitic ("it's", "we're", "whats"): no value starts or ends with it."""
    return low in STOP or re.sub(r"['’](?:s|re|m|ve|d|ll)$", "", low) in STOP


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int

    @property
    def low(self) -> str:
        return self.text.lower()


@dataclass(frozen=True)
class Span:
    text: str
    start: int
    end: int
    first: int  # token indexes, end exclusive
    last: int


def tokens(text: str) -> list[Token]:
    return [Token(m.group(0), m.start(), m.end()) for m in TOKEN_RE.finditer(text)]


def stem(word: str) -> str:
    """A light suffix stripper: enough to match invoice/invoices, search/searching, submit/submitted."""
    w = word.lower()
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: len(w) - len(suffix)] + repl
    if w.endswith(("ches", "shes", "xes", "zes")) and len(w) > 5:
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def words(text: str) -> list[str]:
    """Content word stems: no function words, no values (digits, emails, URLs)."""
    return [w for w, _, _ in content_tokens(text)]


def spans(text: str, max_tokens: int = 4) -> list[Span]:
    """Every run of up to ``max_tokens`` tokens that neither starts nor ends with a function word."""
    toks = tokens(text)
    stop = [is_stop(t.low) for t in toks]
    out = []
    for i in range(len(toks)):
        if stop[i]:
            continue
        for j in range(i, min(len(toks), i + max_tokens)):
            if stop[j]:
                continue
            if any(c in text[toks[k].end:toks[k + 1].start] for k in range(i, j) for c in ",;()"):
                break  # a value never runs across a comma or a bracket
            out.append(Span(text[toks[i].start:toks[j].end], toks[i].start, toks[j].end, i, j + 1))
    return out


def shape(value: str) -> str:
    """Character classes, runs collapsed: ``INV-1007`` -> ``A-9``, ``Ada Lovelace`` -> ``Aa Aa``."""
    out = []
    for c in value:
        k = "9" if c.isdigit() else "A" if c.isupper() else "a" if c.isalpha() else c
        if not out or out[-1] != k:
            out.append(k)
    return "".join(out)


def value_type(declared: str | None, default: str | None) -> str:
    """The kind of value a param takes: declared, else guessed from its default's form."""
    if declared:
        return declared
    d = default or ""
    for kind, rx in (("email", EMAIL_RE), ("url", URL_RE), ("date", DATE_RE), ("number", NUMBER_RE)):
        if rx.match(d):
            return kind
    return "code" if any(c.isdigit() for c in d) else "text"


def fits_type(kind: str, value: str, default: str | None) -> bool:
    if kind == "email":
        return bool(EMAIL_RE.match(value))
    if kind == "url":
        return bool(URL_RE.match(value))
    if kind == "date":
        return bool(DATE_RE.match(value))
    if kind == "number":
        return bool(NUMBER_RE.match(value))
    if kind == "code":  # like its default: INV-1007 takes INV-1042, not a word
        return default is not None and shape(value) == shape(default)
    return not any(rx.match(value) for rx in (EMAIL_RE, URL_RE, DATE_RE)) and not any(c.isdigit() for c in value)


def skill_text(plan: Plan) -> dict[str, str]:
    """The words a skill is known by, in fields of decreasing weight."""
    labels = []
    for step in plan.steps:
        for loc in step.target.locators if step.target is not None else []:
            for v in (loc.name, loc.label, loc.placeholder, loc.text, loc.title, loc.alt_text):
                if v and "{{" not in v:
                    labels.append(v)
        if step.output:
            labels.append(step.output)
    params = [f"{k} {p.description or ''}" for k, p in plan.params.items()]
    return {"name": plan.name, "description": plan.description, "params": " ".join(params),
            "steps": " ".join(labels)}


FIELD_WEIGHTS = {"name": 3.0, "description": 2.0, "params": 1.0, "steps": 1.0}


class LexicalIndex:
    """Weighted word overlap of an instruction with each skill, rarer words counting more (idf)."""

    def __init__(self, plans: list[Plan]) -> None:
        self.names = [p.name for p in plans]
        self.docs: list[Counter[str]] = []
        for plan in plans:
            doc: Counter[str] = Counter()
            for fld, text in skill_text(plan).items():
                for w in set(words(text)):
                    doc[w] = max(doc[w], FIELD_WEIGHTS[fld])
            self.docs.append(doc)
        n = len(plans)
        df = Counter(w for d in self.docs for w in d)
        self.idf = {w: math.log((n + 1) / (c + 0.5)) + 0.1 for w, c in df.items()}

    def scores(self, text: str) -> tuple[list[float], float]:
        """(score per skill, share of the instruction's content words no skill knows)."""
        ws = words(text)
        if not ws:
            return [0.0] * len(self.docs), 1.0
        out = [sum(self.idf.get(w, 0.0) * d.get(w, 0.0) for w in ws) / len(ws) for d in self.docs]
        unknown = sum(1 for w in ws if w not in self.idf) / len(ws)
        return out, unknown


def split_sequence(text: str) -> list[str]:
    """"do X, then Y" -> ["do X", "Y"]; one part when the instruction names no order."""
    parts = [p.strip(" ,.;") for p in SEQUENCE_MARKERS.split(text)]
    return [p for p in parts if p] or [text.strip()]


# What each plan verb does, in the words people use for it: a skill whose steps download knows "fetch".
# General English, one table for every skill; a verb no skill's steps or words know (delete, pay,
# cancel, ...) stays unexplained, and unexplained words are evidence that no skill fits.
ACTION_WORDS = {
    "goto": "open go visit navigate browse",
    "click": "click press open follow choose",
    "fill": "fill enter type write put input provide complete",
    "select": "select choose pick set",
    "check": "check tick accept agree enable",
    "uncheck": "uncheck untick disable clear",
    "upload": "upload attach",
    "download": "download fetch grab save export retrieve pull get obtain",
    "extract": "read get show tell give fetch retrieve return look see view find list count display lookup",
    "assert": "check verify confirm ensure",
    "wait_for": "wait",
    "hover": "hover point",
}
# Common control words of forms and lists, with the words people use for them.
UI_WORDS = {
    "submit": "submit send file raise create make place lodge open put request apply",
    "search": "search find look lookup query list show filter check",
    "sign": "sign log login",
    "confirm": "confirm approve",
}


# Things forms and lists show, with the other words people use for them.
THING_WORDS = {
    "total": "amount sum",
    "request": "ticket",
    "invoice": "bill",
    "supplier": "vendor seller",
}


def skill_vocabulary(plan: Plan) -> set[str]:
    """Stems that a skill explains: its own words, what its verbs do, the usual words for its controls."""
    own = set()
    for text in skill_text(plan).values():
        own |= set(words(text))
    out = set(own)
    for step in plan.steps:
        out |= set(words(ACTION_WORDS.get(step.action.value, "")))
    for key, synonyms in (UI_WORDS | THING_WORDS).items():
        if stem(key) in own:
            out |= set(words(synonyms))
    return out


def edit1(a: str, b: str) -> bool:
    """One typo apart: one letter inserted, dropped, changed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                   and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def value_like(token: str) -> bool:
    """A token that is a value whatever the words around it: a number, an e-mail address, a URL."""
    return any(c.isdigit() for c in token) or "@" in token or "://" in token


# A value said again in place of one said before: "INV-1040. Actually no, scratch that, make it INV-1041".
CORRECTION = re.compile(r"\b(?:(?:actually|oops|sorry|wait)[,.!]?\s+(?:no[,.!]?\s+)?(?:scratch\s+that[,.!]?\s+)?|"
                        r"(?:no[,.!]?\s+)?scratch\s+that[,.!]?\s+)(?:(?:make\s+(?:it|that)|i\s+mean[t]?|rather|instead)\b[,:]?\s*)?",
                        re.IGNORECASE)


def corrected(text: str) -> str:
    """The text with each value a correction replaces taken out: one of the same shape said before it."""
    m = CORRECTION.search(text)
    if not m:
        return text
    before, after = text[:m.start()], text[m.end():]
    new = {shape(t.text.rstrip(".,;:!?")) for t in tokens(after) if value_like(t.text)}
    if not new:
        return text
    kept = before
    for t in reversed(tokens(before)):
        if shape(t.text.rstrip(".,;:!?")) in new:
            kept = kept[:t.start] + kept[t.end:]
    return text if kept == before else " ".join((kept + text[m.start():]).split())


def correct_typos(text: str, known: set[str], keep: set[str] = frozenset()) -> str:
    """Lower-case words of five letters or more that no skill knows, one typo from exactly one stem a
    skill knows of five letters or more, are read as that stem ("dowload" -> "download").
    Capitalized words, values and the words in ``keep`` (allowed values of params) stay."""
    def fix(m: re.Match[str]) -> str:
        w = m.group(0)
        if len(w) < 5 or not w.isalpha() or not w.islower() or w in STOP or w in keep or stem(w) in known:
            return w
        near = {k for k in known if len(k) >= 5 and edit1(w, k)}
        return near.pop() if len(near) == 1 else w
    return re.sub(r"[A-Za-z]+", fix, text)


def content_tokens(text: str) -> list[tuple[str, int, int]]:
    """(stem, start, end) of each content word, in order (the words ``words`` keeps)."""
    out = []
    for t in tokens(text.replace("_", " ")):
        low = t.low.removesuffix("'s")
        if is_stop(low) or any(c.isdigit() for c in low) or "@" in low or "://" in low:
            continue
        for part in re.split(r"[-/]", low):
            if part and part not in STOP and len(part) > 1:
                out.append((stem(part), t.start, t.end))
    return out
