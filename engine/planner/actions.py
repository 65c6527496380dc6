"""Every action the page allows, each with a lexical prior: the model's choices at one step.

Actions come only from the observation (refs that exist) and values only from the instruction
(its literals, parameters and secret names), so whatever is chosen is valid by construction. The
prior is a score, not a filter: nothing the page offers is left out, the model sees the best few.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit
from collections import Counter
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from bots.observe import Element, Observation
from engine.dates import TYPED_INPUTS, input_value
from engine.planner.prompts import format_action
from engine.planner.ledger import TRANSFER, TRANSFER_OUT, is_finder, option_is, picks_right
from engine.planner.task import STOP as STOP_WORDS
from engine.planner.task import (KIND_WORDS, CONFIRM_FIELD, CONTROL_WORDS, SAME_THING, SUBMIT_WORDS, Part, Task, Value,
                                 content,
                                 intent_of, norm, says, stem, without_values, words)

if TYPE_CHECKING:
    from engine.planner.ledger import Ledger

Verb = Literal["click", "fill", "select", "check", "uncheck", "press", "read", "download", "back", "done", "stuck"]
NEGATIVE = {stem(w) for w in ("cancel", "reset", "clear", "no", "back", "close", "delete", "remove", "logout",
                              "signout", "skip", "toggle", "theme", "previous", "help", "privacy", "terms")}
LEAVING = ("log out", "sign out", "logout", "log off")
MAX_OPTIONS = 40


class Choice(BaseModel):
    """One allowed action on the current observation."""

    model_config = ConfigDict(frozen=True)

    verb: Verb
    ref: str | None = None
    value: str | None = None
    answer: str
    prior: float = 0.0
    model: float | None = None
    score: float = 0.0
    clause: int | None = None  # the clause of the instruction whose part this action would do


def _choice(verb: Verb, el: Element | None, value: str | None, prior: float, clause: int | None = None) -> Choice:
    if el is None:
        return Choice(verb=verb, answer=verb, prior=prior, score=prior)
    label = el.name or el.label or el.near or el.placeholder or el.hint
    return Choice(verb=verb, ref=el.ref, value=value, answer=format_action(verb, el.ref, label, value),
                  prior=prior, score=prior, clause=clause)


ORDER_PENALTY = 2.5  # doing a later clause's part while an earlier clause is still open


def _in_order(c: Choice, first_open: int | None) -> Choice:
    if c.clause is None or first_open is None or c.clause <= first_open:
        return c
    return c.model_copy(update={"prior": c.prior - ORDER_PENALTY, "score": c.prior - ORDER_PENALTY})


def element_words(el: Element) -> set[str]:
    """Every word a person could call this element by (stemmed), compounds split ('Username')."""
    text = el.words + " " + (el.hint if not el.name else "")
    out = set(words(text))
    for w in re.findall(r"[a-z]+", text.lower()):  # compounds, before stemming hides them: "username"
        for part in ("name", "user", "pass", "word", "mail", "login", "search"):
            if part in w and w != part:
                out.add(stem(part))
    return out


def names_attribute(part: Part, el: Element) -> bool:
    """The control is the one the attribute part is about: it bears the attribute's word ("Staff status"),
    or, for an attribute said by what it allows, its help text says at least two of those words
    ("Designates whether the user can log into this admin site")."""
    own = element_words(el)
    if not part.described:
        return bool(set(part.words) & own)
    said = own | set(words(el.context))
    return len(set(part.words) & said) >= min(2, len(part.words))


def fit(field_words: tuple[str, ...], el: Element, page_words: set[str]) -> float:
    """How much of a value's field words this field's label or the page's heading says (0 to 1):
    "first name" fits "First name:" (1.0) and only half fits "Username:"."""
    if not field_words:
        return 1.0
    own = element_words(el) | page_words  # not its block: a sidebar's block names every model of the site
    if el.type == "password":
        own.add(stem("password"))
    if el.type == "email":
        own.add(stem("email"))
    own |= {stem(k) for k, roles in KIND_WORDS.items() if el.role in roles}  # "the text field" is any textbox
    said = [w for w in set(field_words)
            if w in own or any(len(w) >= 5 and len(o) >= 5 and (o.startswith(w) or w.startswith(o)) for o in own)
            or any(o.startswith(same) for same in SAME_THING.get(w, ()) for o in own)]  # "account": "Username:"
    return len(said) / len(set(field_words))


def fits(field_words: tuple[str, ...], el: Element, page_words: set[str]) -> bool:
    """Every field word of a value is said by the field or its page (what accounts a value)."""
    return fit(field_words, el, page_words) >= 0.999


def _shape_fit(value: Value, el: Element) -> float:
    """A value whose form says what it is: an e-mail, a date, a number, a secret."""
    text, own = value.text, element_words(el)
    if value.kind == "secret":
        return 3.0 if el.type == "password" else -3.0
    if el.type == "password":
        return 1.0 if stem("password") in value.field else -2.5
    if "@" in text:
        return 2.0 if el.type == "email" or stem("email") in own else -0.5
    if el.type in TYPED_INPUTS:  # a date or time input takes only a value of its kind
        return 2.0 if input_value(el.type, text) is not None else -3.0
    if input_value("date", text) is not None:
        return 1.0 if stem("date") in own else 0.0
    if re.fullmatch(r"[\d.,]+", text):
        return 1.0 if el.type == "number" else 0.0
    return 0.0


class Scorer:
    """Lexical evidence on one observation; word weights are per observation (IDF). Only the words
    of the clauses still to do count: after signing in, 'password' no longer draws the bot to a
    'Change password' link."""

    def __init__(self, task: Task, obs: Observation, clauses: set[int] | None = None,
                 held_back: frozenset[str] = frozenset()) -> None:
        self.task, self.obs = task, obs
        self.controls = [e for e in obs.elements if e.kind == "control" and not e.disabled]
        docs = [element_words(e) | set(words(e.context)) for e in self.controls] or [set()]
        df: Counter[str] = Counter(w for d in docs for w in d)
        self.idf = {w: math.log(1 + len(docs) / c) for w, c in df.items()}
        self.says_all = bool(re.search(r"\b(?:all|every|each|both)\b", task.instruction, re.I))
        self.page_words = set(words(obs.title)) | {w for e in obs.elements if e.role == "heading" for w in words(e.name)}
        open_clauses = clauses if clauses else set(range(len(task.clauses)))
        value_words = {w for v in task.values for w in words(v.text)}
        self.want = {w for i, c in enumerate(task.clauses) if i in open_clauses
                     for w in content(without_values(c))} - value_words or set(task.words) - value_words
        for i in open_clauses:
            self.want |= {stem(w) for w in CONTROL_WORDS.get(task.clause_intent(i) or "", ())}
        # What a value is, where the instruction's words do not say it ("abennett's e-mail": a user).
        self.want |= {w for v in task.values if v.clause in open_clauses and v.kind == "literal" for w in v.field}
        self.want |= {s for w in self.want for s in SAME_THING.get(w, ())}
        self.want -= held_back
        # The work is done in the order it is written: the earliest open clause's words count more.
        first = min(clauses, default=None) if clauses else None  # none open: no order to keep
        self.first: set[str] = set()
        if first is not None and first < len(task.clauses) and len(open_clauses) > 1:
            self.first = set(content(without_values(task.clauses[first]))) - value_words
            self.first |= {stem(w) for w in CONTROL_WORDS.get(task.clause_intent(first) or "", ())}
            self.first |= {s for w in self.first for s in SAME_THING.get(w, ())}
            self.first -= held_back

    def weight(self, word: str) -> float:
        return self.idf.get(word, math.log(1 + max(1, len(self.controls))))

    def relevance(self, el: Element, want: set[str] | None = None) -> float:
        want = self.want if want is None else want
        own = element_words(el)
        near = set(words(el.context)) - own
        first = self.first & want
        return sum(self.weight(w) for w in want & own) + 0.4 * sum(self.weight(w) for w in want & near) + \
            0.5 * sum(self.weight(w) for w in first & own) + 0.2 * sum(self.weight(w) for w in first & near)


def label_of(obs: Observation, el: Element) -> str:
    """The words that name a piece of text: the text before it on its row (a table cell, "Total:"),
    else the line just above it (a definition term)."""
    els = list(obs.elements)
    i = next((k for k, e in enumerate(els) if e.ref == el.ref), -1)
    before = [p for p in reversed(els[max(0, i - 3):i]) if p.kind == "text" and p.name]
    for prev in before:
        if abs(prev.box[1] - el.box[1]) <= max(4, el.box[3] // 2) and prev.box[0] < el.box[0]:
            return prev.name
    for prev in before:
        if 0 < el.box[1] - prev.box[1] <= max(40, 2 * prev.box[3]) and abs(prev.box[0] - el.box[0]) <= 40:
            return prev.name
    return ""


def names_value(el: Element, value: Value) -> bool:
    v = norm(value.text)
    if v in KIND_WORDS and el.role in KIND_WORDS[v]:
        return True  # 'click on a "checkbox" widget': the quoted word is a kind of element
    return bool(v) and any(f" {v} " in f" {norm(t)} " for t in (el.name, el.label, el.value or "") if t)


def looked_up(obs: Observation, label: str) -> str | None:
    """'the value of Last name': the text the page shows next to that label (a table row, a term)."""
    want = norm(label)
    for el in obs.elements:
        if el.kind == "text" and el.name and norm(label_of(obs, el)) == want and norm(el.name) != want:
            return el.name.strip()
    return None


def exactly_named(el: Element, value: Value) -> bool:
    """The element's whole name is the value (the link "Auditors", not "Select ... - Auditors")."""
    return bool(norm(value.text)) and norm(el.name) == norm(value.text)


# A form asking for the current password changes the signed-in user's own credentials: it is filled
# only when the instruction asks for that ("change my password"), never for a password meant elsewhere.
_CHANGE_PASSWORD = re.compile(r"\b(?:change|reset|update|renew|rotate)\s+(?:\w+\s+){0,3}?password", re.I)


def _changes_own_password(sc: Scorer) -> bool:
    return any(e.type == "password" and {stem("old"), stem("current")} & element_words(e) for e in sc.controls)


def choices(task: Task, obs: Observation, ledger: Ledger) -> list[Choice]:
    """Every action the page allows now, best prior first."""
    sc = Scorer(task, obs, {p.clause for p in ledger.missing()}, ledger.not_yet())
    open_values = ledger.open_values()
    forms: list[Choice] = []
    clicks: list[tuple[Element, Choice]] = []
    own_credentials = _changes_own_password(sc) and not _CHANGE_PASSWORD.search(task.instruction)
    for el in sc.controls:
        if el.editable and not (own_credentials and el.type == "password"):
            forms += _fills(sc, el, task, ledger)
        if el.selectable and el.options:
            forms += _selects(sc, el, open_values, ledger)
        elif el.checkable:
            forms.append(_check(sc, el, task, ledger, open_values))
        elif not el.editable or el.role == "combobox" or ledger.wants_focus():
            clicks.append((el, _click(sc, el, task, ledger, open_values)))
        if _downloads(el) and (task.has("download") or ledger.wants_download()):
            clicks.append((el, _choice("download", el, None, _click(sc, el, task, ledger, open_values).prior + 1.5)))
        if el.editable and ledger.filled_last(el):
            forms.append(_choice("press", el, "Enter", 1.0 + (2.0 if ledger.dirty and not _has_submit(sc) else 0.0)
                                 - 2.5 * ledger.clicks(el)))
    # Values this page can still take in its fields: submitting now would send the form without them.
    pending = any(c.prior > 0.3 and c.verb in ("fill", "select", "check") for c in forms)
    hidden = [v for v in open_values if not v.field and v.kind == "literal" and not ledger.value_on_page(v, obs)]
    places = {ref for p in ledger.missing() if p.ordinal is not None
              for ref in [at_place(obs, p.ordinal, p.kind_words)] if ref}
    out = []
    for c in forms:
        out.append(_placed(c, obs.element(c.ref), sc, task, places) if c.ref else c)
    for el, c in clicks:
        if pending and _submits(el):
            c = c.model_copy(update={"prior": c.prior - PENDING_PENALTY})
        if hidden and revealer(el) and not ledger.clicks(el):
            c = c.model_copy(update={"prior": c.prior + REVEAL_BONUS * revealer(el)})  # "more", a closed menu
        out.append(_placed(c, el, sc, task, places))
    for el in obs.elements:
        if ledger.open_reads() and (el.kind == "text" or el.role in ("cell", "heading")) and el.name:
            out.append(_read(sc, el, ledger, label_of(obs, el)))
    out.append(_choice("back", None, None, -1.5))
    first_open = ledger.first_open_clause()
    return sorted((_in_order(c, first_open) for c in out), key=lambda c: -c.prior)


PENDING_PENALTY = 4.0
REVEAL_BONUS = 2.0  # a control that shows more, when a value the instruction names is not on the page
ORDINAL_BONUS = 4.0
CONTEXT_BONUS = 1.5  # "For the user @donec, click ...": the element sits in that user's row


def revealer(el: Element) -> float:
    """How much an element looks like it shows more of the page (a menu, a collapsed section, 'more')."""
    name, hint = norm(el.name), norm(el.hint)
    if el.expanded is False or any(w in hint for w in ("collapsed", "dropdown", "toggle", "expand")):
        return 1.0
    if name in ("more", "show more", "load more", "next", "options", "menu", "...") or el.name.strip() in ("…", "⋯", "»"):
        return 1.0
    if not name and any(w in hint for w in ("more", "menu", "ellipsis", "kebab", "options")):
        return 0.8
    return 0.0


def _submits(el: Element) -> bool:
    """A control that sends its form (or a button named like one)."""
    return el.type == "submit" or (el.role == "button" and bool(set(words(el.name)) & {stem(w) for w in SUBMIT_WORDS}))


def of_kind(obs: Observation, kinds: tuple[str, ...], like: Element | None = None) -> list[Element]:
    """The page's controls of that kind ('textbox', 'link'), top to bottom."""
    roles = {r for k in kinds for r in KIND_WORDS.get(k, ())}
    same = [e for e in obs.controls if (e.role in roles if roles else like is not None and e.role == like.role)]
    return sorted(same, key=lambda e: (e.box[1], e.box[0]))


def at_place(obs: Observation, ordinal: int, kinds: tuple[str, ...], like: Element | None = None) -> str | None:
    """The ref of the nth element of that kind ('the 3rd textbox'; -1: the last)."""
    same = of_kind(obs, kinds, like)
    i = ordinal - 1 if ordinal > 0 else len(same) - 1
    return same[i].ref if 0 <= i < len(same) else None


def _placed(c: Choice, el: Element, sc: Scorer, task: Task, places: set[str]) -> Choice:
    """Where the element stands: the nth of its kind ('the 3rd textbox'), or in the row of a context
    value ('for the user @donec')."""
    bonus = ORDINAL_BONUS if el.ref in places else 0.0
    context = [v for v in task.values if v.context]
    if context and any(f" {norm(v.text)} " in f" {norm(el.context)} " for v in context):
        bonus += CONTEXT_BONUS
    return c.model_copy(update={"prior": c.prior + bonus, "score": c.prior + bonus}) if bonus else c


def _has_submit(sc: Scorer) -> bool:
    return any(set(words(e.name)) & {stem(w) for w in SUBMIT_WORDS} and e.role == "button" for e in sc.controls)


def _fills(sc: Scorer, el: Element, task: Task, ledger: Ledger) -> list[Choice]:
    out = []
    typed = ledger.typed_in(el)
    order = 0.05 * sum(1 for e in sc.controls if e.editable and (e.box[1], e.box[0]) < (el.box[1], el.box[0]))
    open_texts = {v.text for v in ledger.open_values()}
    # Signing in comes first, wherever it is written: while it is open and names who signs in, the values
    # of other clauses wait ("Create anna with password P ... Log in as admin": P is not admin's password).
    login = {p.clause for p in ledger.open_actions() if p.intent == "login"}
    signs_in = any(v.clause in login and v.kind == "literal" for v in task.values)
    for value in task.values:
        if signs_in and value.clause not in login and value.kind != "secret":
            continue
        intent = ledger.clause_intent(value.clause)
        if value.context or value.choose or intent in ("click", "select", "check") or (intent == "open" and not is_finder(el)):
            continue  # "for the user @donec" says where; "press Search" names a button; "open X" may search X;
            # a group to join is picked in its list, never typed
        if value.kind == "lookup":
            found = looked_up(sc.obs, value.text)
            if found is not None and value.text in open_texts and not typed and not (el.value or ""):
                out.append(_choice("fill", el, found, 2.5 + 1.0 * fit(value.field, el, sc.page_words), value.clause))
            continue
        typed_as = input_value(el.type, value.text)
        if typed_as is None:
            continue  # "3:45 PM" is no date: that field cannot hold it
        if value.text in typed or (el.value or "") == typed_as:
            continue
        if typed:
            continue  # never type over what this run put into the field (the login's password)
        used = ledger.used(value) or value.text not in open_texts
        confirm = ledger.used(value) and bool(CONFIRM_FIELD.search(el.words)) and ledger.typed_near(value, el, sc.obs)
        again = value.repeat and not (el.value or "")  # "into both fields": every empty field that fits
        if used and not confirm and not again:
            continue
        share = fit(value.field, el, sc.page_words)
        s = 3.5 * share if value.field else 0.5
        if value.field and share == 0.0:
            s -= 2.0
        if is_finder(el) and (task.has("find") or task.has("open")):
            s += 1.0 if not ledger.value_on_page(value, sc.obs) else -1.5
        s += _shape_fit(value, el)
        if value.replaces is not None and norm(el.value or "") == norm(value.replaces) and _same_field(task, value):
            s += 4.0
        if confirm or (again and ledger.used(value)):
            s += 3.0
        if is_finder(el):
            s -= 2.5  # a search box sets no value: typing there only finds (and only a find needs it)
        out.append(_choice("fill", el, typed_as, s - order, value.clause))
    return out


def _same_field(task: Task, value: Value) -> bool:
    """"rename the group Auditors to Inspectors": the new value goes where the old one is. Not when
    the old one only named the record ("the first name of the user grace to Grace")."""
    old = next((v for v in task.values if v.text == value.replaces), None)
    return old is not None and bool(set(old.field) & set(value.field))


def _selects(sc: Scorer, el: Element, open_values: list[Value], ledger: Ledger) -> list[Choice]:
    out = []
    current = norm(el.value or "")
    options = list(el.options or ())
    asked = [o for o in options if any(option_is(o, v.text) for v in open_values)]
    for opt in asked + [o for o in options[:MAX_OPTIONS] if o not in asked]:
        if norm(opt) == current:
            continue
        match = next((v for v in open_values if option_is(opt, v.text)), None)
        if match is not None and match.choose and el.role == "listbox" and not picks_right(match, el):
            continue  # in the other list of a transfer pair: picking it there would move it the wrong way
        s = (5.0 + 0.5 * sc.relevance(el)) if match else 0.3 * sc.relevance(el, set(words(opt)) & sc.want) - 1.5
        clause = match.clause if match else None
        lead = set(words(opt)[:1])  # an option that is the action: "Delete selected groups"
        does = next((p for p in ledger.open_actions() if p.intent != "login" and
                     (set(p.words) | {stem(w) for w in CONTROL_WORDS.get(p.intent or "", ())}) & lead), None) or \
            next((p for p in ledger.open_attributes() if set(p.words) & set(words(opt))), None)
        if match is None and does is not None:
            s, clause = 3.5, does.clause  # "Delete selected groups" for "delete the group X"
        out.append(_choice("select", el, opt, s, clause))
    return out


def _check(sc: Scorer, el: Element, task: Task, ledger: Ledger, open_values: list[Value]) -> Choice:
    own = element_words(el)
    s, clause = -0.5, None
    take_away = False
    for part in ledger.open_attributes():
        if names_attribute(part, el):
            if part.off == bool(el.checked):  # the box is not yet as the instruction wants it
                s, clause = s + 4.0, part.clause
                take_away = take_away or part.off
            else:
                s -= 2.0
    named = next((v for v in open_values if names_value(el, v)), None)
    if named is not None:
        s, clause = s + (4.5 if exactly_named(el, named) else 3.0), named.clause
    s += 0.3 * sc.relevance(el)
    if el.checked:
        s = s + 1.0 if task.has("uncheck") or take_away else -3.0
        return _choice("uncheck", el, None, s, clause)
    s -= 2.5 * ledger.clicks(el)
    return _choice("check", el, None, s, clause)


def _downloads(el: Element) -> bool:
    own = element_words(el)
    return el.role in ("link", "button") and (bool(own & {stem(w) for w in CONTROL_WORDS["download"][:4]})
                                              or bool(re.search(r"\.(csv|pdf|xlsx?|zip|txt)$", el.href or "")))


_COLUMN_HEAD = re.compile(r"\bthead\b")  # a table's heading row (a row's own <th> names its record)
_SORTS = {stem(w) for w in ("sort", "order", "ascending", "descending")}


def _click(sc: Scorer, el: Element, task: Task, ledger: Ledger, open_values: list[Value]) -> Choice:
    own = element_words(el)
    submits = ledger.dirty and _submits(el)
    # A button that sends a changed form is chosen for that, not for the words it shares with the
    # task: "Save" beats "Save and add another".
    s, clause = (0.0 if submits else sc.relevance(el)), None
    named = next((v for v in open_values if not v.choose and names_value(el, v)), None)
    if named is not None:
        s, clause = s + (4.5 if exactly_named(el, named) else 2.5), named.clause
    for part in ledger.open_actions():
        if part.intent == "login":
            continue  # signing in is done by submitting the filled form, not by a click alone
        if part.intent in ("expand", "collapse"):
            if (el.expanded is False) == (part.intent == "expand") and (el.expanded is not None or revealer(el)):
                s, clause = s + 3.0, part.clause
            continue
        if set(part.words) & own or says(part.intent, el.name):
            s += 3.0
            clause = part.clause if clause is None else min(clause, part.clause)
    if submits:
        said = [w for w in words(el.name) if w not in {stem(x) for x in STOP_WORDS}]
        extra = [w for w in said if w not in {stem(x) for x in SUBMIT_WORDS}]
        s += 4.0 - 0.8 * len(extra) + (0.5 if len(said) == 1 else 0.0)
    transfers = bool(ledger.picked) and el.role == "button" and bool(TRANSFER.search(el.name))
    if transfers:
        # an option picked in a transfer list is chosen (or taken out) by the button that moves it that way
        s += 6.0 if bool(TRANSFER_OUT.search(el.name)) == ledger.takes_out() else -2.0
    if submits and not ledger.missing():
        s += 3.0  # every part is done in this form: send it
    if not sc.says_all and re.search(r"\b(?:all|every|everything)\b", el.name, re.I):
        s -= 3.0  # "Remove all groups", "Delete all": more than the instruction asks
    if ledger.asks_confirmation(sc.obs) and own & {stem(w) for w in ("yes", "confirm", "sure", "ok", "delete")}:
        s += 2.5
    negative = own & NEGATIVE
    if negative and not negative & sc.want and not transfers:  # "Remove selected" moves what was asked
        s -= 3.0
    if any(phrase in norm(el.name) for phrase in LEAVING) and not task.has("logout"):
        s -= 4.0
    if el.href and urlsplit(el.href).hostname not in (None, urlsplit(sc.obs.url).hostname):
        s -= 5.0  # another site: the instruction is about this one (and the fence would stop it)
    if el.role == "link" and says("create", el.name) and named is None and not task.has("create") \
            and any(i in ("edit", "type", "delete") for i in task.intents):
        s -= 2.0  # "fill in the details for mchen": what exists is changed; a link to add one is no way to it
    if el.role == "link" and _COLUMN_HEAD.search(el.css) and not sc.want & _SORTS:
        s -= 3.0  # a column's heading sorts the list: it opens no record and sets no field named like it
    if el.editable:
        s += 3.0 if ledger.wants_focus() else -2.0
    if el.container:
        s -= 1.0
    if ledger.dirty and el.role == "link" and named is None:
        s -= 3.0  # leaving a changed form unsent loses what was typed
    if el.role in ("option", "listitem", "treeitem") and named is None and not any(
            names_attribute(p, el) for p in ledger.open_attributes()):
        s -= 1.5  # one of many entries of a list that the instruction does not name
    s -= 2.5 * ledger.clicks(el) + 3.0 * ledger.no_effect(el)
    if _downloads(el) and not task.has("download"):
        s -= 1.0
    return _choice("click", el, None, s, clause)


def _read(sc: Scorer, el: Element, ledger: Ledger, label: str) -> Choice:
    own = set(words(el.name + " " + el.label))
    near = set(words(label + " " + el.context))
    s, clause = -1.0, None
    for part in ledger.open_reads():
        pw = set(part.words)
        if pw & near and not pw & own:
            s, clause = s + 3.5, part.clause  # the value next to its label ("Total" ... "930.00")
        elif pw & own:
            s += 1.0
    s -= 3.0 * ledger.clicks(el)
    if re.search(r"\d", el.name):
        s += 0.5
    if len(el.name) > 80:
        s -= 1.5
    return _choice("read", el, None, s, clause)
