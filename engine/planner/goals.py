"""Split an instruction into sub-goals without the model.

A 135M model cannot write a plan, but an instruction usually spells one out: verbs, quoted values,
lists and a submit at the end ("Enter "alice" as username and {{ secrets.password }} as password,
then click Sign in"). ``decompose`` finds those parts with plain rules; the model only has to pick
the element for each part on the page, from a closed list.
"""

from __future__ import annotations

import re

from engine.planner.models import Goal

LITERAL_RE = re.compile(
    r"\{\{\s*(?:params|secrets)\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}"  # a template reference
    r'|"([^"]+)"|“([^”]+)”|(?<![A-Za-z0-9])\'([^\']+)\'(?![A-Za-z0-9])'
)
VERBS: dict[str, str] = {
    "click": "click", "press": "click", "tap": "click", "hit": "click", "push": "click", "open": "click",
    "close": "click", "expand": "click", "collapse": "click", "switch": "click", "delete": "click",
    "remove": "click", "reply": "click", "forward": "click", "like": "click", "star": "click",
    "book": "click", "go": "click", "find": "click", "navigate": "click", "visit": "click",
    "download": "click", "login": "submit", "submit": "submit", "sign": "submit", "log": "submit",
    "enter": "fill", "type": "fill", "input": "fill", "fill": "fill", "write": "fill", "put": "fill",
    "search": "search", "select": "select", "choose": "select", "pick": "select",
    "check": "check", "tick": "check", "uncheck": "uncheck", "untick": "uncheck", "focus": "focus",
}
STOP = {
    "the", "a", "an", "on", "in", "into", "to", "of", "for", "and", "then", "with", "by", "it", "its", "that",
    "this", "them", "is", "are", "as", "at", "from", "your", "my", "me", "you", "please", "all", "both",
    "each", "every", "which", "named", "called", "labeled", "labelled", "below", "above", "there", "or",
    "value", "values", "between", "through", "using", "clicking", "than",
}
# Verbs that name the control to use ("reply" -> the Reply button); others only say what to do.
NAMING_VERBS = {"close", "expand", "collapse", "delete", "remove", "reply", "forward", "like", "star", "book",
                "download", "open", "login", "log", "sign", "submit", "search"}
# Verbs that only say how to find something ("Navigate through the tree"): no goal of their own.
SEEKING_VERBS = {"find", "navigate", "go", "switch", "visit"}
# Verbs that open a message to write: a value after them is typed, then the message is sent.
MESSAGE_VERBS = {"reply", "forward"}
REPEAT_WORDS = {"both", "all", "each", "every"}
ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                 "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}
ORDINAL_RE = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.I)
PLACEHOLDER = "\x00{}\x00"
_VERB_ALT = "|".join(sorted(VERBS, key=len, reverse=True))
CLAUSE_SPLIT = re.compile(
    rf"(?:,?\s+then\s+|[.;!?](?:\s+|$)|,\s+(?=(?:{_VERB_ALT})\b)|\s+and\s+(?=(?:then\s+)?(?:{_VERB_ALT})\b))", re.I)
WORD_RE = re.compile(r"[A-Za-z0-9@#$%&+\-/:]+|\x00\d+\x00")


def words(text: str) -> list[str]:
    """Lower-case words, light stemming so 'fields' meets 'field' and 'directed' meets 'director'."""
    return [stem(w) for w in re.findall(r"[a-z0-9@#]+", text.lower())]


def stem(word: str) -> str:
    # "es" only after a sibilant (boxes, matches); otherwise just the "s" (names -> name, invoices -> invoice).
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    for suffix in ("ing", "ed", "or", "er", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def ordinal_of(text: str) -> int | None:
    m = ORDINAL_RE.search(text)
    if m:
        return int(m.group(1))
    for w in re.findall(r"[a-z]+", text.lower()):
        if w in ORDINAL_WORDS:
            return ORDINAL_WORDS[w]
    return None


def _protect(instruction: str) -> tuple[str, list[str]]:
    literals: list[str] = []

    def sub(m: re.Match[str]) -> str:
        literals.append(next((g for g in m.groups() if g is not None), m.group(0)))
        return PLACEHOLDER.format(len(literals) - 1)

    return LITERAL_RE.sub(sub, instruction), literals


def _restore(text: str, literals: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: literals[int(m.group(1))], text)


def _content(tokens: list[str]) -> list[str]:
    return [t for t in tokens if t.lower() not in STOP]


def decompose(instruction: str) -> list[Goal]:
    """Sub-goals in order. Unknown phrasing gives one click goal with the whole instruction."""
    text, literals = _protect(" ".join(instruction.split()))
    goals: list[Goal] = []
    context = ""
    for clause in [c.strip(" ,") for c in CLAUSE_SPLIT.split(text) if c and c.strip(" ,")]:
        tokens = WORD_RE.findall(clause)
        verb_at = next((i for i, t in enumerate(tokens) if t.lower() in VERBS), None)
        if verb_at is None:
            if goals and goals[-1].verb == "fill" and any(t.startswith("\x00") for t in tokens):
                verb_at, kind = -1, "fill"  # "... and the password "x" into ..." keeps the verb
            else:
                context = (context + " " + _restore(clause, literals)).strip()
                continue
        else:
            kind = VERBS[tokens[verb_at].lower()]
        new = _clause_goals(kind, tokens, verb_at, clause, literals, context)
        if new:
            context = ""
        elif verb_at >= 0:  # "Find the email by Helena": says where to look for what comes next
            context = (context + " " + " ".join(_restore(t, literals) for t in _content(tokens[verb_at + 1:]))).strip()
        goals += new
    if goals and goals[-1].verb in ("fill", "select", "check", "uncheck"):
        goals.append(Goal(verb="submit", text="submit", target="submit", optional=True))
    if not goals:
        goals.append(Goal(verb="click", text=instruction, target=" ".join(_content(WORD_RE.findall(instruction)))))
    return goals


def _clause_goals(kind: str, tokens: list[str], verb_at: int, clause: str, literals: list[str],
                  context: str) -> list[Goal]:
    rest = tokens[verb_at + 1:]
    lits = [i for i, t in enumerate(rest) if t.startswith("\x00")]
    plain = _restore(clause, literals)
    ordinal = ordinal_of(_restore(" ".join(rest), literals))
    repeat = any(t.lower() in REPEAT_WORDS for t in rest)
    if kind in ("fill", "search"):
        out = _fill_goals(rest, lits, literals, plain, ordinal, repeat, context)
        if kind == "search":
            out.append(Goal(verb="submit", text=plain, target="search", optional=not lits))
        return out
    if kind == "select":
        after = clause[re.search(re.escape(tokens[verb_at]), clause).end():] if verb_at >= 0 else clause
        values = [literals[int(rest[i].strip("\x00"))] for i in lits] or _listed(after, literals)
        return [Goal(verb="select", text=plain, value=v, target=" ".join(_content(rest)) if not lits else "",
                     context=context) for v in values]
    if kind in ("check", "uncheck") and lits:
        return [Goal(verb=kind, text=plain, value=literals[int(rest[i].strip("\x00"))], context=context)  # type: ignore[arg-type]
                for i in lits]
    target = " ".join(_restore(t, literals) for t in _content(rest) if not ORDINAL_RE.fullmatch(t))
    if kind == "submit":
        head = " ".join(tokens[verb_at:verb_at + 2]) if verb_at + 1 < len(tokens) and tokens[verb_at + 1].lower() in ("in", "on", "up") else tokens[verb_at]
        fills = _fill_goals(rest, lits, literals, plain, None, False, context) if lits else []
        if not lits and norm_head(head) in LOGIN_HEADS:
            fills = _login_goals(rest, plain)
            return fills + [Goal(verb="submit", text=plain, target=head, context=context)]
        return fills + [Goal(verb="submit", text=plain, target=head if lits else (target or head), context=context)]
    word = tokens[verb_at].lower()
    lit_values = [literals[int(rest[i].strip("\x00"))] for i in lits]
    if word in SEEKING_VERBS and (not lit_values or not target.strip()):
        return []  # "Find and click ...", "Navigate through the tree": the next clause says what
    if word in MESSAGE_VERBS:
        return _message_goals(word, rest, lit_values, plain, context)
    verb = {"focus": "focus", "check": "check", "uncheck": "uncheck"}.get(kind, "click")
    if word in NAMING_VERBS:
        target = (word + " " + target).strip()  # 'close', 'reply': the verb names the button
    return [Goal(verb=verb, text=plain, target=target, value=lit_values[0] if lit_values else None,  # type: ignore[arg-type]
                 context=context, ordinal=ordinal, repeat=repeat)]


LOGIN_HEADS = {"log in", "login", "sign in", "logon", "log on"}
USER_TARGET = "username user name login email account"
PASSWORD_SECRET = "password"


def norm_head(head: str) -> str:
    return " ".join(head.lower().split())


def _login_goals(rest: list[str], plain: str) -> list[Goal]:
    """'log in as alice': type the user name the instruction gives, the password as a secret reference.

    The password is never a value of the instruction: the step types ``{{ secrets.password }}`` and
    the value is looked up only when the step runs. Both goals are optional (a page without such
    fields, or already signed in, skips them) and only fill fields whose label matches.
    """
    out: list[Goal] = []
    low = [t.lower() for t in rest]
    if "as" in low and low.index("as") + 1 < len(rest):
        user = rest[low.index("as") + 1]
        if user.lower() not in STOP and not user.startswith("\x00"):
            out.append(Goal(verb="fill", text=plain, value=user, target=USER_TARGET, optional=True))
    out.append(Goal(verb="fill", text=plain, value="{{ secrets.%s }}" % PASSWORD_SECRET, target="password",
                    optional=True))
    return out


def _fill_goals(rest: list[str], lits: list[int], literals: list[str], plain: str, ordinal: int | None,
                repeat: bool, context: str) -> list[Goal]:
    if not lits:
        low = " ".join(rest).lower()
        m = re.search(r"\bvalue of (?:the )?([a-z0-9 ]+?)(?: into| in| to|$)", low)
        if m:
            return [Goal(verb="fill", text=plain, target=" ".join(_content(rest[rest.index("into") + 1:]))
                         if "into" in rest else "", context=m.group(1).strip(), ordinal=ordinal)]
        free = tuple(t for t in _content(rest) if not ORDINAL_RE.fullmatch(t))
        return [Goal(verb="fill", text=plain, free_values=free, context=context)] if free else []
    tail_start = lits[-1] + 1
    tail = rest[tail_start:]
    shared = tail if tail and tail[0].lower() in ("into", "in", "to", "on") else []
    out: list[Goal] = []
    prev = 0
    starts = "starts with" in plain.lower() or "begins with" in plain.lower()
    for n, i in enumerate(lits):
        value = literals[int(rest[i].strip("\x00"))]
        nxt = lits[n + 1] if n + 1 < len(lits) else len(rest)
        after = rest[i + 1:nxt]
        if after and after[0].lower() in ("as", "for"):  # '"alice" as username': the words after name it
            own = after[1:after.index("and")] if "and" in after else after[1:]
            target = " ".join(_content(own))
            prev = i + 2 + len(own)
        else:
            pre = _content(rest[prev:i])
            post = _content(after) if not pre else []
            target = " ".join(pre + (post or _content(shared)))
            prev = i + 1
        if starts and n > 0:  # "an item that starts with X and ends with Y": type X, pick the match
            first, last = literals[int(rest[lits[0]].strip("\x00"))], literals[int(rest[lits[-1]].strip("\x00"))]
            out.append(Goal(verb="click", text=plain, target=f"{first} {last}", affixes=(first, last), optional=True))
            out.append(Goal(verb="submit", text=plain, target="submit", optional=True))
            break
        out.append(Goal(verb="fill", text=plain, value=value, target=target, context=context,
                        ordinal=ordinal, repeat=repeat))
    return out


def _message_goals(word: str, rest: list[str], lit_values: list[str], plain: str, context: str) -> list[Goal]:
    """'reply to them with the text "Hi"' / 'forward that email to Bob': open, type, send."""
    out = [Goal(verb="click", text=plain, target=word, context=context)]
    value = lit_values[0] if lit_values else None
    if value is None:
        after_to = [t for i, t in enumerate(rest) if i > 0 and rest[i - 1].lower() == "to" and t[:1].isupper()]
        value = after_to[0] if after_to else None
    if value is not None:
        out.append(Goal(verb="fill", text=plain, value=value, target="to" if not lit_values else "message"))
    out.append(Goal(verb="submit", text=plain, target="send", optional=True))
    return out


def _listed(text: str, literals: list[str]) -> list[str]:
    """'Select 3hIU, Qqi from the list' -> ['3hIU', 'Qqi']; 'Select nothing' -> []."""
    text = re.split(r"\s+(?:from|in|on|of|under|within)\s+(?:the|a)\b", text, maxsplit=1)[0]
    items = [i.strip() for i in re.split(r"\s*,\s*|\s+and\s+|\s+or\s+", text) if i.strip()]
    items = [_restore(i, literals) for i in items if i.lower() not in ("nothing", "none")]
    return [re.sub(r"^(?:the|a|an)\s+", "", i) for i in items]
