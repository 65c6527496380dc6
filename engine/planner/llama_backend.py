"""Any GGUF in process through llama.cpp (the optional extra ``pip install .[llama]``).

The weights stay quantized: llama.cpp computes with them as they are in the file. A decision runs
the prompt once into the KV cache, keeping the part it shares with the previous decision's prompt
(the system turn and the task come first for this reason). Every candidate is then scored in ONE
batch: each candidate is its own sequence over the prompt's cache cells (a unified KV cache makes
the copy free), so the mean token log-likelihoods are those the transformers backend computes.
Sampling (``sample=True``) is constrained by a GBNF grammar of the same candidates, through
llama.cpp's own grammar sampler: the output is one of them by construction.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import time
from collections import deque
from pathlib import Path
from typing import Any

from loguru import logger

from engine.config import Settings
from engine.errors import ConfigError, PlannerError
from engine.planner.grammar import gbnf_choice
from engine.planner.inference import Ranked

MAX_SEQ = 16  # sequences in one context: the prompt and up to 15 candidates per batch
N_BATCH = 512
_MARK = "\x00ANSWER\x00"
_LOG: deque[str] = deque(maxlen=8)  # llama.cpp's last warnings and errors, for our one-line messages
_LOG_CB: Any = None


def import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise ConfigError("Planner.llama: llama-cpp-python is not installed. "
                          "Run: pip install 'rpa-bots[llama]' (it compiles llama.cpp, a few minutes).") from None
    global _LOG_CB
    if _LOG_CB is None:  # llama.cpp prints to stderr unless told otherwise: route it to our log
        @llama_cpp.llama_log_callback
        def _cb(level: int, text: bytes, _user: Any) -> None:
            line = text.decode("utf-8", "replace").strip()
            if level in (3, 4) and line:  # GGML_LOG_LEVEL_WARN, GGML_LOG_LEVEL_ERROR
                _LOG.append(line)
                logger.debug("llama.cpp: {}", line)

        _LOG_CB = _cb
        llama_cpp.llama_log_set(_LOG_CB, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
    return llama_cpp


def resolve_gguf(settings: Settings, name: str | None) -> Path:
    """The GGUF file for a model name: the embedded one, a path, or a file under ``RPA_HOME/models``."""
    from engine.planner.model import embedded_gguf

    if not name:
        return embedded_gguf()
    for path in (Path(name).expanduser(), settings.models_dir / name, settings.models_dir / f"{name}.gguf"):
        if path.is_file():
            return path
        if path.is_dir():
            files = sorted(path.glob("*.gguf"))
            if len(files) == 1:
                return files[0]
            if (path / "config.json").exists() or (path / "merged" / "config.json").exists():
                raise ConfigError(f"Planner.llama: '{name}' is a Hugging Face folder, not a GGUF file. "
                                  "Use --backend local for it, or give a .gguf file.")
    raise ConfigError(f"Planner.llama: no GGUF file '{name}' (looked as a path and in {settings.models_dir}). "
                      "Give a .gguf file or see `rpa models`.")


def available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def check_gguf(path: Path, *, free: int | None = None) -> None:
    """Refuse, before loading, a file that is not GGUF or that cannot fit in memory."""
    try:
        with path.open("rb") as f:
            magic = f.read(4)
        size = path.stat().st_size
    except OSError as err:
        raise ConfigError(f"Planner.llama: cannot read {path} ({err.strerror}). Check the path.") from None
    if magic != b"GGUF":
        raise ConfigError(f"Planner.llama: {path} is not a GGUF file (it starts with {magic!r}). "
                          "Give a model file in the GGUF format.")
    free = available_memory() if free is None else free
    need = int(size * 1.1) + (256 << 20)  # weights, plus a KV cache and buffers
    if need > free:
        raise ConfigError(f"Planner.llama: {path.name} needs about {need / 2**30:.1f} GiB of memory, "
                          f"{free / 2**30:.1f} GiB is free. Use a smaller or more quantized GGUF.")


def default_threads(settings: Settings) -> int:
    return settings.llama_threads or settings.torch_threads or max(1, (os.cpu_count() or 2) // 2)


class LlamaBackend:
    """One GGUF model and one context; not thread-safe (the planner serializes decisions)."""

    kind = "llama"

    def __init__(self, settings: Settings, model: str | None = None) -> None:
        import numpy as np

        self._np = np
        self.L = import_llama()
        t0 = time.perf_counter()
        self.path = resolve_gguf(settings, model or settings.model)
        check_gguf(self.path)
        self.name = self.path.stem
        self.calls = 0
        self.threads = default_threads(settings)
        self._model = self._ctx = self._batch = None
        L = self.L
        mp = L.llama_model_default_params()
        mp.n_gpu_layers = 999 if L.llama_supports_gpu_offload() else 0
        _LOG.clear()
        self._model = L.llama_model_load_from_file(str(self.path).encode(), mp)
        if not self._model:
            raise ConfigError(f"Planner.llama: {self.path.name} is not a model llama.cpp can load "
                              f"({self._last_log('load failed')}). Give a model GGUF, not an adapter or vocabulary.")
        self.vocab = L.llama_model_get_vocab(self._model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.n_ctx = max(256, min(settings.llama_ctx, L.llama_model_n_ctx_train(self._model) or settings.llama_ctx))
        cp = L.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = self.n_ctx, N_BATCH, N_BATCH, MAX_SEQ
        cp.kv_unified = True  # candidates share the prompt's cells instead of copying them
        cp.n_threads = cp.n_threads_batch = self.threads
        cp.no_perf = True
        self._ctx = L.llama_init_from_model(self._model, cp)
        if not self._ctx:
            raise ConfigError(f"Planner.llama: cannot create a context of {self.n_ctx} tokens for {self.path.name} "
                              f"({self._last_log('out of memory?')}). Lower RPA_LLAMA_CTX.")
        self._mem = L.llama_get_memory(self._ctx)
        self._batch = L.llama_batch_init(N_BATCH, 0, MAX_SEQ)
        self._format, self.end = self._chat_format()
        self._ids: list[int] = []  # the prompt now in sequence 0 of the KV cache
        self._last: Any = None  # log-probabilities after it
        self.forwarded_tokens = 0
        self.scored_tokens = 0
        self.model_s = 0.0
        self.load_s = time.perf_counter() - t0
        self.size = self.path.stat().st_size
        logger.info("planner: {} loaded by llama.cpp in {:.2f} s ({} threads, context {})",
                    self.path.name, self.load_s, self.threads, self.n_ctx)

    @staticmethod
    def _last_log(default: str) -> str:
        """llama.cpp's reason: its first error line since the last clear (later ones only repeat it)."""
        errors = [ln for ln in _LOG if "error" in ln.lower() or "failed" in ln.lower()] or list(_LOG)
        return errors[0].split(": ", 1)[-1].rstrip(".")[:160] if errors else default

    # -- text ------------------------------------------------------------------------------------
    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        data = text.encode("utf-8")
        n = len(data) + 8
        buf = (self.L.llama_token * n)()
        k = self.L.llama_tokenize(self.vocab, data, len(data), buf, n, False, special)
        if k < 0:
            buf = (self.L.llama_token * -k)()
            k = self.L.llama_tokenize(self.vocab, data, len(data), buf, -k, False, special)
        return list(buf[:k])

    def piece(self, token: int, *, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self.L.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.L.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def _chat_format(self) -> tuple[Any, int]:
        """The GGUF's own chat template, and the token that ends an assistant turn in it."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        L = self.L
        eos = L.llama_vocab_eos(self.vocab)
        raw = L.llama_model_chat_template(self._model, None)
        if not raw:
            logger.warning("planner: {} has no chat template; using plain 'role: text' turns", self.path.name)
            return None, eos
        names = {"eos_token": self.piece(eos, special=True).decode("utf-8", "replace"),
                 "bos_token": self.piece(L.llama_vocab_bos(self.vocab), special=True).decode("utf-8", "replace")}
        fmt = Jinja2ChatFormatter(raw.decode("utf-8"), **names)
        closed = Jinja2ChatFormatter(raw.decode("utf-8"), add_generation_prompt=False, **names)
        text = closed(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": _MARK}]).prompt
        after = self.tokenize(text.split(_MARK, 1)[-1], special=True) if _MARK in text else []
        end = after[0] if after and (L.llama_vocab_is_eog(self.vocab, after[0])
                                     or L.llama_vocab_is_control(self.vocab, after[0])) else eos
        return fmt, end

    def prompt_text(self, messages: list[dict[str, str]]) -> str:
        if self._format is None:
            return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return self._format(messages=messages).prompt

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    # -- the model -------------------------------------------------------------------------------
    def _decode(self, items: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of (token, position, sequence, wants logits) items (at most N_BATCH)."""
        b = self._batch
        b.n_tokens = len(items)
        for i, (tok, pos, seq, logits) in enumerate(items):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, logits
            b.seq_id[i][0] = seq
        t0 = time.perf_counter()
        _LOG.clear()
        rc = self.L.llama_decode(self._ctx, b)
        self.model_s += time.perf_counter() - t0
        if rc != 0:
            self._reset()
            raise PlannerError(f"Planner.llama: llama.cpp could not run {len(items)} tokens (code {rc}, "
                               f"{self._last_log('context full?')}). Raise RPA_LLAMA_CTX (now {self.n_ctx}).")
        self.forwarded_tokens += len(items)

    def _logprobs(self, i: int) -> Any:
        np = self._np
        row = np.ctypeslib.as_array(self.L.llama_get_logits_ith(self._ctx, i), shape=(self.n_vocab,))
        m = float(row.max())
        return row - (m + float(np.log(np.exp(row - m).sum())))

    def _reset(self) -> None:
        self.L.llama_memory_clear(self._mem, True)
        self._ids, self._last = [], None

    def _prompt_state(self, ids: list[int]) -> Any:
        """Log-probabilities after ``ids``, running only what follows the cached common prefix."""
        if len(ids) >= self.n_ctx:
            raise PlannerError(f"Planner.llama: the prompt has {len(ids)} tokens, the context {self.n_ctx}. "
                               "Raise RPA_LLAMA_CTX or shorten the page text.")
        common = 0
        for a, b in zip(self._ids, ids):
            if a != b:
                break
            common += 1
        if common == len(ids) == len(self._ids) and self._last is not None:
            return self._last
        keep = min(common, len(ids) - 1)
        self.L.llama_memory_seq_rm(self._mem, 0, keep, -1)
        self._ids, self._last = [], None
        for start in range(keep, len(ids), N_BATCH):
            chunk = ids[start:start + N_BATCH]
            self._decode([(t, start + j, 0, start + j == len(ids) - 1) for j, t in enumerate(chunk)])
        self._ids, self._last = list(ids), self._logprobs(-1).copy()
        return self._last

    def score(self, ids: list[int], seqs: list[list[int]]) -> list[float]:
        """Summed log-likelihood of each token sequence after the prompt ``ids``."""
        last = self._prompt_state(ids)
        n = len(ids)
        if n + sum(len(s) for s in seqs) > self.n_ctx:
            raise PlannerError(f"Planner.llama: the prompt and {len(seqs)} answers need more than the context "
                               f"of {self.n_ctx} tokens. Raise RPA_LLAMA_CTX.")
        totals = [float(last[s[0]]) for s in seqs]
        group: list[int] = []
        width = 0
        for k in [*range(len(seqs)), None]:
            if k is not None and len(group) < MAX_SEQ - 1 and width + len(seqs[k]) - 1 <= N_BATCH:
                group.append(k)
                width += len(seqs[k]) - 1
                continue
            self._score_group(n, seqs, group, totals)
            group, width = ([k], len(seqs[k]) - 1) if k is not None else ([], 0)
        return totals

    def _score_group(self, n: int, seqs: list[list[int]], group: list[int], totals: list[float]) -> None:
        L = self.L
        items, targets = [], []
        for slot, k in enumerate(group, start=1):
            L.llama_memory_seq_cp(self._mem, 0, slot, 0, n)
            for j, tok in enumerate(seqs[k][:-1]):
                items.append((tok, n + j, slot, True))
                targets.append((k, seqs[k][j + 1]))
        try:
            if items:
                self._decode(items)
                for i, (k, nxt) in enumerate(targets):
                    totals[k] += float(self._logprobs(i)[nxt])
        finally:
            for slot in range(1, len(group) + 1):
                L.llama_memory_seq_rm(self._mem, slot, -1, -1)

    def sample(self, ids: list[int], answers: list[str], *, temperature: float, seed: int | None) -> int:
        """One of ``answers``, sampled under a GBNF grammar of exactly those answers."""
        L = self.L
        self._prompt_state(ids)
        n = len(ids)
        # The sampler reads the logits of the last decode: run the prompt's last token once more.
        L.llama_memory_seq_rm(self._mem, 0, n - 1, -1)
        self._decode([(ids[-1], n - 1, 0, True)])
        chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        grammar = L.llama_sampler_init_grammar(self.vocab, gbnf_choice(answers).encode("utf-8"), b"root")
        if not grammar:
            L.llama_sampler_free(chain)
            raise PlannerError(f"Planner.llama: llama.cpp refused the grammar of {len(answers)} answers "
                               f"({self._last_log('parse error')}).")
        L.llama_sampler_chain_add(chain, grammar)
        if temperature <= 0:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
        else:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_temp(temperature))
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_dist(
                seed if seed is not None else random.getrandbits(31)))
        out: list[int] = []
        limit = max(len(self.tokenize(a)) for a in answers) * 2 + 8
        try:
            for pos in range(n, n + limit):
                tok = L.llama_sampler_sample(chain, self._ctx, -1)
                if L.llama_vocab_is_eog(self.vocab, tok):
                    break
                out.append(tok)
                self._decode([(tok, pos, 0, True)])
        finally:
            L.llama_sampler_free(chain)
            L.llama_memory_seq_rm(self._mem, 0, n, -1)
        text = b"".join(self.piece(t) for t in out).decode("utf-8", "replace")
        self.scored_tokens += n + len(out)
        if text not in answers:
            raise PlannerError(f"Planner.llama: the grammar let through {text[:40]!r}, not one of the "
                               f"{len(answers)} answers. Report this with the model name.")
        return answers.index(text)

    def rank(self, messages: list[dict[str, str]], answers: list[str], *, sample: bool = False,
             seed: int | None = None, temperature: float = 1.0) -> Ranked:
        if not answers:
            raise PlannerError("Planner.llama: no answers to choose from.")
        t0 = time.perf_counter()
        self.calls += 1
        ids = self.tokenize(self.prompt_text(messages), special=True)
        if sample:
            chosen = self.sample(ids, answers, temperature=temperature, seed=seed)
            return Ranked(chosen=chosen, prompt_tokens=len(ids), ms=(time.perf_counter() - t0) * 1000)
        seqs = [self.tokenize(a) + [self.end] for a in answers]
        totals = self.score(ids, seqs)
        self.scored_tokens += len(ids) + sum(len(s) for s in seqs)
        chosen = max(range(len(totals)), key=lambda i: totals[i])
        mean = [t / len(s) for t, s in zip(totals, seqs)]
        return Ranked(chosen=chosen, scores=mean, prompt_tokens=len(ids), ms=(time.perf_counter() - t0) * 1000)

    def stats(self) -> dict[str, float | str]:
        return {"forwarded_tokens": self.forwarded_tokens, "scored_tokens": self.scored_tokens,
                "model_s": round(self.model_s, 3), "load_s": round(self.load_s, 2), "load_source": "gguf",
                "threads": self.threads, "n_ctx": self.n_ctx}

    def close(self) -> None:
        L = getattr(self, "L", None)
        if L is None:
            return
        if self._batch is not None:
            L.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            L.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            L.llama_model_free(self._model)
            self._model = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown the library may be gone already
            self.close()
