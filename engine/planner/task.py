"""What an instruction asks for, read without the model: its values, its secrets, its parts.

Nothing here decides which action to take; it only says what a finished run must account for, so
that a run that did not do part of the instruction fails and names that part. A part is:

- a value (quoted text, an e-mail, a number, a proper name, the word after "named"/"as"/"user"),
  to be typed into a field that fits it, chosen from a list, or clicked by its name;
- a secret (``{{ secrets.NAME }}``, "the password in secret NAME"; a login with none named uses the
  conventional ``password``), to be typed into a password field;
- an attribute ("make her staff", "accept the terms"), to be checked, chosen or clicked;
- an action word: each clause's verb ("delete", "download", "log out", or one the planner does
  not know, such as "archive"), to be done with a control that carries it or its synonyms;
- a reading ("give me its total"): an element read into the run's outputs.

The vocabulary is general web-UI English (what "create" is called on a button), never a site's.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.dates import MONTHS, written_dates
from engine.plan.models import TEMPLATE_RE

# Intents: the words an instruction uses for a kind of work, and the words controls use for it.
INTENT_WORDS: dict[str, tuple[str, ...]] = {
    "create": ("create", "add", "new", "make", "register", "file", "insert", "submit", "open a new", "set up"),
    "edit": ("edit", "change", "rename", "update", "modify", "set", "correct"),
    "delete": ("delete", "remove", "erase", "rid", "discard", "drop"),
    # Searching is done when the results show it; opening, when the thing itself is on the screen.
    "find": ("find", "search", "look", "lookup", "list", "filter", "browse"),
    "open": ("open", "show", "view", "go", "visit", "navigate", "display", "see"),
    "download": ("download", "export", "fetch"),
    "login": ("log in", "login", "sign in", "signin", "log on", "logon", "log into", "sign into", "sign on",
              "signed in", "logged in", "signed on", "logged on", "authenticate", "get into"),
    "logout": ("log out", "logout", "sign out", "signout", "log off", "logoff"),
    "read": ("read", "record", "give", "tell", "what", "extract", "note", "report", "copy", "get"),
    "select": ("select", "choose", "pick"),
    "check": ("accept", "agree", "tick", "check", "enable", "subscribe", "mark"),
    "uncheck": ("uncheck", "untick", "disable", "unsubscribe", "clear"),
    "focus": ("focus",),
    "expand": ("expand", "unfold", "reveal"),
    "collapse": ("collapse", "fold"),
    "click": ("click", "press", "tap", "hit", "push"),
    "type": ("enter", "type", "input", "fill", "write", "put"),
}
# Words controls carry for an intent (buttons, links); "submit" words end a form of any intent.
CONTROL_WORDS: dict[str, tuple[str, ...]] = {
    "create": ("add", "new", "create", "plus", "register"),
    "edit": ("edit", "change", "modify", "update", "rename"),
    "delete": ("delete", "remove", "trash", "discard"),
    "find": ("search", "find", "go", "filter", "look"),
    "open": ("open", "view", "show", "go", "details"),
    "download": ("download", "export", "csv", "pdf", "save"),
    "login": ("log", "sign", "login", "signin", "enter"),
    "logout": ("logout", "signout", "log out", "sign out", "log off"),
}
SUBMIT_WORDS = ("submit", "save", "ok", "send", "continue", "confirm", "apply", "done", "go", "search", "next",
                "yes", "create", "add", "update", "finish", "log", "sign", "login", "proceed", "sure")
DONE_WORDS = {"create": ("added", "created", "saved", "submitted", "received", "registered", "success"),
              "edit": ("changed", "updated", "saved", "renamed", "success"),
              "delete": ("deleted", "removed", "success"),
              "login": ("signed in", "logged in", "welcome", "log out", "sign out", "logout"),
              "logout": ("signed out", "logged out", "sign in", "log in", "goodbye")}
STOP = {
    "the", "a", "an", "on", "in", "into", "to", "of", "for", "and", "then", "with", "by", "it", "its", "that",
    "this", "them", "is", "are", "as", "at", "from", "your", "my", "me", "you", "please", "all", "both", "be",
    "each", "every", "which", "named", "called", "titled", "labeled", "labelled", "there", "or", "so", "her",
    "his", "him", "their", "our", "us", "i", "we", "they", "she", "he", "whose", "who", "afterwards", "again",
    "using", "use", "via", "than", "also", "now", "just", "new", "some", "any", "one", "up", "out",
    "down", "off", "after", "before", "same", "own", "only", "can", "will", "should",
    "would", "could", "do", "does", "did", "done", "site", "page", "website", "app", "button", "link",
}
# Words after which the next word is a value even in lower case ("as alice", "user frank").
NAMING_CUES = {"as", "named", "called", "titled", "user", "username", "login", "account", "member"}
CONFIRM_FIELD = re.compile(r"confirm|again|repeat|retype|verif", re.I)
_VERBS = (r"log|sign|delete|remove|download|open|click|add|create|change|edit|set|make|give|accept|record|read|tell|"
          r"approve|search|find|go|show|get|select|check|mark|archive|submit|rename|update|register|press|"
          r"enter|type|fill|untick|uncheck|tick|expand|collapse|focus|choose|pick|reply|forward|star|put|assign|move|include|"
          r"take|grant|revoke|keep|leave|confirm|deactivate|reactivate|activate|disable|enable|suspend")
# Clauses end at a sentence's end, "then", and "and" or a comma before a verb (an adverb may come first:
# "and permanently remove"); a colon before a verb ("Two things: first create ...").
_CLAUSE = re.compile(rf"(?:,?\s+(?:and\s+)?then\s+|(?<=\))\s+and\s+(?=[a-z]+\s)|(?<!\bi\.e)(?<!\be\.g)[.;!?][)\]]?(?:\s+|$)|"
                     rf":\s+(?=(?:please\s+|first\s+|firstly\s+)?(?:{_VERBS})\b)|,\s+and\s+(?=[a-z]+\s)|,\s+(?=(?:{_VERBS})\b)|"
                     rf",?\s+(?:and|but|so)\s+(?:afterwards\s+|also\s+|[a-z]+ly\s+)?(?=(?:{_VERBS})\b)|"
                     rf",?\s+and\s+(?=for\s+(?:the\s+|this\s+|that\s+|her\s+|his\s+)?(?:account|user|group|record|profile)"
                     rf"\s+[\w.@-]+\s+(?:{_VERBS})\b))", re.I)
# A clause's verb phrase: "log in", "sign out", "please open".
# Connectives before the verb ("First log in", "Once you are signed in, ...") are not it.
LEAD = re.compile(r"\s*(?:(?:please|now|also|afterwards|then|first|firstly|next|finally|lastly|once|when|after)\s+"
                  r"(?:(?:you|we|i)\s+(?:are|have|am|'re|'ve)\s+|(?:you|we)'(?:re|ve)\s+)?)*(?P<verb>[A-Za-z]+)"
                   r"(?:\s+(?P<particle>in|out|on|off|into|up)\b)?", re.I)
_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|(?<![A-Za-z0-9])\'([^\']+)\'(?![A-Za-z0-9])')
# A secret by its name: "secret DJANGO_PW", "the secret named PW", "the DJANGO_PW secret". Before the word
# only a name in the form of an identifier is one (``_IDENT``); after it a plain word is one too ("secret
# password"), unless an identifier before it is the name ("the DJANGO_PW secret holds the password").
_SECRET_WORD = re.compile(r"\bsecret\b", re.I)
_NAME_BEFORE = re.compile(r"\b([A-Za-z_]\w*)\s+$")
_NAME_AFTER = re.compile(r"\s+(?:named\s+|called\s+)?([A-Za-z_]\w*)", re.I)
_IDENT = re.compile(r"\w*[A-Z0-9_]\w*")
# Without the word: a name in the form of an environment variable (DJANGO_PW) where the password is said to be.
_ENV_NAME = r"(?-i:[A-Z][A-Z0-9]*_[A-Z0-9_]+)"
_PASSWORD_IN = re.compile(rf"\b(?:password|passcode|pw)\b[^.;,]{{0,30}}?\b(?:in|from|at|is|=|:)\s*(?:the\s+)?(?P<a>{_ENV_NAME})\b"
                          rf"|\b(?P<b>{_ENV_NAME})\s+(?:holds|has|keeps|stores|contains)\s+(?:the\s+|its\s+|my\s+)?(?:password|pw)\b", re.I)
# Letters of any script ("María García-López"); an underscore inside a token is part of it ("svc_reporting").
_TOKEN = re.compile(r"[@#]?[^\W_][\w@.+\-/:]*[^\W_]|[@#]?[^\W_]")
PREPOSITIONS = {"for", "in", "on", "at", "from", "under", "within", "inside", "of", "by", "near", "beside"}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
            "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b|\b(" + "|".join(ORDINALS) + r")\b", re.I)
# Words that name a kind of element, and the roles that kind takes.
KIND_WORDS: dict[str, tuple[str, ...]] = {
    "textbox": ("textbox", "searchbox"), "input": ("textbox", "searchbox", "spinbutton"), "field": ("textbox", "searchbox"),
    "box": ("textbox", "checkbox"), "button": ("button",), "link": ("link",), "checkbox": ("checkbox",),
    "tab": ("tab",), "option": ("option", "radio"), "item": ("listitem", "menuitem", "option", "treeitem"),
    "radio": ("radio",), "result": ("link",), "text": ("textbox",), "textarea": ("textbox",),
    "dropdown": ("combobox",), "list": ("combobox", "listbox"),
}
NUMBER_WORDS = set("two three four five six seven eight nine ten eleven twelve dozen".split()) | set(ORDINALS)


def stem(word: str) -> str:
    """Light stemming, so 'groups' meets 'group' and 'deleted' meets 'delete'."""
    w = word.lower()
    if len(w) > 4 and w.endswith(("ches", "shes", "xes", "sses", "zes")):
        return w[:-2]
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    return w[:-1] if len(w) > 3 and w.endswith("e") else w


# Things apps call by other names: a site lists "Users" where the instruction says "account".
SAME_THING = {stem("account"): (stem("user"),), stem("member"): (stem("user"),), stem("login"): (stem("user"),),
              stem("team"): (stem("group"),)}


def words(text: str) -> list[str]:
    """Stemmed lower-case words of ``text``."""
    return [stem(w) for w in re.findall(r"(?:[^\W_]|@)+", text or "")]


def content(text: str) -> list[str]:
    return [stem(w) for w in re.findall(r"(?:[^\W_]|@)+", text or "") if w.lower() not in STOP]


def norm(text: str) -> str:
    return " ".join(re.findall(r"(?:[^\W_]|@)+", (text or "").lower()))


def says(intent: str | None, name: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether a control's name carries the words of ``intent`` ("Sign out" says logout)."""
    named, text = set(words(name)), f" {norm(name)} "
    for w in CONTROL_WORDS.get(intent or "", ()) + extra:
        if (" " in w and f" {w} " in text) or (" " not in w and stem(w) in named):
            return True
    return False


def intent_of(word: str, nxt: str = "") -> str | None:
    """The intent a clause's first word names ('log' + 'out' -> logout)."""
    w, pair = word.lower(), f"{word} {nxt}".lower().strip()
    for intent in ("login", "logout"):
        if pair in INTENT_WORDS[intent] or w in INTENT_WORDS[intent]:
            return intent
    for intent, ws in INTENT_WORDS.items():  # a verb with its particle first: "set up" creates, "set" edits
        if " " in pair and pair in ws:
            return intent
    for intent, ws in INTENT_WORDS.items():
        if w in ws or stem(w) in {stem(x) for x in ws}:
            return intent
    return None


class Value(BaseModel):
    """One value of the instruction: literal text, a parameter or a secret reference."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="What is typed or looked for; a secret as {{ secrets.NAME }}.")
    kind: Literal["literal", "param", "secret", "lookup"] = Field(
        "literal", description="lookup: 'the value of Last name': the text the page shows next to that label.")
    field: tuple[str, ...] = Field((), description="Stemmed words naming the field it belongs in.")
    replaces: str | None = Field(None, description="The value it replaces ('rename X to Y': Y replaces X).")
    repeat: bool = Field(False, description="'into both fields', 'in all the boxes': every field that fits.")
    context: bool = Field(False, description="'For the user @donec, ...': where to act, not what to do.")
    choose: bool = Field(False, description="'add X to the group Y': Y is chosen in a list or ticked, never "
                                            "typed or clicked by name (a filter link 'Y' sets nothing).")
    leave: bool = Field(False, description="'remove X from the group Y': Y is taken out of X's chosen list.")
    clause: int = 0

    @property
    def shown(self) -> str:
        """How the value reads in a part's name."""
        return f"secret {self.secret_name}" if self.kind == "secret" else self.text

    @property
    def secret_name(self) -> str | None:
        m = TEMPLATE_RE.fullmatch(self.text.strip())
        return m.group(2) if m and m.group(1) == "secrets" else None


class Part(BaseModel):
    """Something a finished run must have done; ``text`` is how the failure names it."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["value", "secret", "attribute", "action", "read"]
    text: str
    words: tuple[str, ...] = ()
    intent: str | None = None
    value: Value | None = None
    clause: int = 0
    ordinal: int | None = Field(None, description="'the 3rd textbox': 3; 'the last link': -1.")
    kind_words: tuple[str, ...] = Field((), description="The kind of element the clause names (textbox, link).")
    off: bool = Field(False, description="An attribute to take away: 'take away staff status', 'not active'.")
    described: bool = Field(False, description="An attribute said by what it lets the record do ('who can log in "
                                               "to the admin site'): a control whose help text says so.")


class Task(BaseModel):
    """The instruction as the planner works on it."""

    model_config = ConfigDict(frozen=True)

    instruction: str
    intents: tuple[str, ...]
    values: tuple[Value, ...]
    parts: tuple[Part, ...]
    words: tuple[str, ...] = Field(description="Stemmed content words of the whole instruction.")
    clauses: tuple[str, ...] = ()
    clause_intents: tuple[str | None, ...] = Field((), description="What each clause asks, as read_task read it.")
    unread: tuple[str, ...] = Field((), description="Values the instruction states that no part of the task "
                                                    "holds (a phrasing the reader missed): planning fails naming them.")

    def clause_intent(self, clause: int) -> str | None:
        return self.clause_intents[clause] if clause < len(self.clause_intents) else None

    @property
    def secrets(self) -> list[str]:
        return [v.secret_name for v in self.values if v.secret_name]

    def has(self, intent: str) -> bool:
        return intent in self.intents


def named_secrets(text: str) -> list[tuple[int, int, str]]:
    """(start, end, name) of each secret ``text`` names."""
    out = []
    for m in _SECRET_WORD.finditer(text):
        before, after = _NAME_BEFORE.search(text[:m.start()]), _NAME_AFTER.match(text, m.end())
        if before and _IDENT.fullmatch(before.group(1)) and before.group(1).lower() not in STOP:
            out.append((before.start(1), m.end(), before.group(1)))
        elif after and after.group(1).lower() not in STOP:
            out.append((m.start(), after.end(1), after.group(1)))
    for m in _PASSWORD_IN.finditer(text):  # "password in DJANGO_PW", "DJANGO_PW holds the password"
        name = m.group("a") or m.group("b")
        at = m.start("a") if m.group("a") else m.start("b")
        if not any(a <= at < b for a, b, _ in out):
            out.append((at, at + len(name), name))
    return sorted(out)


def _value_like(token: str, first: bool) -> bool:
    if _ORDINAL.fullmatch(token):
        return False  # "the 3rd textbox" names a position, not a value
    if any(c.isdigit() for c in token) or "@" in token or "_" in token.strip("_"):
        return True  # "_": an identifier ("old_kiosk"), never a word
    if len(token) >= 2 and token.isupper():
        return token.lower() not in ("i", "ok") or not first  # an acronym: IT, CSV, PDF
    if token.lower() in STOP or len(token) < 2:
        return False
    if token[0].isupper() and not first:
        return True
    return any(c.isupper() for c in token[1:])  # 'nODF', 'eBay'


# What only a person has: the record it is said of is a user.
_PERSONAL_FIELD = r"(?:e-?mail(?:\s+address)?|first\s+name|last\s+name|surname|phone|password|birthday)"
_PERSONAL = re.compile(rf"^['’]s\s+(?:\w+\s+)?{_PERSONAL_FIELD}\b", re.I)
# Words a record is made, never its name ("make her a staff member", "mark it as done").
_ATTRIBUTE_WORDS = {"new", "sure", "staff", "active", "inactive", "superuser", "admin", "member", "done"}
# "the first name of jlmoreau": whose it is (a person), not what the field holds now.
_PERSONAL_OF = re.compile(rf"\b{_PERSONAL_FIELD}\s+of\s+$", re.I)
# "as well", "as usual": no name after "as".
_AS_WHAT = {"well", "usual", "before", "soon", "needed", "asked", "is", "such", "follows"}
_STAYS_IN = re.compile(r"\b(?:stays?|remains?|keeps?|kept|staying)\s+(?:\w+\s+)?(?:in|on|as)\s+(?:the\s+)?$", re.I)


_PLURAL_CUES = {"users", "accounts", "members", "groups", "usernames"}


def _listed_after_plural(tokens: list[re.Match[str]], i: int) -> bool:
    """Token ``i`` is in a list of names after a plural cue: "the users ahmed and lucia", "members a, b and c"."""
    for j in range(i - 1, max(-1, i - 7), -1):
        low = tokens[j].group(0).lower()
        if low in _PLURAL_CUES:
            return True
        if low != "and" and (low in STOP or intent_of(low) is not None):
            return False
    return False


def _named_here(clause: str, tokens: list[re.Match[str]], i: int, *, cues: set[str], login: bool, record_for: bool,
                whom: list[tuple[int, int]]) -> bool:
    """Whether token ``i`` is a value for where it stands, whatever its letter case: after a naming cue ("as
    alice", "user bob", "login is admin"), whom an attribute is given ("make erin staff"), whose field changes
    ("the first name of jlmoreau to ...")."""
    tok, low = tokens[i], tokens[i].group(0).lower()
    prev = tokens[i - 1].group(0).lower() if i else ""
    nxt = tokens[i + 1].group(0).lower() if i + 1 < len(tokens) else ""
    last = i + 1 == len(tokens) or clause[tok.end():tokens[i + 1].start()].strip().startswith(",")
    sep = clause[tokens[i - 1].end():tok.start()].strip() if i else ""
    plain = low not in STOP and intent_of(low) is None
    given = any(a <= tok.start() < b for a, b in whom) and plain and low not in _ATTRIBUTE_WORDS
    whose = record_for and prev == "of" and nxt in ("to", "as") and plain and sep == "" \
        and not re.search(r"\bof\s+(?:the\s+)?\w+\s+of\s*$", clause[:tok.start()], re.I)
    # "revoke staff status for dkowalski": whose; "his account, j.okafor,": the account named again
    cued = (prev in cues or prev in ("is", "=") and i > 1 and tokens[i - 2].group(0).lower() in cues
            or _listed_after_plural(tokens, i)
            or login and i == 0 and re.match(r"\s*[/+]", clause[tok.end():]) is not None
            or record_for and prev == "for" and last
            or login and nxt in ("account", "user", "login", "credentials") and prev in ("the", "using", "as"))
    adjoining = i == 0 or sep == "" or sep == "," and last or sep == ":" and login and prev in ("login", "user", "username")
    # "mark her as staff" says what she is made, not who she is
    made_as = prev == "as" and i > 1 and (tokens[i - 2].group(0).lower() in ("her", "him", "them", "it")
                                          or any(a <= tokens[i - 2].start() < b for a, b in whom))
    # a lower-case "-ly" word is how it is done: "delete that user completely"
    manner = tok.group(0).islower() and low.endswith("ly")
    return given or whose or (cued and plain and adjoining and not made_as and nxt != "status" and low not in cues
                              and low not in ("secret", "password") and not manner and low not in _AS_WHAT)


def _spans(clause: str, skip: int, login: bool = False, record_for: bool = False) -> list[tuple[int, int, str, str]]:
    """(start, end, text, kind) of the values of one clause, in order; the verb phrase
    (``clause[:skip]``) holds none. In a login, the word after "using"/"with" is who signs in."""
    cues = NAMING_CUES | ({"using", "with"} if login else set())
    out: list[tuple[int, int, str, str]] = []
    taken: list[tuple[int, int]] = [(0, skip)] if skip else []
    # An attribute taken away is no value ("keep the account inactive").
    taken += [(m.start(), m.end()) for m in _ATTRIBUTE_OFF.finditer(clause)]
    taken += [(m.start("f"), m.end("f")) for m in _ATTRIBUTE.finditer(clause) if m.group("f")]  # a state kept
    # whom an attribute is given ("make erin staff") is the record
    whom = [(m.start("who"), m.end("who")) for m in _ATTRIBUTE.finditer(clause) if m.group("who")]

    def add(a: int, b: int, text: str, kind: str) -> None:
        if text.strip() and not any(a < e and s < b for s, e in taken):
            out.append((a, b, text.strip(), kind))
            taken.append((a, b))

    for m in TEMPLATE_RE.finditer(clause):
        add(m.start(), m.end(), m.group(0), "secret" if m.group(1) == "secrets" else "param")
    for a, b, name in named_secrets(clause):
        add(a, b, "{{ secrets.%s }}" % name, "secret")
    for m in _QUOTED.finditer(clause):
        add(m.start(), m.end(), next(g for g in m.groups() if g is not None), "literal")
    for a, b, _ in written_dates(clause):  # "March 3, 2021" is one value, its comma no list
        add(a, b, clause[a:b], "literal")
    tokens = list(_TOKEN.finditer(clause))
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        first = tok.start() == 0
        low = tok.group(0).lower()
        nxt = tokens[i + 1].group(0).lower() if i + 1 < len(tokens) else ""
        if login and first and nxt in ("login", "credentials") and low not in STOP:  # "Admin login; ..."
            add(tok.start(), tok.end(), low, "literal")  # capital only because it starts the sentence
            i += 1
            continue
        named = _named_here(clause, tokens, i, cues=cues, login=login, record_for=record_for, whom=whom)
        before = clause[:tok.start()]
        if login and re.search(r"\b(?:into|to|onto|on)\s+(?:the\s+)?$", before, re.I) and not re.search(
                rf"\b(?:{_VERBS})\b", before[skip:], re.I) or _STAYS_IN.search(before):
            i += 1  # "sign into the Django admin" says where; "he stays in Accounting" what is kept
            continue
        if re.match(r"['’]s\b", clause[tok.end():]) and low not in STOP and intent_of(low) is None:
            # "mgarcia's account", "abennett's email address": whose record
            add(tok.start(), tok.end(), tok.group(0), "literal")
            i += 1
            continue
        if _value_like(tok.group(0), first) or named:
            j = i
            # Proper names and months run over several words: "Jane Doe", "March 2026".
            # A name with a number stays whole too: "Contractors 2025", "Room 101".
            while j + 1 < len(tokens) and (tokens[j + 1].group(0)[0].isupper() or (
                    (tokens[j].group(0).lower() in MONTHS or tokens[j].group(0)[0].isupper())
                    and tokens[j + 1].group(0).isdigit())) \
                    and clause[tokens[j].end():tokens[j + 1].start()].strip() == "" \
                    and tokens[j + 1].group(0).lower() not in STOP:
                j += 1
            add(tok.start(), tokens[j].end(), clause[tok.start():tokens[j].end()], "literal")
            i = j + 1
            continue
        i += 1
    return sorted(out)


def _plain_words(text: str) -> tuple[str, ...]:
    """Content words of ``text`` that are neither naming cues nor intents (at most the last three)."""
    # "e-mail" is one word, as the field's label writes it ("Email")
    text = re.sub(r"\b([A-Za-z])-([A-Za-z]{2,})\b", r"\1\2", text)
    got = [stem(w) for w in re.findall(r"[A-Za-z]{2,}", text) if w.lower() not in STOP
           and w.lower() not in NAMING_CUES and intent_of(w) is None]
    return tuple(dict.fromkeys(got[-3:]))


# Words after a value that say how, not where ("add her to Finance instead").
_HOW_WORDS = {"instead", "too", "also", "again", "now", "please", "only", "anymore", "immediately", "today"}


def _field_words(clause: str, start: int, end: int, prev_end: int, nxt_start: int,
                 intent: str | None) -> tuple[str, ...]:
    """Stemmed words naming the field of the value at [start, end): the words just before it
    (after the verb phrase or the previous value), else the one word right after it."""
    owner = re.match(r"['’]s\s+(?:\w+\s+)?(\w+)", clause[end:])
    if owner:  # "mgarcia's account": the record it names, by the kind said after it (or none)
        kind = stem(owner.group(1))
        return SAME_THING.get(kind, (kind,)) if kind in SAME_THING or kind in (stem("user"), stem("group")) else ()
    before = clause[prev_end:start]
    listed = re.split(r"[:;,(]", before)[-1]  # "File a new request: full name Ada": the field is "full name"
    if re.search(r"[A-Za-z]", listed):
        prev_end, before = start - len(listed), listed
    raw = re.findall(r"[A-Za-z]+", before)
    cue = raw[-1].lower() if raw else ""
    if cue in ("named", "called", "titled"):
        return (stem("name"),)
    if cue in NAMING_CUES - {"as"}:
        return (stem(cue),)
    if intent == "login" and (cue in ("as", "using", "with", "the", "login") or re.match(r"\s*[/+]|\s+(?:account|user)\b", clause[end:])):
        return (stem("user"),)  # "as admin", "Login admin", "the admin account"
    if cue == "for" and end == len(clause.rstrip(" .!?")) and intent in ("edit", "type", "check", "uncheck", None):
        return (stem("user"),)  # "revoke staff status for dkowalski": whose status
    got = list(_plain_words(clause[prev_end:start]))
    if not got:
        m = re.match(r"\s+([A-Za-z]+)", clause[end:nxt_start])
        if m and m.group(1).lower() not in STOP | _HOW_WORDS and intent_of(m.group(1)) is None:
            got = [stem(m.group(1))]
    if re.search(r"\b(named|called|titled)\s*$", clause[max(prev_end, start - 12):start], re.I):
        got.append(stem("name"))
    return tuple(dict.fromkeys(got))


def _lists(rest: str) -> bool:
    """The object is plural and no identifier names one thing ("the invoices of March 2026")."""
    if any(re.search(r"[A-Za-z]", t) and re.search(r"\d", t) for t in re.findall(r"\S+", rest)):
        return False
    noun = next((w for w in re.findall(r"[A-Za-z]+", rest) if w.lower() not in STOP), "")
    return len(noun) > 3 and noun.lower().endswith("s") and not noun.lower().endswith("ss")


# A clause's first word followed by one of these is its subject, not a verb ("Accounting is asking").
_AUXILIARY = re.compile(r"\s+(?:is|are|was|were|has|have|had|will|would|can|could|should|must|needs?|wants?)\b", re.I)


def lead_verbs(instruction: str) -> list[str]:
    """The verb each clause of ``instruction`` starts with ("open", "approve"); a word that is part of
    a value ("INV" of "INV-1034") or the clause's subject is none."""
    out = []
    for clause in _CLAUSE.split(" ".join(instruction.split())):
        m = LEAD.match(clause or "")
        if not m or m.group("verb").lower() in STOP or m.group("verb").lower() in NUMBER_WORDS:
            continue  # "Two requests please: ...": a count, not a verb
        after = clause[m.end("verb"):]
        if after[:1] in ("-", "_", "@", ".", "/") and after[1:2].strip() or _AUXILIARY.match(after):
            continue
        out.append(m.group("verb").lower())
    return out


# '"abc" in all upper case letters', "in capitals", "in lowercase": the value is typed in that case.
_LETTER_CASE = re.compile(r"\W*\s*(?:in|using|with)\s+(?:all\s+)?(?:(?P<up>upper[\s-]?case|capitals?|caps|block letters)|"
                          r"(?P<low>lower[\s-]?case|small letters))\b", re.I)


_SIGN_IN_WITH = re.compile(r"\b(?:with|using|as)\s+(?:the\s+)?(?:user(?:name)?|login|account)\s+\S+|\b(?:as|using)\s+\S+|"
                           r"^\s*[\w.@-]+\s*[/+]\s*|"  # "admin / secret PW": a user and a password
                           r"\b(?:login|log-in|credentials)\b", re.I)
_STAYS = re.compile(r"\s+(?:one\s+|group\s+|user\s+|account\s+)?(?:stays|remains|must\s+stay|should\s+stay|"
                    r"must\s+remain|should\s+remain|is\s+kept|stays\s+as\s+it\s+is)\b", re.I)
_MODAL_PASSIVE = re.compile(r"\b(?:can|could|should|must|may|will|shall|needs? to|has to|have to|is to|are to)\s+"
                            r"(?:now\s+|also\s+|then\s+|please\s+)?be\s+([a-z]+ed)\b", re.I)
# A thing said to be called, named or spelled something else is renamed.
NAMING_PARTICIPLES = {"called", "named", "renamed", "spelled", "spelt", "written", "titled", "labelled", "labeled",
                      "known", "shown", "displayed"}
_GOES = re.compile(r"\b(?:can|could|should|must|may|has\s+to|have\s+to|needs?\s+to)\s+go\b"
                   r"(?!\s+(?:to|into|back|ahead|on|through|in|out|over)\b)", re.I)
_MODAL_STATE = re.compile(r"\b(?:should|must|needs? to|has to|is to)\s+(?:now\s+|from now on\s+)?(?:have|be)\b(?!\s+able\b)", re.I)


# Words that ask nothing before what does: a greeting, an assent, a count of what follows, an end ("Hi!",
# "Yes, I'm sure", "Two things, ...", "Nothing else"). What is kept as it is asks nothing either ("Leave the
# other groups alone", "Keep him in Sales"); "keep the account inactive" does ask.
_NOT_ASKED = re.compile(r"\s*(?:hi|hello|hey|dear\s+\w+|thanks?|thank\s+you|cheers|yes|yeah|yep|ok|okay|sure|"
                        r"nothing\s+(?:else|more)|that'?s\s+(?:all|it)|whatever\s+(?:you\s+do|happens)|(?:one|two|three|four|five|several|a\s+few)\s+"
                        r"(?:things?|tasks?|requests?|changes?|jobs?)(?:\s+please)?)(?:\W+|$)", re.I)
_THOSE = re.compile(r"^\s*(?:please\s+)?(?:[a-z]+\s+){1,3}?(?P<those>both(?:\s+of\s+them)?|all\s+of\s+them|each\s+of\s+them|them\s+all|"
                   r"them|these|those|the\s+two)\b(?!\s+(?:groups?|users?|accounts?)\b)", re.I)
_POLITE = re.compile(r"^\s*(?:could|can|would|will)\s+you\s+(?:please\s+|kindly\s+)?(?=[a-z])", re.I)
_KEPT = re.compile(r"\s*(?:please\s+)?(?:leave|keep)\s+(?:(?:the\s+(?:user|group|account)\s+)?"
                   r"(?!(?:it|them|him|her|everything|all|active|inactive|staff)\b)[\w.@-]+\W*$|.*?(?:\balone|\bout|\bas\s+(?:it|they|he|she)\s+(?:is|are)|\buntouched|"
                   r"\bunchanged|\bin\s+(?:the\s+)?(?-i:[A-Z0-9])\S*(?:\s+(?-i:[A-Z0-9])\S*)?)\W*$)", re.I)
# What happened or is so, told as context: a subject, then a verb that is no request ("hsato is joining the
# audit team", "jfletcher stepped down", "We don't use it anymore", "She needs to be able to log in").
_SUBJECT_PRONOUNS = {"i", "we", "he", "she", "they", "it", "this", "that", "there"}
_TOLD = re.compile(r"(?P<who>[\w.@'-]+(?:\s+[A-Z][\w'-]*)?)(?:['’]s\s+\w+)?(?:\s*\((?P<aka>[^)]*)\))?"
                   r"(?:\s+(?:no\s+longer|not|now|just|also|already|still|recently))?"
                   r"(?:\s+(?:(?:is|are|was|were|has|have|had|will|'s)\b|[a-z]+ed\b|"
                   r"(?:needs|wants)\s+to\s+be\s+able\b|(?:joins|starts|leaves|left|moves|got|gets|works|uses|runs|owns)\b)"
                   r"|\s*$)")  # ("Bob needs staff status" asks: it is no context)


# Words of time in context ("starts on Monday", "next month"): no record.
_WHEN = set(MONTHS) | {m[:3] for m in MONTHS} | set("monday tuesday wednesday thursday friday saturday sunday today "
                                                    "tomorrow yesterday".split())


def _told(clause: str) -> str | None:
    """The subject of a clause that tells, not asks ("" for a pronoun); None for a clause that asks."""
    if re.match(r"\s*(?:this\s+is|i\s+am|i'?m|we\s+are|we'?re|my\s+name\s+is)\b", clause, re.I):
        return ""  # "this is HR": who writes, no record
    m = _TOLD.match(clause)
    if m is None or _asked_state(clause) is not None:
        return None
    # Context names nothing but whom it is about: a clause that names more ("He belongs in the Help Desk
    # group") may be a request said as a fact, and is read as one (it fails if no page does it, never
    # passes unread).
    rest = clause[m.end("who"):]
    if _QUOTED.search(rest) or any(_value_like(t.group(0), False) and t.group(0).lower() not in _WHEN
                                   and not re.fullmatch(r"\d+(?:st|nd|rd|th)?", t.group(0))
                                   for t in _TOKEN.finditer(re.sub(r"\([^)]*\)", " ", rest))):
        return None
    who = m.group("who")
    first = re.split(r"[\s'’]", who)[0].lower()
    if first in _SUBJECT_PRONOUNS:
        return ""
    if intent_of(first) is not None or re.fullmatch(_VERBS, first) or first in STOP or m.end() == len(clause):
        return None  # a verb first is a request ("delete X"); a lone word is not a sentence
    aka = re.search(r"\b(?:username|user|login|account)\s+([\w.@-]+)", m.group("aka") or "")
    return aka.group(1) if aka else who  # "Nolan (username nolan.price) has to ...": nolan.price


# "need a group 'X'", "we need an account for bob": a request to create one.
_NEED = re.compile(r"^\s*(?:(?:i|we)\s+)?(?:need|want|would\s+like)\s+(?=(?:a|an|another|one\s+more)\s)", re.I)
_IF_ASKED = re.compile(r"\b(?:if|when|where)\s+(?:asked|prompted|needed|necessary|required)\b", re.I)
_PARENTHESES = re.compile(r"\s*\(([^()]*)\)")


def _restated(clause: str) -> str:
    """The clause without a remark in parentheses that only says again what it names ("move X from A into
    B (he should end up only in B)"): every name in it is named outside it too."""
    def drop(m: re.Match[str]) -> str:
        inside = {t for t in re.findall(r"\b[A-Z][\w-]*|\S*\d\S*", m.group(1)) if t.lower() not in STOP}
        outside = clause[:m.start()] + clause[m.end():]
        return "" if inside and all(re.search(rf"\b{re.escape(t)}\b", outside) for t in inside) else m.group(0)
    return _PARENTHESES.sub(drop, clause)


# An object pronoun right after the verb ("put him in the Auditors group") stands for whom the context named.
_OBJECT_PRONOUN = re.compile(r"^(\s*(?:please\s+)?[a-z]+\s+)(?:him|her|them|it|(?:his|her|their|its)\s+(?:own\s+)?"
                             r"(?P<noun>account|profile|user|login))\b", re.I)
_RECORD_FIELDS = {stem("user"), stem("username"), stem("account"), stem("login"), stem("group")}
# A state of membership or of rights asked for, said as a request: "He belongs in the Help Desk group" puts
# him there; "her account (priya.nair) needs full superuser rights" makes that account a superuser.
_BELONGS = re.compile(r"^\s*(?P<who>.+?)\s+(?:belongs?|should\s+be|needs\s+to\s+be|must\s+be)\s+(?:in|into|to|a\s+member\s+of)"
                      r"\s+(?P<where>(?:the\s+)?\S.*?\bgroup)\b", re.I)
# ... and not being in a group, said of whom: "She should not be in Reviewers", "make sure he isn't a member of
# Sales" takes them out of it (when they are in it).
_BELONGS_NOT = re.compile(r"^\s*(?P<sure>(?:make\s+sure|ensure)\s+(?:that\s+)?)?(?P<who>.+?)\s+(?:should\s*n[o']t|must\s*n[o']t|"
                          r"(?:should|must|can|may)\s+not|(?:is|are)\s*n[o']t)\s+"
                          r"(?:be\s+|stay\s+|remain\s+|belong\s+)?(?:in|to|a\s+member\s+of|part\s+of|among)\s+"
                          r"(?P<where>(?:the\s+)?(?:(?-i:[A-Z])|['\"“]).*)$", re.I)
_NEEDS_RIGHTS = re.compile(r"^\s*(?P<who>.+?)\s+needs?\s+(?:full\s+|the\s+)?(?<![-\w])(?P<what>(?!full\b)[a-z]+)\s+(?:rights|status|access|privileges)\b",
                           re.I)


# A person's whole name said of them: "her name is Mei Chen", "his full name: Ola Berg" (a "full name"
# alone may be one field's name).
_FULL_NAME = re.compile(r"\b(?:her|his|their|(?:the\s+)?(?:user|person)['’]s)\s+(?:full\s+|real\s+)?name\s*(?:is|should\s+be|:|=)?\s*$"
                        , re.I)
_HAS_RIGHT = re.compile(r"^\s*(?P<who>.+?)\s+(?:should|must|needs?\s+to|has\s+to|have\s+to)\s+(?:have|get|hold)\s+"
                        r"(?P<what>(?:the\s+)?\S.*?\b(?:permission|right|privilege|role)s?)\b", re.I)


def _object_form(who: str) -> str:
    """A subject pronoun as the object of a request ("she should be in X" -> "put her in X")."""
    return {"he": "him", "she": "her", "they": "them"}.get(who.lower(), who)


def _as_request(clause: str) -> str:
    """A state asked for, as the request that makes it so ("put him in the Help Desk group")."""
    if m := _BELONGS.match(clause):
        who = _object_form(m.group("who"))
        return f"put {who} in {m.group('where')}"
    if (m := _BELONGS_NOT.match(clause)) and (m.group("sure") or not re.search(r"\b(?:is|are)\s*n", clause[m.end("who"):], re.I)):
        # ("X is not in Sales" says how things stand; "make sure X is not in Sales" asks it)
        who = _object_form(m.group("who"))
        return f"remove {who} from {m.group('where')}"
    if m := _HAS_RIGHT.match(clause):  # "it should have the Can add user permission"
        who = _object_form(m.group("who"))
        return f"give {who} {m.group('what')}"
    if m := _NEEDS_RIGHTS.match(clause):
        who = m.group("who")
        named = re.search(r"\(\s*([\w.@-]+)\s*\)", who)  # "her account (priya.nair)"
        if named or re.fullmatch(r"[\w.@-]+", who):  # ... or "Bob": the account of that name
            who = f"the account {named.group(1) if named else who}"
        return f"make {who} {m.group('what')}"
    return clause
_RELATIVE_SAID_EXACTLY = re.compile(r"\s+(?:whose|who|which|that)\s+[^,.;]+?,?\s*\b(?:i\.e\.?|that is|in other words|namely)[,:]?\s+"
                                    r"(?=(?:it|they|he|she|this|that)\s)", re.I)
_THAT_IS = re.compile(r",?\s*\b(?:i\.e\.?|that is|in other words|namely)[,:]?\s+", re.I)
# "The Auditors group needs read-only access, so give it ...": why, then the request (about the same thing)
_SO = re.compile(r",\s+so\s+(?!that\b)", re.I)


# A thing said to be another now is renamed; the words between the two names end in this.
_IS_NOW = re.compile(r"\b(?:is|are)\s+now\s+(?:officially\s+|called\s+|named\s+|known\s+as\s+)*(?:the\s+)?", re.I)


def _why(clause: str, later: list[str]) -> str | None:
    """A clause that asks nothing itself (no verb of a request, no state asked for) and names only what a
    later clause names again, or what the next one calls "it": the reason for that request ("The Auditors
    group needs read-only access, so give it ..."). Its subject, for the pronoun; None for a clause that asks."""
    lead = LEAD.match(clause)
    if not lead or intent_of(lead.group("verb")) or re.fullmatch(_VERBS, lead.group("verb"), re.I) or _asked_state(clause):
        return None
    names = {t.group(0) for t in _TOKEN.finditer(clause) if t.start() > 0 and _value_like(t.group(0), False)}
    rest = " ".join(later)
    again = all(re.search(rf"(?<![\w.@-]){re.escape(n)}(?![\w.@-])", rest) for n in names)
    subject = re.match(r"\s*(?:the\s+|our\s+)?(.+?)\s+(?:needs?|is|are|has|have|was|were)\b", clause, re.I)
    if not names or not (again or len(names) == 1 and later and _OBJECT_PRONOUN.match(later[0]) and subject):
        return None
    return f"the {subject.group(1)}" if subject else ""


def _said_exactly(clause: str) -> str:
    """ "X should be allowed to edit users, i.e. grant it the 'Can change user' permission": what follows says it
    exactly, and "it" is what the words before were about; so too after a reason ("X needs ..., so give it
    ..."). After a request, "so ..." only says why."""
    m = _THAT_IS.search(clause) or _SO.search(clause)
    if not m:
        return clause
    lead = LEAD.match(clause)
    subject = re.match(r"\s*(?:the\s+)?(.+?)\s+(?:should|must|can|could|needs?|is|are|has|have|was|were)\b", clause[:m.start()], re.I)
    if m.re is _SO and lead and (intent_of(lead.group("verb")) or re.fullmatch(_VERBS, lead.group("verb"), re.I)
                                 or not subject and lead.group("verb").lower() not in _SUBJECT_PRONOUNS | {"you", "i", "we"}
                                 and lead.group("verb").islower()):
        # "Disable his account, so he can't sign in": the request, then why (whatever its verb: no subject
        # said before "so", so no reason either: "schedule X ..., so nobody has to remember")
        return clause[:m.start()]
    rest = clause[m.end():]
    return _OBJECT_PRONOUN.sub(lambda p: p.group(1) + "the " + subject.group(1), rest, count=1) if subject else rest


def _with_referent(clause: str, referent: str, record: str) -> str:
    """The object pronoun after the verb as whom it stands for: whom the context named ("hsato is joining
    ... put him in ..."), else, where someone joins, leaves or is granted something, the record of the
    clause before ("create anna ... and put her in X"); "his own account" is "the account nolan.price"."""
    joins = _JOINS.match(clause) or _LEAVES.match(clause)
    if joins and record.startswith("the group ") and re.fullmatch(r"(?:it|that(?:\s+group)?|this\s+group)\W*",
                                                                   joins.group("where").strip(), re.I):
        # "create a group named Night Shift, and add the users ahmed and lucia to it": that group
        return clause[:joins.start("where")] + record + clause[joins.end("where"):]
    said = _OBJECT_PRONOUN.match(clause)
    who = referent or (record if any(rx.match(clause) for rx in (_JOINS, _LEAVES, _GRANTED)) else "")
    if not who or not said or re.match(r"\s*,\s*[\w.@-]+\s*(?:,|$)", clause[said.end():]):
        return clause  # "Disable his account, j.okafor, ...": the clause names it itself
    noun = f"the {said.group('noun')} " if said.group("noun") else ""
    return clause[:said.start()] + said.group(1) + noun + who + clause[said.end():]


def _asked_state(clause: str) -> tuple[str, str | None] | None:
    """(verb, intent) of a request put as a state: "X can be deleted" deletes, "X should be archived"
    asks for "archive" (maybe nothing the site offers), "user X should now have the name Y" edits."""
    m = _MODAL_PASSIVE.search(clause)
    if m:
        word = m.group(1).lower()
        if word in NAMING_PARTICIPLES:
            return "rename", "edit"  # "group X should be spelled out in full: Y", "... be called Y"
        for base in (word[:-1], word[:-2], word[:-3]):
            if (intent := intent_of(base)) is not None:
                return base, intent
        return word[:-2] if word.endswith("ed") else word, None
    if _GOES.search(clause):
        return "delete", "delete"  # "the old_kiosk account can go"
    if _MODAL_STATE.search(clause):
        return "edit", "edit"
    if _IS_NOW.search(clause):
        return "rename", "edit"  # "Our Interns group is now officially the Apprentices group"
    return None


# "As admin (password: secret PW), the group X should be called Y": a sign-in said before the request.
_LOGIN_LEAD = re.compile(r"\s*(?:as|using|with)\s+[\w.@-]+\s*(?:\([^)]*\)|[^,]*?\bsecret\b[^,]*)\s*,\s+(?=\S)", re.I)


# Saying that one signs in, anywhere in a clause ("You'll need to sign in as admin", "Admin credentials: ...").
_LOGIN_SAID = re.compile(r"\b(?:log|sign)(?:ged|ging)?\s*(?:in|on|into)\b|\blog-?in\b|\bcredentials\b", re.I)


def _unbracket(clause: str) -> str:
    """A clause cut out of a remark in brackets, without the bracket it was cut from ("(Sign in as admin")."""
    clause = clause.strip(" ,")
    for opening, closing in ("()", "[]"):
        if clause.startswith(opening) and closing not in clause:
            clause = clause[1:]
        if clause.rstrip(".").endswith(closing) and opening not in clause:
            clause = clause.rstrip(".")[:-1]
    return clause.strip(" ,")


def _login_first(clause: str) -> list[str]:
    m = _LOGIN_LEAD.match(clause)
    if m and named_secrets(m.group(0)):
        return [m.group(0).strip(" ,"), clause[m.end():]]
    # "Log in as admin with secret PW and schedule ...": a sign-in holds no other work, whatever its verb
    m = _LOGIN_THEN.match(clause)
    if m and named_secrets(m.group(0)) and named_secrets(m.group(0))[-1][1] <= m.end(1):
        return [m.group(1).strip(" ,"), clause[m.end(1):].strip()[len("and"):].strip()]
    return [clause]


_LOGIN_THEN = re.compile(r"(\s*(?:please\s+)?(?:log|sign)\s*(?:in|on|into)\b.*?)\s+and\s+(?!(?:the|a|an|my|your|its|password|"
                         r"pw|secret|with|use|using|then)\b)[a-z]+\s", re.I)


def read_task(instruction: str) -> Task:
    """Values, secrets and parts of ``instruction``."""
    text = " ".join(instruction.split())
    # "pwhite: deactivate, don't delete": what the request is about, said first
    text = re.sub(rf"^\s*([\w.@'-]+):\s+((?:{_VERBS})\w*)\b", r"\2 \1", text, flags=re.I)
    # "a group named X whose members may add users, i.e. it should have the Can add user permission": the
    # request, then what its relative clause asks, said exactly (its own sentence, "it" the record made)
    text = _RELATIVE_SAID_EXACTLY.sub(". ", text)
    # "... and on the account dkowalski set the last name to X": that record is opened, then changed
    text = re.sub(rf"\b(?:on|in)\s+(?:the\s+)?(account|user|group|record|profile)\s+([\w.@-]+)\s+(?=(?:{_VERBS})\b)",
                  r"open the \1 \2, then ", text, flags=re.I)
    clauses = [part for c in _CLAUSE.split(text) if c and _unbracket(c) for part in _login_first(_unbracket(c))]
    values: list[Value] = []
    parts: list[Part] = []
    intents: list[str] = []
    clause_intents: list[str | None] = []
    # A secret named anywhere is the login's password: no other is assumed ("..., log in and delete X").
    named_secret = bool(named_secrets(text)) or "{{ secrets." in text
    asking: list[str] = []  # the clauses that ask something: their words are the task's
    record = ""  # the record the last clause named (a user made or changed)
    heard: list[str] = []  # what was read and deliberately left (context, what stays): values there are no task
    referent = ""  # whom the context named ("hsato is joining the audit team. ... put him in ...")
    for ci, clause in enumerate(clauses):
        # What must not be done asks nothing and holds no value ("but don't touch the user accounts").
        clause = re.sub(r"[\s,]+(?:and|but|or)?\s*$", "", NEGATED.sub(" ", clause))
        clause = clause[m.end():] if (m := _NOT_ASKED.match(clause)) else clause
        clause = _POLITE.sub("", clause, count=1)  # "Could you fill in ...": the request itself
        clause = _as_request(_said_exactly(clause))
        # "DJANGO_PW holds the password": the login's password, said apart
        secret_only = bool(named_secrets(clause)) and not _LOGIN_SAID.search(clause) and not _SIGN_IN_WITH.search(clause)
        if secret_only and (whose := _WHOSE_PASSWORD.match(clause)) and whose.group("who").lower() not in STOP \
                and not _LOGIN_SAID.search(text):
            # "Admin password is in secret PW" (and no sign-in said): whose password it is signs in with it
            who = whose.group("who")
            who = who.lower() if who[0].isupper() and who[1:].islower() and whose.start("who") == 0 else who
            clause, secret_only = f"log in as {who} with the password in secret {named_secrets(clause)[0][2]}", False
        told = _told(clause) if clause and not secret_only else None if clause else ""
        if told is None and clause and not secret_only:
            told = _why(clause, clauses[ci + 1:])  # "The Auditors group needs read-only access, so give it ..."
        if not clause or told is not None or (not secret_only and (_KEPT.match(clause) or re.match(
                r"\s*(?:the\s+)?[\w.@-]+(?:\s+[\w.@-]+)?" + _STAYS.pattern, clause, re.I))):
            referent = told or referent
            clause_intents.append(None)
            heard.append(clause)
            continue  # "wendy must stay", "Hi!", "jfletcher stepped down": nothing to do
        clause = _NEED.sub("create ", _with_referent(clause, referent, record))
        clause = _restated(clause)
        if (both := _THOSE.match(clause)) and ci and clause_intents[-1] is None and asking:
            # "Two of our groups are obsolete now, A and B. Get rid of both": the clause before only named them
            named = [v.text for v in values if v.clause == ci - 1 and v.kind == "literal"]
            noun = re.search(r"\b(group|user|account)s\b", clauses[ci - 1], re.I)
            if len(named) >= 2 and noun:
                things = " and ".join(f"the {noun.group(1).lower()} {n}" for n in named)
                clause = clause[:both.start("those")] + things + clause[both.end("those"):]
                values = [v for v in values if v.clause != ci - 1]
                parts = [p for p in parts if p.clause != ci - 1]
                asking.pop()
        clauses[ci] = clause
        if _IF_ASKED.search(clause) and not any(c.isdigit() or c.isupper() for c in clause[1:]):
            clause_intents.append(None)
            heard.append(clause)
            continue  # "Confirm the deletion if asked": a step of the work, taken when the page asks it
        asking.append(clause)
        m = LEAD.match(clause)
        verb = m.group("verb").lower() if m else ""
        intent = intent_of(verb, m.group("particle") or "") if m else None
        enters = verb == "enter" and re.search(r"\bas\s+(?!(?:the|a|an|its|their|his|her)\b)\w", clause, re.I)
        if intent is None and secret_only:
            m, verb = None, ""  # "DJANGO_PW holds the password", "for the password, see secret PW": the login's
        elif (intent in (None, "open") or enters) and _SIGN_IN_WITH.search(clause) and named_secrets(clause) or \
                intent is None and _LOGIN_SAID.search(clause) and _SIGN_IN_WITH.search(clause):
            # ("You'll need to sign in as admin for this", "Admin credentials: user admin")
            if m and intent is None:  # "Using admin and the secret PW ...", "admin / secret PW": who signs in
                m, verb = None, "log in"
            intent = "login"  # "Open the admin with user admin and the password from secret PW"
        asked_naming = False
        if intent is None and (asked := _asked_state(clause)) is not None:
            verb, intent = asked  # "the group X can be deleted": a request all the same
            m = None  # its first word is no verb ("abennett's email address should be ...")
            asked_naming = verb == "rename"  # the words around it ("spelled out in full") name no field
        if intent == "read" and verb == "get" and re.search(r"\b(csv|pdf|file)\b", clause, re.I):
            intent = "download"
        if verb == "get" and re.match(r"\s*get\s+rid\s+of\b", clause, re.I):
            intent = "delete"
        if verb == "give" and not re.match(r"\s*give\s+(me|us)\b", clause, re.I):
            intent = None  # "give her staff status" grants something; "give me its total" asks for it
        if intent == "open" and _lists(clause[m.end():] if m else clause):
            intent = "find"  # "show the invoices of March": a list, not one thing
        skip = m.end() if m else 0
        spans = _spans(clause, skip, login=intent == "login", record_for=intent in ("edit", "type", "check", "uncheck") or bool(
            _ATTRIBUTE_OFF.search(clause) or _ATTRIBUTE.search(clause) or _DEACTIVATE.search(clause)))
        if intent == "create" and verb in ("make", "mark") and _made(clause, [(a, b) for a, b, _, _ in spans]):
            intent = "edit"  # "make the group X expire": it exists already
        members = set()
        if m:
            spans = _with_who(clause, spans, m.start("verb"))
            members = {a for rx in (_JOINS, _LEAVES, _MOVES, _DEACTIVATE) if (j := rx.match(clause, m.start("verb")))
                       and j.group("who") for a, b, _, k in spans if j.start("who") <= a and b <= j.end("who")}
        joined = _joins(clause, spans, m.start("verb")) if intent in ("create", "type") and m else set()
        left = _joins(clause, spans, m.start("verb"), _LEAVES) if intent in ("delete", None) and m else set()
        granted = _GRANTED.match(clause, m.start("verb")) if m and intent is None else None
        if granted and not re.match(_Q, granted.group("what")):  # unquoted: each name is one value
            named = [(granted.start("what") + n.start(), granted.start("what") + n.end(), n.group(0), "literal")
                     for n in re.finditer(_NAMED, granted.group("what"))]
            spans = sorted([sp for sp in spans if sp[1] <= granted.start("what") or sp[0] >= granted.end("noun")]
                           + named)
        if granted:
            # "grant the Helpdesk group the 'Can change user' permission": chosen on the group's page
            joined = {a for a, b, _, k in spans if granted.start("what") <= a < granted.end("what") and k == "literal"}
            intent, verb = ("edit", "edit") if joined else (intent, verb)
        if m and intent is None and (moved := _MOVES.match(clause, m.start("verb"))):
            # "move kowusu from Day Shift into Night Shift": out of one chosen list entry, into another
            joined = {a for a, b, _, k in spans if moved.start("where") <= a and k == "literal"}
            left = {a for a, b, _, k in spans if moved.start("from") <= a < moved.end("from") and k == "literal"}
        if joined or left:
            # "add the user X to the group Y": X changes, Y is chosen on X's page; "remove X from the
            # group Y" takes Y out of X's chosen list (it deletes nothing)
            intent, verb = "edit", "edit"
        clause_intents.append(intent)
        clause_values: list[Value] = []
        prev_end = skip
        for k, (a, b, v, kind) in enumerate(spans):
            nxt = spans[k + 1][0] if k + 1 < len(spans) else len(clause)
            field = _field_words(clause, a, b, prev_end, nxt, intent)
            if intent == "login" and kind == "literal" and not clause_values and not set(field) & _RECORD_FIELDS \
                    and not re.search(r"pass|\bpw\b|e-?mail", clause[prev_end:a], re.I):
                # "Login admin, pw = ...", "The admin login is admin": who signs in (the login's first value)
                field = (stem("user"),)
            if granted and a in joined:
                field = (stem(granted.group("noun")),)  # the list it is chosen in: "Available permissions"
            elif kind == "literal" and _PERSONAL_OF.search(clause[prev_end:a]):
                field = (stem("user"),)
            elif not field and kind == "literal" and (a in members or _PERSONAL.search(clause[b:])):
                # who joins or leaves a group is a member; a record with an e-mail address or a last name is a person
                field = (stem("user"),)
            if kind == "secret":
                field = (stem("password"),) if re.search(r"pass(word|code)?", clause, re.I) or intent == "login" else field
            replaces = None
            to = r"(?:\bto|\bas|:)\s*$" if intent == "edit" else r"\bto\s*$"  # "rename X as Y", "... spelled: Y"
            between = clause[prev_end:a]
            if a not in joined | left and not re.search(r"\band\b|,", between) and (re.search(to, between) or asked_naming and (re.search(_IS_NOW.pattern + "$", between, re.I) or re.search(
                    r"\b(?:%s)\s*$" % "|".join(NAMING_PARTICIPLES), between, re.I))) \
                    and clause_values and kind == "literal":
                replaces = clause_values[-1].text
                if not field:  # "change the email address of user frank to X": the field came first
                    field = _plain_words(clause[skip:spans[k - 1][0]])
                if verb == "rename":
                    field = (stem("name"),) if asked_naming else tuple(dict.fromkeys((*field, stem("name"))))
            if kind == "literal" and _STAYS.match(clause[b:]):
                prev_end = b
                heard.append(v)
                continue  # "(the 2026 one stays)", "wendy must stay": what is kept, not what to do
            case = _LETTER_CASE.match(clause[b:nxt]) if kind == "literal" else None
            if case:
                v = v.upper() if case.group("up") else v.lower()
            whole = _FULL_NAME.search(clause[:a]) and kind == "literal" and not replaces
            if whole and re.fullmatch(r"(?-i:[A-Z])[\w'-]+\s+(?-i:[A-Z])[\w'-]+", v):
                # "her name is Mei Chen": a person's name is a first and a last name (two fields where the form
                # has them; "Mei Chen" in one field where it has one)
                first, last = v.split()
                clause_values += [Value(text=first, field=(stem("first"), stem("name")), clause=ci),
                                  Value(text=last, field=(stem("last"), stem("name")), clause=ci)]
                prev_end = b
                continue
            value = Value(text=v, kind=kind, field=field, replaces=replaces, clause=ci,  # type: ignore[arg-type]
                          choose=a in joined | left, leave=a in left)
            clause_values.append(value)
            prev_end = b
        for m in re.finditer(r"\bthe value of (?:the )?([A-Za-z][A-Za-z ]{1,30}?)(?= into| in| to|$|,)", clause, re.I):
            clause_values.append(Value(text=m.group(1).strip(), kind="lookup", clause=ci,
                                       field=_plain_words(clause[m.end():])))
        # "Admin credentials: user admin": one value said twice in a clause is one value, in the field its
        # record words name (the fill of one marks every part of that text, so the other never would be)
        seen: dict[tuple[str, str], int] = {}
        for k, v in enumerate(clause_values):
            if v.kind == "literal" and (v.text, v.kind) in seen:
                j = seen[(v.text, v.kind)]
                keep = v if set(v.field) & _RECORD_FIELDS and not set(clause_values[j].field) & _RECORD_FIELDS else clause_values[j]
                clause_values[j], clause_values[k] = keep, None  # type: ignore[call-overload]
            else:
                seen[(v.text, v.kind)] = k
        clause_values = [v for v in clause_values if v is not None]
        if re.search(r"\b(both|all|each|every)\b", clause, re.I):
            clause_values = [v.model_copy(update={"repeat": True}) for v in clause_values]
        if verb in PREPOSITIONS and not secret_only and not re.search(rf"\s(?:{_VERBS})\s", clause[skip:], re.I):
            # "For the user @donec": says where the next clause acts ("on the account X set the email to Y" asks)
            values += [v.model_copy(update={"context": True}) for v in clause_values]
            # ... and what it asks there, when no comma ends it ("for the user X take away staff status")
            parts += [p for p in _clause_parts(clause, ci, None, "", clause_values, [(a, b) for a, b, _, _ in spans])
                      if p.kind == "attribute"]
            continue
        if intent == "login" and not any(v.kind == "secret" for v in clause_values) and not named_secret:
            clause_values.append(Value(text="{{ secrets.password }}", kind="secret", field=(stem("password"),),
                                       clause=ci))
        values += clause_values
        if intent != "login":  # who signs in is no record of the work
            noun = re.search(r"\b(group|user|account)\s+(?:named|called|titled)\b", clause, re.I)
            named_now = next((("the group " if stem("group") in v.field or noun and noun.group(1).lower() == "group"
                               else "the user ") + v.text for v in clause_values if v.kind == "literal" and (
                set(v.field) & _RECORD_FIELDS or noun and v.field == (stem("name"),))), None)
            if named_now is not None:
                # "Piotr is joining ... Give the user pkowalski staff status and add him to ...": a pronoun
                # stands for the one named last, so a record named after the context replaces its subject
                record, referent = named_now, ""
        for v in clause_values:
            parts.append(Part(kind="secret" if v.kind == "secret" else "value", text=v.shown, value=v,
                              words=tuple(words(v.text)) if v.kind != "secret" else (), clause=ci))
        if intent:
            intents.append(intent)
        ordinal, kinds = position(clause)
        new = [] if secret_only and intent is None else \
            _clause_parts(clause, ci, intent, verb, clause_values, [(a, b) for a, b, _, _ in spans])
        if ordinal is not None:  # "the 3rd radio button", "into the 1st textbox": every part of the clause
            parts = [p.model_copy(update={"ordinal": ordinal, "kind_words": kinds}) if p.clause == ci else p
                     for p in parts]
            new = [p.model_copy(update={"ordinal": ordinal, "kind_words": kinds}) for p in new]
        parts += new
    heard += [v.text for v in values] + [p.text for p in parts]
    _one_record_each(clauses, clause_intents, values, parts)
    return Task(instruction=instruction, intents=tuple(dict.fromkeys(intents)), values=tuple(values),
                parts=tuple(parts), words=tuple(dict.fromkeys(content(without_values(" ".join(asking))))), clauses=tuple(clauses),
                clause_intents=tuple(clause_intents), unread=_unread(text, heard) + _unread_clauses(clauses, clause_intents, parts))


_WHOSE_PASSWORD = re.compile(r"\s*(?:the\s+)?(?P<who>[A-Za-z][\w.@-]*?)(?:['’]s)?\s+(?:password|pw|passcode)\b", re.I)
_REFERRING = {stem(w) for w in ("accordingly", "too", "also", "name", "record", "user", "account", "group", "sure")}


def _unread_clauses(clauses: list[str], intents: list[str | None], parts: list[Part]) -> tuple[str, ...]:
    """Clauses that ask a change and name something ("add the users ahmed and lucia to it") of which nothing
    was read: a run would leave that undone and may still look done. ("Rename it", "update its name
    accordingly" only point back at what other clauses said.)"""
    out = []
    for ci, (clause, intent) in enumerate(zip(clauses, intents)):
        if intent not in ("create", "edit", "delete") or any(p.clause == ci for p in parts) \
                or not any(intents[p.clause] != "login" and p.kind != "secret" for p in parts):
            continue  # (a request with no other work read fails anyway: nothing else could look done)
        m = LEAD.match(clause)
        rest = set(content(clause[m.end():] if m else clause)) - _REFERRING
        if rest - {w for p in parts for w in p.words}:
            out.append(clause.strip())
    return tuple(out)


def _one_record_each(clauses: list[str], intents: list[str | None], values: list[Value], parts: list[Part]) -> None:
    """"Add the users ahmed and lucia to Night Shift": each user's page chooses it, so each user gets a clause
    of their own (appended: a value to choose waits for its clause's record, and one choice is one record's)."""
    for ci in range(len(clauses)):
        whom = [p for p in parts if p.clause == ci and p.kind == "value" and p.value is not None and not p.value.choose
                and p.value.kind == "literal" and stem("user") in p.value.field]
        chosen = [p for p in parts if p.clause == ci and p.value is not None and p.value.choose]
        for w in whom[1:] if chosen else []:
            new = len(clauses)
            clauses.append(clauses[ci])
            intents.append(intents[ci])
            assert w.value is not None
            moved = w.value.model_copy(update={"clause": new})
            values[values.index(w.value)] = moved
            parts[parts.index(w)] = w.model_copy(update={"clause": new, "value": moved})
            for c in chosen:  # what is chosen is chosen again, on that user's page
                assert c.value is not None
                copy = c.value.model_copy(update={"clause": new})
                values.append(copy)
                parts.append(c.model_copy(update={"clause": new, "value": copy}))


def _unread(text: str, heard: list[str]) -> tuple[str, ...]:
    """Values ``text`` states unmistakably (quoted, an e-mail address, anything with a digit but a position)
    that nothing read holds. Each one is a part of the request the reader dropped: a run without it would
    do less than was asked and may still look done, so the task names it instead of planning around it."""
    text = NEGATED.sub(" ", text)
    for a, b, _ in reversed(named_secrets(text)):
        text = text[:a] + " " + text[b:]
    text = TEMPLATE_RE.sub(" ", text)
    said = [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(text)]
    said += [t.group(0) for t in _TOKEN.finditer(_QUOTED.sub(" ", text))
             if (any(c.isdigit() for c in t.group(0)) or "@" in t.group(0)) and not _ORDINAL.fullmatch(t.group(0))]
    known = " ".join(heard).lower()
    return tuple(dict.fromkeys(v.strip() for v in said if v.strip() and v.strip().lower() not in known))


# "do not delete it", "..., but don't open it", "without downloading it": what must not be done, up to the
# clause's end. It names no control to use (here) and is no evidence for a skill (engine.skills).
NEGATED = re.compile(r"\b(?:but\s+)?(?:do\s+not|don't|dont|never|without)\b[^,.;!?]*|(?:^|(?<=[,.;!?]))\s*not\s+(?:the|any|a)\b[^,.;!?]*"
                     r"|\(\s*not\s+[^()]*\)|,\s*(?:but\s+)?not\s+(?-i:[A-Z])[^,.;!?]*", re.I)  # "(not Reviewers)", ", not Sales"


def without_values(text: str) -> str:
    """The instruction's own words: secret names, quoted values and what must not be done taken out
    (they name no control to use)."""
    text = NEGATED.sub(" ", text)
    text = TEMPLATE_RE.sub(" ", text)
    for a, b, _ in reversed(named_secrets(text)):
        text = text[:a] + " " + text[b:]
    return _QUOTED.sub(" ", text)


_ATTRIBUTE = re.compile(
    # "give the user pkowalski staff status", "make erin staff": whom (who), then the attribute (a)
    r"\b(?:make|mark|give)\s+(?:(?:her|him|them|it)\s+|(?:(?:this|the|that)\s+\w+\s+)?(?P<who>(?!(?:group|user|account|team)\b)[\w.@-]+\s+(?=(?:an?\s+|as\s+)?[a-z]))?)?"
    r"(?:an?\s+|as\s+)?(?P<a>(?!status\b)[a-z]+(?:\s+status)?)\b"
    r"|\b(?:accept|agree\s+to|tick|enable|subscribe\s+to)\s+(?:the\s+)?(?P<b>[a-z]+)"
    r"|\b(?P<c>[a-z]+)\s+(?:accepted|ticked|enabled|checked)\b"
    r"|\bwith\s+(?:the\s+|a\s+|an\s+)?(?P<d>[a-z]+\s+[a-z]+)\s*$"
    r"|\b(?:create|add|set\s+up|register)\s+an?\s+(?!(?:new|regular|normal|standard|test|second|another|user)\b)"
    r"(?P<e>[a-z]+)\s+(?:account|user)\b"  # "create a staff account"
    # a state kept: "leave the account active otherwise", "keep him staff" (what the record already is)
    r"|^\s*(?:please\s+)?(?:keep|leave)\s+(?:(?:the|his|her|their|its)\s+(?:account|user|profile)|him|her|them|it)\s+"
    r"(?:as\s+(?:an?\s+)?)?(?P<f>(?!(?:alone|out|be|as|untouched|unchanged)\b)[a-z]+)\s*(?:otherwise|as\s+well|too)?\W*$", re.I)
# Attributes taken away: "take away staff status", "revoke her superuser status", "mark it as not active",
# "make the account inactive". The attribute is the control's own word (staff, active).
_ATTRIBUTE_OFF = re.compile(
    r"\b(?:take\s+away|remove|revoke|withdraw|drop|untick|uncheck|disable)\s+(?:(?:her|his|their|its|the)\s+)?"
    r"(?P<a>[a-z]+)(?:\s+(?:status|rights|access|flag|permission))\b"
    r"|\b(?:make|mark|set|leave)\s+(?:(?:her|him|them|it)\s+|(?:this|the|that|her|his|their)\s+\w+\s+)?(?:as\s+)?"
    r"(?:not\s+|no\s+longer\s+|non-?)(?:an?\s+)?(?P<b>[a-z]+)\b"
    r"|\b(?:make|mark|set|keep)\s+(?:(?:her|him|them|it)\s+|(?:this|the|that|her|his|their)\s+\w+\s+)?(?:as\s+)?in(?P<c>active)\b",
    re.I)
_DEACTIVATE = re.compile(r"\b(?:(?P<on>re-?activate|activate|re-?enable|unlock|unsuspend)|deactivate|disable|suspend|lock)\s+"
                         r"(?:(?:her|his|their|its|the|this|that)\s+)?(?:(?:user\s+)?(?:account|user|login)\b|(?P<who>[\w.@-]+))",
                         re.I)
_READ_WHAT = re.compile(r"\b(?:its|the|their|his|her|this)\s+(?P<w>[a-z]+(?:\s+(?!of\b)[a-z]+)?)", re.I)


_MADE = re.compile(r"\s*(?:please\s+)?(?:make|mark)\s+(?:(?:the|this|that|our|my|your|their)\s+)?(?:[a-z]+\s+)?", re.I)
_MADE_WHAT = re.compile(r"\s+(?:an?\s+|as\s+(?:an?\s+)?)?(?P<neg>not\s+(?:an?\s+)?|no\s+longer\s+(?:an?\s+)?|non-?)?"
                        r"(?P<w>[a-z]+(?:\s+status)?)\b", re.I)


_JOINS = re.compile(r"\s*(?:please\s+)?(?:add|put|assign|move|include)\s+(?!(?:a|an|new|another|some)\b)(?P<who>.+?)"
                    r"\s+(?:to|into|in)\s+(?P<where>(?:(?:the|that|this|our|my|their)\s+)?.+)$", re.I)
_LEAVES = re.compile(r"\s*(?:please\s+)?(?:remove|take|drop|withdraw|unassign)\s+(?P<who>.+?)"
                     r"\s+(?:out\s+of|from)\s+(?P<where>(?:(?:the|that|this|our|my|their)\s+)?.+)$", re.I)
_Q = r"(?:\"[^\"]+\"|'[^']+'|“[^”]+”)"
_NAMED = r"(?-i:[A-Z])[\w-]*(?:\s+(?!(?:and|or)\b)(?-i:[a-z])[\w-]*){0,4}"  # a name said unquoted: "Can add user"
_GRANTS = re.compile(rf"\s*(?:please\s+)?(?:grant|give|assign)\s+(?P<who>.+?)\s+(?:the\s+)?"
                     rf"(?P<what>{_Q}(?:\s*(?:,|and|,\s*and)\s*{_Q})*|{_NAMED}(?:\s*(?:,|and|,\s*and)\s*{_NAMED})*)"
                     r"\s+(?P<noun>permission|right|privilege|role)s?\b", re.I)
# "give the Auditors group the permissions 'Can view user' and 'Can view group'": the noun first, then the names
_GRANTS_AFTER = re.compile(rf"\s*(?:please\s+)?(?:grant|give|assign)\s+(?P<who>.+?)\s+(?:the\s+)?"
                           r"(?P<noun>permission|right|privilege|role)s?\s+"
                           rf"(?P<what>{_Q}(?:\s*(?:,|and|,\s*and)\s*{_Q})*)", re.I)


class _FirstOf:
    """Patterns tried in order, matched like one: the two ways a grant is said are one reading."""

    def __init__(self, *patterns: re.Pattern[str]) -> None:
        self.patterns = patterns

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return next((m for rx in self.patterns if (m := rx.match(text, pos))), None)


_GRANTED = _FirstOf(_GRANTS_AFTER, _GRANTS)
_MOVES = re.compile(r"\s*(?:please\s+)?(?:move|transfer|switch)\s+(?P<who>.+?)\s+from\s+(?P<from>.+?)"
                    r"\s+(?:to|into|over\s+to)\s+(?P<where>.+)$", re.I)
_FIELD_NOUNS = {"field", "box", "textbox", "input", "text", "textarea", "searchbox", "form", "cart", "basket"}


def _joins(clause: str, spans: list[tuple[int, int, str, str]], at: int = 0, rx: re.Pattern[str] = _JOINS) -> set[int]:
    """Where the values joined stand: "add the user X to the group Y", "put X into that Y group": a named
    thing joins another named thing (both exist); not "add a group", "put 'abc' into the Name field"."""
    m = rx.match(clause, at)
    if not m:
        return set()
    who = [s for s in spans if m.start("who") <= s[0] and s[1] <= m.end("who") and s[3] == "literal"]
    where = [s for s in spans if m.start("where") <= s[0] and s[1] <= m.end("where") and s[3] == "literal"]
    nouns = {w.lower() for w in re.findall(r"[A-Za-z]+", m.group("where"))}
    quoted = _QUOTED.search(m.group("who")) is not None
    return {a for a, _, _, _ in where} if who and where and not quoted and not nouns & _FIELD_NOUNS else set()


def _with_who(clause: str, spans: list[tuple[int, int, str, str]], at: int) -> list[tuple[int, int, str, str]]:
    """The spans, with who joins or leaves a group when it is one plain word ("put hsato in the Auditors
    group", "take jfletcher out of Managers"): the verb's object is a name, whatever its letter case."""
    for rx in (_JOINS, _LEAVES, _MOVES, _GRANTED, _DEACTIVATE):
        m = rx.match(clause, at)
        if m and m.group("who") is None:
            continue
        if not m or any(m.start("who") <= a and b <= m.end("who") for a, b, _, _ in spans):
            continue
        who = re.fullmatch(r"(?:(?:the\s+)?(?:user|account|member)\s+)?([\w.@-]+)", m.group("who").strip(), re.I)
        if who and who.group(1).lower() not in STOP and who.group(1).lower() not in _SUBJECT_PRONOUNS | {"him", "her", "them"}:
            a = m.start("who") + m.group("who").index(who.group(1))
            return sorted(spans + [(a, a + len(who.group(1)), who.group(1), "literal")])
    return spans


def _made(clause: str, spans: list[tuple[int, int]]) -> re.Match[str] | None:
    """"make the user bob staff", "mark user X as not active", "make the group X expire": what a thing that
    exists (it is named) is made; "make a group named X" creates one instead."""
    m = _MADE.match(clause)
    if not m or not spans or spans[0][0] != m.end() or re.match(r"\s*(?:please\s+)?\w+\s+an?\s", clause, re.I):
        return None
    w = _MADE_WHAT.match(clause, spans[0][1])
    return w if w and w.group("w").lower() not in STOP else None


def _clause_parts(clause: str, ci: int, intent: str | None, verb: str, values: list[Value],
                  spans: list[tuple[int, int]]) -> list[Part]:
    out: list[Part] = []
    value_words = {w for v in values for w in words(v.text)}
    taken_away: list[tuple[int, int]] = []
    if m := _DEACTIVATE.search(clause):  # an account switched off or on is its "active" flag
        taken_away.append((m.start(), m.end()))
        out.append(Part(kind="attribute", text="active", words=(stem("active"),), clause=ci, off=not m.group("on")))
    for m in _ATTRIBUTE_OFF.finditer(clause):
        group = next(g for g in ("a", "b", "c") if m.group(g))
        ws = tuple(w for w in content(m.group(group)) if w not in value_words)
        if ws:
            taken_away.append((m.start(), m.end()))
            out.append(Part(kind="attribute", text=m.group(0).strip(), words=ws, clause=ci, off=True))
    made = _made(clause, spans) if verb in ("make", "mark") else None
    if made is not None:
        ws = tuple(w for w in content(made.group("w")) if w not in value_words)
        if ws:
            out.append(Part(kind="attribute", text=made.group("w"), words=ws, clause=ci, off=bool(made.group("neg"))))
    for m in _ATTRIBUTE.finditer(clause):
        group = next(g for g in ("a", "b", "c", "d", "e", "f") if m.group(g))
        if group == "a" and (made is not None or re.match(r"\s+(?:named|called|titled)\b", clause[m.end():], re.I)
                             or re.match(r"(?:make|mark)\s+an?\s", m.group(0), re.I)):
            continue  # read above, past the thing's name; "make a group (named X)" says what is made
        if any(m.start(group) < e and s < m.end(group) for s, e in spans + taken_away):
            continue  # "with the username alice": a value, not an attribute; one taken away is done above
        attr = m.group(group)
        ws = tuple(w for w in content(attr) if w not in value_words)
        if ws and intent_of(attr.split()[0]) not in ("login", "logout", "read") and \
                all(p.words != ws for p in out if p.kind == "attribute"):
            out.append(Part(kind="attribute", text=attr, words=ws, clause=ci))
    for part in _stated(clause, value_words, intent, ci):  # "a user tobias who is staff but not a superuser"
        if all(p.words != part.words for p in out if p.kind == "attribute"):
            out.append(part)
    if intent == "read" or (intent is None and re.search(r"\bwhat\s+is\b", clause, re.I)):
        tail = clause[len(verb):] if clause.lower().startswith(verb) else clause
        m = _READ_WHAT.search(tail)
        if m:
            ws = tuple(w for w in content(m.group("w")) if w not in value_words)
            if ws:
                out.append(Part(kind="read", text=m.group("w"), words=ws, intent="read", clause=ci))
    if intent in ("click", "check", "select") and not values and not taken_away:  # "press login": the control
        ws = tuple(content(clause[len(verb):] if clause.lower().startswith(verb) else clause))
        if ws:
            out.append(Part(kind="action", text=clause.strip(" ."), words=ws, intent=intent, clause=ci))
    grants = verb in ("give", "grant", "make", "mark", "take", "revoke", "remove", "withdraw", "set", "keep", "leave", "deactivate",
                      "reactivate", "activate", "disable", "enable", "suspend") and \
        any(p.kind == "attribute" for p in out)
    if intent in ("download", "logout", "login", "focus", "expand", "collapse") or (
            intent == "delete" and not grants) or (
            intent is None and verb and verb not in STOP and not grants):
        word = verb if intent is None else intent
        out.append(Part(kind="action", text=verb if intent is None else _verb_phrase(clause, verb),
                        words=(stem(word),) if intent is None else (), intent=intent, clause=ci))
    return out


# What a record made or changed is, said after it: "a user tobias who is staff but is not a superuser",
# "an account that can log in to the admin site (staff)". Each state is an attribute of that record.
_RELATIVE = re.compile(r"\b(?:who|that|which)\s+(?=(?:is|are|will|should|must|can|may|gets?|has)\b)", re.I)
_STATE = re.compile(r"(?:^|\b(?:but|and)\s+)(?:(?:is|are|will\s+be|should\s+be|must\s+be|gets?\s+to\s+be)\s+"
                    r"(?P<neg>not\s+|no\s+longer\s+)?(?:an?\s+)?(?P<w>[a-z]+)(?:\s+(?:status|user|account|member))?\b"
                    r"|(?:can|may|should\s+be\s+able\s+to|is\s+able\s+to|has\s+to)\s+(?P<neg2>not\s+|never\s+)?"
                    r"(?P<does>[^(),;]+?)\s*(?:\((?P<gloss>[a-z]+(?:\s+[a-z]+)?)\))?(?=\s+(?:but|and)\s+(?:is|are|can|may|has)\b|$|[,;]))",
                    re.I)


def _stated(clause: str, value_words: set[str], intent: str | None, ci: int) -> list[Part]:
    """The attributes a relative clause gives the record the request makes or changes."""
    if intent not in ("create", "edit") or not (r := _RELATIVE.search(clause)):
        return []
    out: list[Part] = []
    rest, at = clause[r.end():], 0
    while m := _STATE.search(rest, at):
        at = max(m.end(), at + 1)
        if m.group("w"):
            w = m.group("w").lower()
            if w in STOP or w in NAMING_PARTICIPLES or w.endswith(("ing", "ed")) or stem(w) in value_words:
                continue  # "who is joining", "that is called X": an event or a name, no state
            out.append(Part(kind="attribute", text=m.group(0).strip(), words=(stem(w),), clause=ci, off=bool(m.group("neg"))))
        elif m.group("gloss"):  # "can log in to the admin site (staff)": the person's own word for it
            ws = tuple(w for w in content(m.group("gloss")) if w not in value_words)
            if ws:
                out.append(Part(kind="attribute", text=m.group("gloss"), words=ws, clause=ci, off=bool(m.group("neg2"))))
        else:  # what the control's help text would say it allows; never dropped unread
            ws = tuple(w for w in content(m.group("does")) if w not in value_words)
            if ws:
                out.append(Part(kind="attribute", text=m.group(0).strip(), words=ws, clause=ci,
                                off=bool(m.group("neg2")), described=True))
    return out


def position(clause: str) -> tuple[int | None, tuple[str, ...]]:
    """(ordinal, kind words) of "the 3rd input textbox", "the last link"; (None, ()) otherwise."""
    m = _ORDINAL.search(clause)
    if not m:
        return None, ()
    n = int(m.group(1)) if m.group(1) else ORDINALS[m.group(2).lower()]
    after = re.findall(r"[a-z]+", clause[m.end():].lower())[:3]
    return n, tuple(w for w in after if w in KIND_WORDS)[:1]  # "radio button": a radio


def _verb_phrase(clause: str, verb: str) -> str:
    m = re.match(rf"\s*(?:please\s+)?({re.escape(verb)}(?:\s+(?:in|out|on|off|into)\b)?)", clause, re.I)
    return m.group(1).lower() if m else verb
