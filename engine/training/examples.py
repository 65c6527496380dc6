"""Training examples in the planner's own decision format, from the three sources a user has.

An ``Example`` is the chat messages the planner sends for one decision (``prompts.decision_messages``)
plus the chosen action line. Sources: exported datasets (JSON lines), the run history, and the
recordings (``recordings.py`` replays them to pair each step with the page it was taken on). Every
text is masked (``engine.logs.mask`` after the secret store's values are registered) before it is
kept, so no secret value is ever trained on or written next to an adapter.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field

from engine.config import Settings
from engine.errors import ConfigError
from engine.logs import mask, register_secret
from engine.planner.prompts import decision_messages, format_action, parse_action

# Verbs the decision format has (``goto``/``extract``/``wait`` are not choices of the model).
VERBS = ("click", "fill", "select", "check", "uncheck", "press")
# Outcomes that say the step did not do its job: never learn from them.
BAD_OUTCOMES = ("fail", "skip", "error", "timeout", "interrupted")
PAGE_CHARS = 1600  # what ``Planner.page_text`` keeps (PROMPT_TOKENS * 4)
_LINE_RE = re.compile(r'^\[(e\d+)\] (\S+) "((?:[^"\\]|\\.)*)"(.*)$')
_ATTR_RE = re.compile(r'(label|near|placeholder|hint|value)="((?:[^"\\]|\\.)*)"')


class Example(BaseModel):
    """One decision to learn: the prompt messages and the action line the model should answer."""

    messages: list[dict[str, str]] = Field(description="system + user messages, as the planner sends them.")
    answer: str = Field(description="The chosen action line, e.g. click e6 \"Sign in\".")
    source: str = Field(description="history, recordings, dataset or explore.")
    alternatives: list[str] = Field(default_factory=list,
                                    description="The other action lines the planner offered (its candidates).")

    @classmethod
    def make(cls, instruction: str, page: str, answer: str, source: str, *, goal: str = "",
             history: list[str] | None = None, alternatives: list[str] | None = None) -> Example:
        others = [a for a in alternatives or [] if a != answer]
        return cls(messages=decision_messages(instruction, page, goal, history), answer=answer, source=source,
                   alternatives=others)

    def chat(self) -> dict[str, Any]:
        """The chat-format line ``--dataset`` reads back (the planner's ``training_example``)."""
        out: dict[str, Any] = {"messages": [*self.messages, {"role": "assistant", "content": self.answer}]}
        if self.alternatives:
            out["alternatives"] = self.alternatives
        return out


@dataclass
class Collected:
    """Examples plus what was left out and why (printed by ``rpa train``)."""

    examples: list[Example] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, other: Collected) -> None:
        self.examples += other.examples
        self.skipped.update(other.skipped)

    def counts(self) -> dict[str, int]:
        return dict(Counter(e.source for e in self.examples))


def register_known_secrets(settings: Settings) -> int:
    """Register every value of the secret store for masking; how many (0 if the store is unreadable)."""
    try:
        from engine.secrets import SecretStore

        store = SecretStore(settings)
        names = store.list()
        for name in names:
            register_secret(store.get(name))
        return len(names)
    except Exception as err:  # a store we cannot open holds nothing we could leak either
        logger.warning("train: secret store unreadable ({}); masking registered values only", type(err).__name__)
        return 0


def masked(example: Example) -> Example:
    return Example(messages=[{k: mask(v) for k, v in m.items()} for m in example.messages],
                   answer=mask(example.answer), source=example.source,
                   alternatives=[mask(a) for a in example.alternatives])


_REF_RE = re.compile(r'(?m)(^\[|^(?:click|fill|select|check|uncheck|press) )e(\d+)\b')


def renumbered(example: Example, rng: Any) -> Example:
    """The same decision with its page lines in a random order and its refs drawn afresh.

    MiniWoB++ and most sites give an element the same ref and the same place on every visit, so a
    model trained on raw pages learns "answer e12" or "answer the first line"; with both drawn
    afresh each epoch it must learn from roles, names and text. Page lines (``[eN] ...``) and action
    lines (history, answer, alternatives) change together, so the example stays consistent.
    """
    texts = [m["content"] for m in example.messages] + [example.answer, *example.alternatives]
    refs = sorted({int(m.group(2)) for t in texts for m in _REF_RE.finditer(t)})
    if not refs:
        return example
    drawn = sorted(rng.sample(range(1, refs[-1] + 2 * len(refs) + 40), len(refs)))
    new = dict(zip(refs, drawn))

    def sub(text: str) -> str:
        return _REF_RE.sub(lambda m: f"{m.group(1)}e{new[int(m.group(2))]}", text)

    def shuffle(text: str) -> str:
        lines = text.split("\n")
        at = [i for i, ln in enumerate(lines) if ln.startswith("[e")]
        moved = [lines[i] for i in at]
        rng.shuffle(moved)
        for i, ln in zip(at, moved):
            lines[i] = ln
        return "\n".join(lines)

    return Example(messages=[{**m, "content": sub(shuffle(m["content"]) if m["role"] == "user" else m["content"])}
                             for m in example.messages],
                   answer=sub(example.answer), source=example.source, alternatives=[sub(a) for a in example.alternatives])


def _bad_outcome(outcome: Any) -> bool:
    return isinstance(outcome, str) and any(word in outcome.lower() for word in BAD_OUTCOMES)


def _parse_lines(page: str) -> list[dict[str, str]]:
    """The observation's element lines as dicts (ref, role, name, label, near, placeholder, hint)."""
    out = []
    for line in page.splitlines():
        m = _LINE_RE.match(line.strip())
        if not m:
            continue
        item = {"ref": m.group(1), "role": m.group(2), "name": m.group(3), "line": line.strip()}
        item.update(dict(_ATTR_RE.findall(m.group(4))))
        out.append(item)
    return out


def _match(items: list[dict[str, str]], loc: dict[str, Any]) -> list[dict[str, str]]:
    exact = loc.get("exact", True) is not False

    def same(a: str | None, b: str | None) -> bool:
        if not a or not b:
            return False
        return a == b if exact else b.lower() in a.lower()

    if loc.get("role"):
        return [i for i in items if i["role"] == loc["role"] and (not loc.get("name") or same(i["name"], loc["name"]))]
    for key in ("label", "placeholder"):
        if loc.get(key):
            return [i for i in items if same(i.get(key), loc[key]) or same(i["name"], loc[key])]
    if loc.get("text"):
        return [i for i in items if same(i["name"], loc["text"])]
    return []  # css and test ids are not in the prompt text


def answer_for_step(step: dict[str, Any], page: str) -> str | None:
    """The action line for a stored step (locators) on an observation text (refs), or None.

    A locator names one element of the text when exactly one line matches it; the first locator
    of the target that does wins (the runner's rule).
    """
    verb = step.get("action")
    if verb not in VERBS or not step.get("target"):
        return None
    target = step["target"]
    locators = target if isinstance(target, list) else [target]
    items = _parse_lines(page)
    for loc in locators:
        if not isinstance(loc, dict):
            continue
        found = _match(items, loc)
        if len(found) == 1:
            it = found[0]
            name = it["name"] or it.get("label") or it.get("near") or it.get("placeholder") or it.get("hint") or ""
            value = step.get("value") if verb in ("fill", "select", "press") else None
            return format_action(verb, it["ref"], name, value)
    return None


def cut_page(page: str, answer: str) -> str:
    """At most ``PAGE_CHARS`` of the page, always keeping the chosen element's line."""
    if len(page) <= PAGE_CHARS:
        return page
    parsed = parse_action(answer)
    ref = parsed[1] if parsed else ""
    lines = page.splitlines()
    keep = [i for i, ln in enumerate(lines) if ln.startswith(f"[{ref}]")]
    budget = PAGE_CHARS - sum(len(lines[i]) + 1 for i in keep)
    for i, ln in enumerate(lines):
        if i in keep:
            continue
        if budget - len(ln) - 1 < 0:
            break
        keep.append(i)
        budget -= len(ln) + 1
    return "\n".join(lines[i] for i in sorted(keep))


def _valid_answer(answer: str, page: str) -> bool:
    parsed = parse_action(answer)
    return parsed is not None and f"[{parsed[1]}]" in page


def example_from_row(row: dict[str, Any], source: str) -> tuple[Example | None, str | None]:
    """(example, None) or (None, why it was left out) for one decision row (history or export)."""
    if _bad_outcome(row.get("outcome")):
        return None, "failed step"
    if isinstance(row.get("context"), dict):  # a planner decision stored by the loop: its own prompt parts
        row = {**row, **{k: v for k, v in row["context"].items() if k in ("goal", "history", "answer")}}
    instruction, page = row.get("instruction"), row.get("observation")
    if not isinstance(instruction, str) or not instruction.strip():
        return None, "no instruction"
    if not isinstance(page, str) or not page.strip():
        return None, "no observation stored"
    answer = row.get("answer")
    if not isinstance(answer, str) and isinstance(row.get("action"), dict):
        answer = answer_for_step(row["action"], page)
        if answer is None:
            return None, "action not on the stored observation"
    if not isinstance(answer, str) or not _valid_answer(answer, page):
        return None, "answer not in the decision format"
    history = [h for h in row.get("history") or [] if isinstance(h, str)]
    return Example.make(instruction, cut_page(page, answer), answer, source, goal=str(row.get("goal") or ""),
                        history=history), None


def from_history(settings: Settings) -> Collected:
    """Decisions of the run history whose step worked and whose observation was stored."""
    from engine.history import History

    out = Collected()
    for record in History(settings).decisions():
        ex, why = example_from_row(record.model_dump(mode="json"), "history")
        if ex is not None:
            out.examples.append(ex)
        else:
            out.skipped[f"history: {why}"] += 1
    return out


def _from_chat(obj: dict[str, Any], where: str) -> Example:
    msgs = obj["messages"]
    if (not isinstance(msgs, list) or len(msgs) < 2 or not all(isinstance(m, dict) for m in msgs)
            or msgs[-1].get("role") != "assistant"):
        raise ConfigError(f"Training.dataset: {where}: 'messages' must end with the assistant's action line.")
    answer = str(msgs[-1].get("content") or "")
    if parse_action(answer) is None:
        raise ConfigError(f"Training.dataset: {where}: the assistant turn {answer[:60]!r} is not an action line "
                          "like click e3 \"Sign in\".")
    prompt = [{"role": str(m.get("role")), "content": str(m.get("content") or "")} for m in msgs[:-1]]
    others = [str(a) for a in obj.get("alternatives") or [] if parse_action(str(a)) is not None and a != answer]
    return Example(messages=prompt, answer=answer, source="dataset", alternatives=others)


def from_dataset(path: str | Path) -> Collected:
    """A JSON-lines file: chat examples (``messages``), planner decisions (``answer``) or
    ``rpa export-dataset`` rows (``action``). A line that is not one of these stops everything,
    before any model is loaded."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Training.dataset: {path} does not exist. Write one with `rpa export-dataset --out {path}`.")
    out = Collected()
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"Training.dataset: {where} is not JSON ({err.msg}).") from None
        if not isinstance(obj, dict):
            raise ConfigError(f"Training.dataset: {where} is not a JSON object.")
        if "messages" in obj:
            out.examples.append(_from_chat(obj, where))
            continue
        if "instruction" not in obj or ("answer" not in obj and "action" not in obj):
            raise ConfigError(f"Training.dataset: {where} needs 'messages', or 'instruction' + 'observation' + "
                              "'answer' (or 'action').")
        ex, why = example_from_row(obj, "dataset")
        if ex is not None:
            out.examples.append(ex)
        else:
            out.skipped[f"dataset: {why}"] += 1
    if not out.examples:
        detail = ", ".join(f"{k} x{v}" for k, v in out.skipped.items()) or "the file is empty"
        raise ConfigError(f"Training.dataset: no usable example in {path} ({detail}).")
    return out
