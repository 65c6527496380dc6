"""Constraints built from one closed set of answers, for every backend.

The planner never lets a model write free text: each decision is a choice among candidate action
lines. This module turns that candidate list into what each backend understands:

- ``gbnf_choice`` / ``gbnf_index``: a GBNF grammar (llama.cpp in process, llama.cpp's server);
- ``index_schema``: a JSON schema whose only value is an option number (``response_format``);
- ``parse_index``: the one reader of a server's reply, strict, so text that breaks the format fails;
- ``TokenChoice``: token-by-token constrained sampling for the transformers backend.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_INDEX_RE = re.compile(r"^\s*(\d{1,4})\s*(?:[.):]\s*(.*?))?\s*$", re.DOTALL)


def _gbnf_literal(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def gbnf_choice(answers: list[str]) -> str:
    """A grammar whose only sentences are the answers, verbatim."""
    return "root ::= " + " | ".join(_gbnf_literal(a) for a in answers) + "\n"


def gbnf_index(n: int) -> str:
    """A grammar whose only sentences are the option numbers 0..n-1."""
    return "root ::= " + " | ".join(f'"{i}"' for i in range(n)) + "\n"


def index_schema(n: int) -> dict[str, Any]:
    """JSON schema of a reply ``{"option": k}`` with ``k`` one of the option numbers."""
    return {"type": "object", "properties": {"option": {"type": "integer", "enum": list(range(n))}},
            "required": ["option"], "additionalProperties": False}


def parse_index(text: str, answers: list[str]) -> int | None:
    """The option number of a reply, or None if the reply breaks the format.

    Accepted: a bare number, ``{"option": k}``, or ``k. <the text of option k>`` (what an
    unconstrained chat model tends to write). Anything else, or a number out of range, is None.
    """
    m = _INDEX_RE.match(text)
    if m is not None:
        k = int(m.group(1))
        rest = (m.group(2) or "").strip()
        if rest and not (0 <= k < len(answers) and answers[k].startswith(rest)):
            return None
    else:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, ValueError):
            return None
        k = data.get("option") if isinstance(data, dict) and len(data) == 1 else None
        if not isinstance(k, int) or isinstance(k, bool):
            return None
    return k if 0 <= k < len(answers) else None


class TokenChoice:
    """Constrained sampling over the exact token sequences of the answers (a prefix tree).

    ``mask`` keeps only tokens that stay on some answer, ``forced`` names the token when only one can
    follow (it needs no model call), ``done`` is true once an answer and its end token are complete.
    """

    _END = -1

    def __init__(self, seqs: list[list[int]]) -> None:
        self.seqs = seqs
        self.root: dict[int, Any] = {}
        for s in seqs:
            node = self.root
            for t in s:
                node = node.setdefault(t, {})
            node[self._END] = {}
        self.node = self.root
        self.tokens: list[int] = []

    def allowed(self) -> list[int]:
        return [t for t in self.node if t != self._END]

    def mask(self, logits: Any) -> Any:
        """``logits`` with every token that leaves the answers set to -inf."""
        import torch

        masked = torch.full_like(logits, -math.inf)
        idx = torch.tensor(self.allowed(), device=logits.device)
        masked[idx] = logits[idx]
        return masked

    def forced(self) -> int | None:
        allowed = self.allowed()
        return allowed[0] if len(allowed) == 1 else None

    def advance(self, token: int) -> None:
        self.node = self.node[token]
        self.tokens.append(token)

    def done(self) -> bool:
        return not self.allowed()

    def answer(self) -> int:
        return self.seqs.index(self.tokens)
