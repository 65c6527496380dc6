"""Which parts of the instruction a planning run has done, and whether the page confirms the goal.

A part counts as done only by an action that fits it: a value typed into a field its words name,
chosen from a list, or clicked by name; a secret typed into a password field; an attribute
checked; an action word done with a control that carries it. ``missing`` names what is left, so a
run that stops early fails with the part it did not do. ``confirm`` looks for the page's own word
that the work happened: a new message, the value now shown, the new address, a file, a read value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from bots.observe import Element, Observation
from engine.dates import TYPED_INPUTS, input_value
from engine.planner.task import (CONTROL_WORDS, DONE_WORDS, SUBMIT_WORDS, Part, Task, Value, content, norm, says, stem,
                                 without_values, words)

_ASKS = re.compile(r"\b(are you sure|confirm|really want)\b", re.I)
CHANGES = ("create", "edit", "delete")  # intents whose result only the site can confirm
_REFUSED = re.compile(r"\b(invalid|incorrect|error|wrong|required|please correct|please enter|failed|not valid|"
                      r"try again|does not match|must be|cannot be|too short|already exists)\b", re.I)
# A transfer list ("Available groups" -> "Chosen groups"): picking an option in the first list is only
# half of choosing it; the button that moves the picked options is the other half.
TRANSFER = re.compile(r"\b(?:choose|add|move|include|assign|remove)\s+(?:the\s+)?selected\b|^\s*(?:→|»|>|>>|⟶|➔|←|«|<|<<)\s*$",
                      re.I)
TRANSFER_OUT = re.compile(r"\bremove\b|^\s*(?:←|«|<|<<)\s*$", re.I)
# The list of what is chosen ("Chosen groups"), as against what is available to choose.
CHOSEN_LIST = re.compile(r"\b(?:chosen|selected|assigned|current|members?)\b", re.I)


def option_is(option: str, text: str) -> bool:
    """The option is that value: the same words, or the last part of a label that says where it belongs
    ("Authentication and Authorization | user | Can change user" is "Can change user")."""
    return norm(option) == norm(text) or norm(re.split(r"\s+[|›»>/]\s+", option)[-1]) == norm(text)


def picks_right(value: Value, el: Element) -> bool:
    """An option to choose is picked in the list of what is available, one to take out in the list of
    what is chosen (picking it in the other list would move it the wrong way)."""
    return value.leave == is_chosen_list(el)


def _same_record(a: Part, b: Part) -> bool:
    """Two parts that name one record ("create lena ... and put the user lena in Editors"): the same text
    in the same field, neither replacing anything nor chosen from a list."""
    return a.kind == b.kind == "value" and a.value is not None and b.value is not None \
        and a.value.kind == b.value.kind == "literal" and a.value.text == b.value.text \
        and a.value.field == b.value.field and bool(a.value.field) \
        and not (a.value.choose or b.value.choose or a.value.replaces or b.value.replaces)


def is_chosen_list(el: Element) -> bool:
    """The list of a transfer pair that holds what is chosen ("Chosen groups"), not what is available."""
    title = " ".join((el.label or el.name).split()[:3])  # "Chosen groups", not the help text after it
    return bool(CHOSEN_LIST.search(title))
_SUCCESS = re.compile(r"\b(success|successfully|thank you|has been|was (added|created|changed|deleted|saved|"
                      r"updated|removed|sent|submitted))\b", re.I)


def is_finder(el: Element) -> bool:
    """A search or filter box: what is typed there finds things, it sets nothing."""
    own = set(words(" ".join((el.name, el.label, el.placeholder or "", el.hint))))
    return el.role == "searchbox" or el.type == "search" or bool(own & {stem("search"), stem("filter")}) or any(
        "search" in w for w in own)


@dataclass
class Evidence:
    """What on the page shows that the goal was reached."""

    kind: str  # message | shown | url | download | read
    text: str


@dataclass
class Ledger:
    task: Task
    done: dict[int, str] = field(default_factory=dict)  # part index -> how it was done
    dirty: bool = False  # a form was changed and not yet submitted
    typed: dict[str, list[str]] = field(default_factory=dict)  # element fingerprint -> values typed
    typed_at: dict[str, str] = field(default_factory=dict)  # value text -> fingerprint of its field
    _clicks: dict[str, int] = field(default_factory=dict)
    _no_effect: dict[str, int] = field(default_factory=dict)
    last_filled: str | None = None
    downloads: int = 0
    reads: list[str] = field(default_factory=list)
    confirmed: Evidence | None = None
    refusals: list[str] = field(default_factory=list)
    last_submit: bool = False  # what the site said when it sent a form back
    heard: dict[str, str] = field(default_factory=dict)  # intent -> the site's answer to a form that did it
    _secret_typed: bool = False
    _form: dict[int, str] = field(default_factory=dict)  # parts done in the form not yet accepted
    _lost: set[str] = field(default_factory=set)  # values typed into a form that was sent back or left
    picked: dict[str, str] = field(default_factory=dict)  # option picked in a transfer list -> that list

    # -- what is left ---------------------------------------------------------------------------
    def missing(self) -> list[Part]:
        return [p for i, p in enumerate(self.task.parts) if i not in self.done]

    def complete(self) -> bool:
        return not self.missing() and not self.dirty and not self._form

    def kept(self, obs: Observation, page_words: set[str]) -> None:
        """Fields the site filled in again (a form sent back keeps the user name): those values are typed."""
        from engine.planner.actions import fits

        for i, part in enumerate(self.task.parts):
            if i in self.done or part.kind != "value" or part.value is None or part.value.text not in self._lost:
                continue  # only what this run typed into a form the site sent back
            for el in obs.elements:
                if is_finder(el) and self.clause_intent(part.clause) != "find":
                    continue  # a search box that still shows the search did not set the value
                if el.editable and (el.value or "") == part.value.text and fits(part.value.field, el, page_words):
                    self.done[i] = self._form[i] = f"kept in {el.name or el.label}"
                    self.typed_at.setdefault(part.value.text, el.fingerprint)
                    break

    def preset(self, obs: Observation, page_words: set[str]) -> None:
        """A list that already shows the value asked for, in a field its words name ("department
        Finance" where Finance is preselected): nothing to change, the form sends it as it is."""
        from engine.planner.actions import fits

        for i, part in enumerate(self.task.parts):
            v = part.value
            if i in self.done or part.kind != "value" or v is None or v.kind != "literal" or not v.field or v.context:
                continue
            for el in obs.controls:
                if el.role == "combobox" and el.selectable and norm(el.value or "") == norm(v.text) \
                        and fits(v.field, el, page_words):
                    self.done[i] = self._form[i] = f"already chosen in {el.name or el.label}"
                    break

    def _choice_asked(self, option: str) -> Value | None:
        """The open value to choose that ``option`` is."""
        return next((p.value for p in self.missing() if p.value is not None and p.value.choose
                     and option_is(option, p.value.text)), None)

    def takes_out(self) -> bool:
        """Options picked in a transfer list wait to be taken out of the chosen list (not moved into it)."""
        return any((v := self._choice_asked(o)) is not None and v.leave for o in self.picked)

    def moved(self, obs: Observation) -> None:
        """Options picked in a transfer list that now stand in another list: chosen."""
        for value, source in list(self.picked.items()):
            if any(e.role == "listbox" and e.fingerprint != source and norm(value) in {norm(o) for o in e.options or ()}
                   for e in obs.elements):
                del self.picked[value]
                self._mark(lambda p: p.value is not None and option_is(value, p.value.text), f"chose {value}",
                           in_form=True)

    def abandon(self) -> None:
        """The page with a changed form was left without sending it: what was typed there is lost."""
        self.picked.clear()
        self._lost |= set(self.typed_at)
        for i in self._form:
            self.done.pop(i, None)
        self._form.clear()
        self.typed.clear()
        self.typed_at.clear()
        self._secret_typed, self.dirty = False, False

    def _sent_as_asked(self, form: Observation) -> None:
        """A form the site took with a box already as asked ("a user who is not a superuser": the box
        was never ticked): that attribute holds, in the site's own record."""
        from engine.planner.actions import names_attribute

        for el in form.controls:
            if el.checkable and el.checked is not None:
                self._mark(lambda p: p.kind == "attribute" and p.off != bool(el.checked) and names_attribute(p, el),
                           f"sent with {el.name} {'ticked' if el.checked else 'not ticked'}")
        # ... and one to take out of a list that was never in it ("she should not be in Reviewers"): the
        # option stands among those available, in no list of those chosen
        # (a transfer pair only: in a lone multiple select, a chosen option stands among the others)
        lists = [e for e in form.elements if e.role == "listbox"]
        chosen_lists = [e for e in lists if is_chosen_list(e)]
        chosen = [o for e in chosen_lists for o in e.options or ()]
        available = [o for e in lists if e not in chosen_lists for o in e.options or ()]
        if chosen_lists and len(chosen_lists) < len(lists):
            self._mark(lambda p: p.kind == "value" and p.value is not None and p.value.leave
                       and any(option_is(o, p.value.text) for o in available)
                       and not any(option_is(o, p.value.text) for o in chosen), "sent without it")

    def accept(self) -> None:
        """The site took the form: what was typed into it is done for good."""
        self._form.clear()

    def clause_intent(self, clause: int) -> str | None:
        return self.task.clause_intent(clause)

    def first_open_clause(self) -> int | None:
        """The earliest clause of the instruction with a part still to do."""
        return min((p.clause for p in self.missing()), default=None)

    def open_values(self) -> list[Value]:
        return [p.value for p in self.missing() if p.value is not None and not p.value.context and self._ready(p)]

    def _ready(self, part: Part) -> bool:
        """A value to choose for a record ("add the user X to the group Y") is chosen on that record's
        page: once the clause's other values are done (a row's checkbox "Y" in a list is not it)."""
        if part.value is None or not part.value.choose:
            return True
        return all(i in self.done for i, p in enumerate(self.task.parts) if p.clause == part.clause
                   and p.kind == "value" and p.value is not None and not p.value.choose)

    def not_yet(self) -> frozenset[str]:
        """What a value to choose is ("the Support group"), while the record it is chosen for is still to
        find: words for a later page ("put omar in Support" opens omar first, not the list of groups)."""
        waiting = [p for p in self.missing() if p.value is not None and p.value.choose and not self._ready(p)]
        later = {w for p in waiting if p.value is not None for w in p.value.field}
        # ... unless other work still to do says them ("create a group named X, then put yusuf in X")
        said = {w for c in {p.clause for p in self.missing()} - {p.clause for p in waiting}
                for w in content(without_values(self.task.clauses[c]))} if later else set()
        return frozenset(later - said - {w for v in self.open_values() if not v.choose for w in v.field})

    def open_attributes(self) -> list[Part]:
        return [p for p in self.missing() if p.kind == "attribute"]

    def open_actions(self) -> list[Part]:
        return [p for p in self.missing() if p.kind == "action"]

    def open_reads(self) -> list[Part]:
        return [p for p in self.missing() if p.kind == "read"]

    def wants_download(self) -> bool:
        return any(p.intent == "download" for p in self.open_actions())

    def wants_focus(self) -> bool:
        return any(p.intent == "focus" for p in self.open_actions())

    # -- what was done --------------------------------------------------------------------------
    def used(self, value: Value) -> bool:
        return value.text in self.typed_at

    def typed_in(self, el: Element) -> list[str]:
        return self.typed.get(el.fingerprint, [])

    def typed_near(self, value: Value, el: Element, obs: Observation) -> bool:
        """A confirmation field ("Password confirmation"): the value went into the field it confirms
        ("Password"), on this same page, just before."""
        from engine.planner.actions import element_words

        first = self.typed_at.get(value.text)
        original = next((e for e in obs.elements if e.fingerprint == first), None)
        if original is None or first == el.fingerprint:
            return False
        return bool(element_words(original) & element_words(el))

    def filled_last(self, el: Element) -> bool:
        return self.last_filled == el.fingerprint

    def clicks(self, el: Element) -> int:
        return self._clicks.get(el.fingerprint, 0)

    def no_effect(self, el: Element) -> int:
        return self._no_effect.get(el.fingerprint, 0)

    def value_on_page(self, value: Value, obs: Observation) -> bool:
        v = norm(value.text)
        return bool(v) and any(e.kind == "control" and f" {v} " in f" {norm(e.name)} " for e in obs.elements)

    def asks_confirmation(self, obs: Observation) -> bool:
        return any(_ASKS.search(e.name) for e in obs.elements if e.kind == "text" or e.role == "heading")

    def _mark(self, predicate: object, how: str, *, in_form: bool = False, once: bool = False) -> None:
        for i, part in enumerate(self.task.parts):
            if i not in self.done and self._ready(part) and predicate(part):  # type: ignore[operator]
                self.done[i] = how
                if in_form:
                    self._form[i] = how
                if once:  # one click names one value ("grace" the user, not also "Grace" the new name) ...
                    for j, other in enumerate(self.task.parts):  # ... and the same record named again
                        if j not in self.done and _same_record(part, other) and self._ready(other):
                            self.done[j] = how
                            if in_form:
                                self._form[j] = how
                    return

    def refused(self, before: Observation, after: Observation) -> str | None:
        """After a submit: the site sent the form back with an error. What it said, and the parts
        typed into that form count as not done (the fields may be empty again)."""
        # The error may repeat what the last answer said: a form sent again and refused again.
        said = next((e.name.strip() for e in after.elements if e.name.strip()
                     and (e.role == "alert" or e.kind == "text") and _REFUSED.search(e.name)), None)
        if said is not None and said in {e.name.strip() for e in before.elements} and not self.refusals:
            said = None  # an error already on the page before this submit is not this submit's answer
        typed = set(self.typed)
        same_form = urlsplit(after.url).path == urlsplit(before.url).path or \
            any(e.fingerprint in typed for e in after.elements)
        if said is None or not same_form:
            self._sent_as_asked(before)
            self.accept()
            return None
        self.abandon()
        self.refusals.append(said[:160])
        return said

    def record(self, verb: str, el: Element | None, value: str | None, obs: Observation, page_words: set[str]) -> None:
        """Account for one performed action on ``el`` (of ``obs``)."""
        from engine.planner.actions import element_words, fits, names_attribute, names_value

        if el is None:
            return
        own = element_words(el)
        if verb == "fill" and value is not None:
            if el.type in TYPED_INPUTS:  # "2016-12-14" typed for "12/14/2016": the books keep the instruction's text
                value = next((v.text for v in self.task.values if input_value(el.type, v.text) == value), value)
            # A fill replaces what the field held: a value typed or kept there before is no longer set.
            for i, part in enumerate(self.task.parts):
                held = part.value.text if part.value is not None else None
                if i in self.done and held is not None and held != value and self.typed_at.get(held) == el.fingerprint:
                    self.done.pop(i)
                    self._form.pop(i, None)
                    self.typed_at.pop(held)
            self.typed.setdefault(el.fingerprint, []).append(value)
            self.typed_at.setdefault(value, el.fingerprint)
            self.last_filled, self.dirty = el.fingerprint, True
            if el.type == "password" and "secrets." in value:
                self._secret_typed = True
            finder = is_finder(el)

            def typed_where_it_belongs(p: Part) -> bool:
                if p.value is None:
                    return False
                if p.value.kind == "lookup":  # the looked-up text itself was typed
                    from engine.planner.actions import looked_up

                    return looked_up(obs, p.value.text) == value
                if p.value.text != value or p.value.choose:
                    return False  # a value to choose from a list is not typed (a filter box sets nothing)
                if p.kind == "secret":
                    return el.type == "password"
                # A search or filter box finds things: typing there sets no value, except to search.
                if finder and self.clause_intent(p.clause) != "find":
                    return False
                return fits(p.value.field, el, page_words)

            self._mark(typed_where_it_belongs, f"typed into {el.name or el.label or el.ref}", in_form=True)
            return
        if verb == "select" and value is not None:
            self.dirty = True
            if el.role == "listbox" and any(e.role == "button" and TRANSFER.search(e.name) for e in obs.elements):
                asked = self._choice_asked(value)
                if asked is None or picks_right(asked, el):
                    self.picked[value] = el.fingerprint  # chosen once moved to the other list (``moved``)
                return
            chosen = set(words(value))
            self._mark(lambda p: p.value is not None and option_is(value, p.value.text), f"chose {value}",
                       in_form=True)
            self._mark(lambda p: p.kind == "attribute" and bool(set(p.words) & chosen), f"chose {value}",
                       in_form=True)
            # An option that *is* the action ("Delete selected groups"), not one that mentions it
            # ("Can delete log entry" in a list of permissions).
            lead = set(words(value)[:1])
            self._mark(lambda p: p.kind == "action" and p.intent not in ("login", "download") and bool(
                (set(p.words) | {stem(w) for w in CONTROL_WORDS.get(p.intent or "", ())}) & lead),
                f"chose {value}", in_form=True)
            return
        if verb in ("check", "uncheck"):
            self.dirty = True
            self._clicks[el.fingerprint] = self.clicks(el) + 1
            self._mark(lambda p: p.kind == "attribute" and names_attribute(p, el) and p.off == (verb == "uncheck"),
                       f"{verb}ed {el.name}", in_form=True)
            self._mark(lambda p: p.value is not None and p.kind == "value" and names_value(el, p.value),
                       f"{verb}ed {el.name}", in_form=True, once=True)
            self._mark(lambda p: p.kind == "action" and p.intent in ("check", "select") and verb == "check"
                       and (bool(set(p.words) & own) or p.ordinal is not None) and self._in_place(p, el, obs),
                       f"{verb}ed {el.name}", in_form=True)
            return
        if verb == "read":
            from engine.planner.actions import label_of

            self.reads.append(el.name)
            self._clicks[el.fingerprint] = self.clicks(el) + 1
            named = own | set(words(el.context + " " + label_of(obs, el)))
            self._mark(lambda p: p.kind == "read" and bool(set(p.words) & named), f"read {el.name[:40]}")
            return
        if verb == "download":
            self.downloads += 1
        self._clicks[el.fingerprint] = self.clicks(el) + 1
        # A link is a way somewhere, not a form's end (an "Add" link opens a form).
        # Only a button sends a form: an option "Can delete log entry" or a link "Log in" is none.
        submit = el.type == "submit" or verb == "press" or (
            el.role == "button" and bool(own & {stem(w) for w in SUBMIT_WORDS}))
        self.last_submit = submit
        if submit or verb == "download":
            self.dirty = False
        if submit and self._secret_typed:
            self._mark(lambda p: p.kind == "action" and p.intent == "login", "signed in", in_form=True)
        self._mark(lambda p: p.value is not None and p.kind == "value" and not p.value.choose and names_value(el, p.value),
                   f"clicked {el.name}", once=True)
        if el.checkable or el.role in ("option", "switch", "menuitemradio", "menuitemcheckbox"):
            # An attribute is set by a control that holds a state, not by a link or a filter named
            # like it ("By staff status", a column header).
            self._mark(lambda p: p.kind == "attribute" and names_attribute(p, el)
                       and (p.off == bool(el.checked) or el.checked is None), f"clicked {el.name}")

        named = set(words(el.name))

        def action_done(p: Part) -> bool:
            if p.kind != "action" or p.intent == "login":
                return False
            if p.intent == "download":
                return verb == "download"
            if p.intent == "focus":
                return el.editable and self._in_place(p, el, obs)
            if p.intent in ("expand", "collapse"):
                return el.expanded is not None and (el.expanded is False) == (p.intent == "expand")
            if p.intent in ("check", "select"):  # "accept the terms": the box named for it
                return verb in ("check", "select") and bool(set(p.words) & own) and self._in_place(p, el, obs)
            if el.role not in ("button", "link", "menuitem", "tab") and el.type != "submit":
                return False  # a list or a panel that mentions the word does not do it
            return bool(set(p.words) & named) or says(p.intent, el.name)

        self._mark(action_done, f"clicked {el.name}")

    def _in_place(self, part: Part, el: Element, obs: Observation) -> bool:
        """An ordinal part ("the 3rd textbox") is done only by the element at that place."""
        from engine.planner.actions import at_place

        return part.ordinal is None or at_place(obs, part.ordinal, part.kind_words, el) == el.ref

    def no_change(self, el: Element | None) -> None:
        """The last click changed nothing on the page."""
        if el is not None:
            self._no_effect[el.fingerprint] = self.no_effect(el) + 1

    # -- did the page confirm it? ---------------------------------------------------------------
    def confirm(self, before: Observation | None, now: Observation) -> Evidence | None:
        """The page's own sign that the last part of the work happened (checked once all is done)."""
        # The goal is the last intent that is a piece of work, not a step of a form ("accept the terms").
        steps = ("check", "uncheck", "select", "type", "click", "focus")
        # Signing in is a way to the goal wherever the instruction says it ("..., then log in as admin").
        work = [i for i in self.task.intents if i not in steps]
        goal = [i for i in work if i != "login"] or work
        last = goal[-1] if goal else (self.task.intents[-1] if self.task.intents else None)
        if any(i in CHANGES and i != last and i not in self.heard for i in goal):
            return None  # every change asked for is confirmed by the site, not only the last one
        if last == "read" or self.task.parts and self.task.parts[-1].kind == "read":
            return Evidence("read", self.reads[-1]) if self.reads else None
        if last == "download" or any(p.intent == "download" for p in self.task.parts):
            if self.downloads:
                return Evidence("download", "a file was downloaded")
        said = self._said(before, now, last)
        if said is not None:
            return Evidence("message", said)
        # A record made by one form and finished by the next (Django's "add user", then its change
        # form): the site said the goal was done earlier, and now it takes the follow-up form.
        if last in CHANGES and last in self.heard and self.last_submit \
                and (then := self._said(before, now, None)) is not None:
            return Evidence("message", then)  # the last step's expectation: what a replay sees after it
        if last in CHANGES:
            return None  # a change is confirmed only by the site saying so, not by what the bot sees
        values = [v for v in self.task.values if v.kind != "secret"]
        old = {norm(e.name) for e in (before.elements if before else ())}
        fresh = [e for e in now.elements if norm(e.name) not in old and e.name.strip()]
        if last == "login" and not any(e.type == "password" for e in now.elements) and before is not None \
                and any(e.type == "password" for e in before.elements):
            return Evidence("url", now.url)
        if last == "logout" and any(e.type == "password" for e in now.elements):
            return Evidence("message", "the sign-in form is shown")
        for v in reversed(values):
            n = norm(v.text)
            if not n:
                continue
            for e in now.elements:
                if e.role == "heading" and f" {n} " in f" {norm(e.name)} ":
                    return Evidence("shown", e.name.strip()[:120])
            path = norm(unquote(urlsplit(now.url).path)).replace(" ", "")
            if before is not None and now.url != before.url and n.replace(" ", "") in path:
                return Evidence("url", now.url)  # the address now names it (a search query does not count)
            if last == "find" and any(f" {n} " in f" {norm(e.name)} " for e in fresh):
                return Evidence("shown", v.text)
        if last == "find":
            for e in fresh:  # a result count, a status line that appeared after the search
                if e.role == "status" and e.name.strip() and not _REFUSED.search(e.name):
                    return Evidence("message", e.name.strip()[:120])
        return None

    def hear(self, before: Observation, after: Observation) -> None:
        """Keep what the site answered to a form, for each change it names (a later form may end the run)."""
        if not self.last_submit:
            return
        answer = None
        for intent in CHANGES:
            if (said := self._said(before, after, intent)) is not None:
                answer = answer or said
                self.heard.setdefault(intent, said)
        if answer is not None:  # one form that did two requests ("a new group X with the permission P"):
            for i in self._form:  # the site's answer to it confirms both
                intent = self.clause_intent(self.task.parts[i].clause)
                if intent in CHANGES:
                    self.heard.setdefault(intent, answer)

    def _said(self, before: Observation | None, now: Observation, intent: str | None) -> str | None:
        """A message that appeared on ``now`` saying ``intent`` was done (None: that a form succeeded)."""
        old = {norm(e.name) for e in (before.elements if before else ())}
        done_words = DONE_WORDS.get(intent or "", ())
        for e in now.elements:
            text = e.name.strip()
            if not text or norm(text) in old:
                continue
            low = text.lower()
            if _REFUSED.search(text) or _ASKS.search(text) or text.rstrip().endswith("?"):
                continue  # an error, or a question ("Are you sure...?"), is never a sign of success
            if intent in CHANGES and not self.last_submit:
                continue  # a change is confirmed by what the site answers to the form that made it
            said_done = any(re.search(rf"\b{re.escape(w)}\b", low) for w in done_words if w != "success")
            # A change is confirmed by the site naming that change ("deleted"), not by any success
            # ("The group was changed successfully" does not confirm a delete).
            if said_done or (intent not in CHANGES and _SUCCESS.search(text)):
                if e.kind == "text" or e.role in ("alert", "status", "heading"):
                    return text[:120]
        return None

    def state(self) -> str:
        """One line for the debug log: what is done, what is open, whether a form waits."""
        return (f"done={sorted(self.done)} open={[p.text for p in self.missing()]} dirty={self.dirty} "
                f"form={sorted(self._form)}")
