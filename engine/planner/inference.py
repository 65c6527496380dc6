"""One constrained model call: score a closed set of answers, or generate one of them.

The model never writes free text. ``score`` runs the shared prompt once, keeps its KV cache (and
reuses it when the next prompt starts with the same tokens), then scores every allowed answer in
ONE batched forward pass. ``generate`` samples token by token, masked by
``engine.planner.grammar.TokenChoice`` (a prefix tree of the answers' exact token sequences), so the
result is always one of them; a token that is the only one allowed is taken without a model call.

Measured against llguidance 1.9.1 and xgrammar 0.2.9 on the sandbox decisions (a new candidate set
each decision, 49k-token vocabulary, CPU): building the constraint and masking every step of one
answer costs 0.3 ms with the tree and about 6 ms with either library (grammar compilation and
full-vocabulary bitmasks per step), and the libraries constrain text, so a sampled answer may
arrive in a tokenization the scorer never scores. The tree is kept.
"""

from __future__ import annotations

import copy
import inspect
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from engine.planner.grammar import TokenChoice
from engine.planner.model import LoadedModel


class Scored(BaseModel):
    """Result of one call: per-answer log-likelihoods (or the one generated answer) and costs."""

    scores: list[float]
    chosen: int
    prompt_tokens: int
    answer_tokens: int
    ms: float


@dataclass
class _PrefixCache:
    ids: list[int] = field(default_factory=list)
    cache: Any = None
    last_logits: Any = None


def cache_kwarg(model: Any) -> str:
    """The KV-cache argument of ``model.forward``: transformers 5 renamed ``past_key_values`` to ``cache``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft wrapper
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


class Scorer:
    """Wraps a loaded model; not thread-safe (the planner serializes calls)."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.tok = loaded.tokenizer
        self.model = loaded.model
        self._prefix = _PrefixCache()
        self.calls = 0
        self._cache_kw = cache_kwarg(self.model)
        self.pack: bool | None = None  # answers scored in one packed row (None: not yet checked on this model)
        self.forwarded_tokens = 0  # tokens the model actually ran (prefix-cache hits excluded)
        self.scored_tokens = 0  # prompt + answer tokens each call covered (hits included)
        self.model_s = 0.0

    def _forward(self, input_ids: Any, cache: Any) -> tuple[Any, Any]:
        """(logits, cache) of one forward pass that extends ``cache``."""
        import torch

        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, use_cache=True, **{self._cache_kw: cache})
        self.model_s += time.perf_counter() - t0
        self.forwarded_tokens += int(input_ids.numel())
        new_cache = getattr(out, "cache", None)
        return out.logits, new_cache if new_cache is not None else out.past_key_values

    def encode(self, text: str) -> list[int]:
        return list(self.tok.encode(text, add_special_tokens=False))

    def _answers(self, answers: list[str]) -> list[list[int]]:
        # Each answer ends with end-of-turn, so none is a prefix of another and the trie knows when to stop.
        return [self.encode(a) + [self.tok.eos_token_id] for a in answers]

    def _prompt_state(self, ids: list[int]) -> tuple[Any, Any]:
        """KV cache and last logits after ``ids``, reusing the longest cached common prefix."""
        import torch

        p = self._prefix
        common = 0
        for a, b in zip(p.ids, ids):
            if a != b:
                break
            common += 1
        if p.cache is not None and common == len(ids) == len(p.ids):
            return p.cache, p.last_logits
        cache = None
        start = 0
        if p.cache is not None and common > 0:
            cache = p.cache
            keep = min(common, len(ids) - 1)
            cache.crop(keep - cache.get_seq_length())  # negative: tokens to drop
            start = keep
        logits, cache = self._forward(torch.tensor([ids[start:]], device=self.loaded.device), cache)
        self._prefix = _PrefixCache(ids=list(ids), cache=cache, last_logits=logits[0, -1])
        return cache, logits[0, -1]

    def score(self, prompt: str, answers: list[str]) -> Scored:
        """Sum of token log-probabilities of each answer after ``prompt``, in one batched pass."""
        import torch

        t0 = time.perf_counter()
        self.calls += 1
        ids = self.encode(prompt)
        cache, last = self._prompt_state(ids)
        seqs = self._answers(answers)
        width = max(len(s) for s in seqs)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        batch = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=self.loaded.device)
        logp_first = torch.log_softmax(last.float(), dim=-1)
        totals = [float(logp_first[s[0]]) for s in seqs]
        if width > 1:
            rest = self._packed(cache, len(ids), seqs) if self.pack is not False else None
            if rest is None or self.pack is None:
                batched = self._batched(cache, seqs, batch)
                if rest is not None:  # the first call checks that this model honours the packed mask
                    self.pack = max(abs(a - b) for a, b in zip(rest, batched)) < 1e-2
                rest = batched
            totals = [t + r for t, r in zip(totals, rest)]
        best = max(range(len(totals)), key=lambda i: totals[i])
        self.scored_tokens += len(ids) + sum(len(s) for s in seqs)
        return Scored(scores=totals, chosen=best, prompt_tokens=len(ids),
                      answer_tokens=sum(len(s) for s in seqs), ms=(time.perf_counter() - t0) * 1000)

    def _batched(self, cache: Any, seqs: list[list[int]], batch: Any) -> list[float]:
        """Log-probability of each answer's tokens after its first: one row per answer over copies of the cache."""
        import torch

        # Right padding never changes the real tokens' logits (causal attention), so no mask.
        expanded = copy.deepcopy(cache)
        expanded.batch_repeat_interleave(len(seqs))
        logits, _ = self._forward(batch[:, :-1], expanded)
        logp = torch.log_softmax(logits.float(), dim=-1)
        return [sum(float(logp[i, j - 1, s[j]]) for j in range(1, len(s))) for i, s in enumerate(seqs)]

    def _packed(self, cache: Any, start: int, seqs: list[list[int]]) -> list[float] | None:
        """The same, with every answer in one row after the prompt: each sees the prompt and its own
        tokens only (a block mask, positions restarting after the prompt), so the cache is not copied
        per answer; about half the time of ``_batched``. None where the model takes no such mask."""
        import torch

        flat = [t for s in seqs for t in s[:-1]]
        n, dtype = len(flat), self.model.dtype
        mask = torch.full((1, 1, n, start + n), torch.finfo(dtype).min, dtype=dtype)
        mask[..., :start] = 0
        positions, at = [], 0
        for s in seqs:
            k = len(s) - 1
            for j in range(k):
                mask[0, 0, at + j, start + at:start + at + j + 1] = 0
            positions += range(start, start + k)
            at += k
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                out = self.model(input_ids=torch.tensor([flat], device=self.loaded.device), use_cache=True,
                                 attention_mask=mask.to(self.loaded.device),
                                 position_ids=torch.tensor([positions], device=self.loaded.device),
                                 **{self._cache_kw: copy.deepcopy(cache)})
        except (TypeError, ValueError, RuntimeError):
            self.pack = False
            return None
        finally:
            self.model_s += time.perf_counter() - t0
        self.forwarded_tokens += n
        logp = torch.log_softmax(out.logits[0].float(), dim=-1)
        totals, at = [], 0
        for s in seqs:
            totals.append(sum(float(logp[at + j - 1, s[j]]) for j in range(1, len(s))))
            at += len(s) - 1
        return totals

    def generate(self, prompt: str, answers: list[str], *, temperature: float = 1.0,
                 seed: int | None = None) -> Scored:
        """Sample one of ``answers`` token by token, masked to the answers' token sequences."""
        import torch

        t0 = time.perf_counter()
        self.calls += 1
        gen = torch.Generator(device=self.loaded.device).manual_seed(seed) if seed is not None else None
        ids = self.encode(prompt)
        choice = TokenChoice(self._answers(answers))
        cache, logits = self._prompt_state(ids)
        cache = copy.deepcopy(cache)
        pending: list[int] = []  # chosen tokens the model has not read yet
        while not choice.done():
            nxt = choice.forced()  # the only token that can follow needs no model call
            if nxt is None:
                if pending:
                    step_logits, cache = self._forward(torch.tensor([pending], device=self.loaded.device), cache)
                    logits, pending = step_logits[0, -1], []
                masked = choice.mask(logits.float())
                if temperature <= 0:
                    nxt = int(torch.argmax(masked))
                else:
                    nxt = int(torch.multinomial(torch.softmax(masked / temperature, dim=-1), 1, generator=gen))
            choice.advance(nxt)
            pending.append(nxt)
        self.scored_tokens += len(ids) + len(choice.tokens)
        return Scored(scores=[0.0] * len(answers), chosen=choice.answer(), prompt_tokens=len(ids),
                      answer_tokens=len(choice.tokens), ms=(time.perf_counter() - t0) * 1000)


class Ranked(BaseModel):
    """A backend's answer to one decision: the chosen option and, where known, every option's score."""

    chosen: int
    scores: list[float] | None = None
    prompt_tokens: int = 0
    ms: float = 0.0


class LocalBackend:
    """The embedded (or any transformers) model: log-likelihood ranking or trie-constrained sampling."""

    kind = "local"

    def __init__(self, loaded: LoadedModel) -> None:
        self.name = loaded.name
        self.scorer = Scorer(loaded)

    @property
    def calls(self) -> int:
        return self.scorer.calls

    def rank(self, messages: list[dict[str, str]], answers: list[str], *, sample: bool = False,
             seed: int | None = None, temperature: float = 1.0) -> Ranked:
        from engine.planner.prompts import prompt_text

        prompt = prompt_text(self.scorer.tok, messages)
        if sample:
            res = self.scorer.generate(prompt, answers, temperature=temperature, seed=seed)
            return Ranked(chosen=res.chosen, prompt_tokens=res.prompt_tokens, ms=res.ms)
        res = self.scorer.score(prompt, answers)
        lengths = [max(1, len(self.scorer.encode(a)) + 1) for a in answers]
        mean = [s / n for s, n in zip(res.scores, lengths)]
        return Ranked(chosen=res.chosen, scores=mean, prompt_tokens=res.prompt_tokens, ms=res.ms)

    def count_tokens(self, text: str) -> int:
        return len(self.scorer.encode(text))

    def stats(self) -> dict[str, float]:
        """Throughput so far: tokens the model ran, tokens the calls covered, seconds in the model."""
        s = self.scorer
        return {"forwarded_tokens": s.forwarded_tokens, "scored_tokens": s.scored_tokens,
                "model_s": round(s.model_s, 3), "load_s": round(s.loaded.load_s, 2), "load_source": s.loaded.source}
