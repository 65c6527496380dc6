"""Any OpenAI-compatible chat endpoint: llama.cpp's server, vLLM, Ollama, a hosted API.

The remote model sees the decision prompt plus the numbered candidate actions and answers with an
option number, held to the options by the strongest constraint the server accepts: a JSON schema
(``response_format`` ``json_schema``, or llama-cpp-python's ``json_object`` with a schema), a GBNF
``grammar`` (llama.cpp), or, failing those, the prompt alone. Every reply is read by one strict
parser, so text that breaks the format is an error, never a guess. Where the server offers
``logprobs``, the option numbers' log-probabilities become the candidates' scores.

Timeouts, connection errors, HTTP 429 and 5xx are retried with backoff; whatever still fails is
one ``PlannerError`` line. The model never writes a selector or a value: a remote model cannot
produce an invalid step either.
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
from loguru import logger

from engine.config import Settings
from engine.errors import ConfigError, PlannerError
from engine.logs import register_secret
from engine.planner.grammar import gbnf_index, index_schema, parse_index
from engine.planner.inference import Ranked
from engine.planner.prompts import options_block

MODES = ("json_schema", "json_object", "grammar", "none")
MAX_TOKENS = 24
MAX_LOGPROB_OPTIONS = 10  # option numbers past 9 take two tokens: their first token is ambiguous


class _Refused(Exception):
    """The server refused this request's shape (HTTP 400/422): a feature it lacks."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


def chat_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")


def constraint(mode: str, n: int) -> dict[str, Any]:
    """The request fields that hold the answer to one of ``n`` option numbers."""
    if mode == "json_schema":
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "option", "strict": True, "schema": index_schema(n)}}}
    if mode == "json_object":
        return {"response_format": {"type": "json_object", "schema": index_schema(n)}}
    if mode == "grammar":
        return {"grammar": gbnf_index(n)}
    return {}


def option_logprobs(data: dict[str, Any], n: int) -> list[float] | None:
    """Each option number's log-probability at the first digit of the reply, or None if unknown."""
    if n > MAX_LOGPROB_OPTIONS:
        return None
    try:
        content = (data["choices"][0].get("logprobs") or {}).get("content") or []
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    for entry in content:
        if not isinstance(entry, dict) or not str(entry.get("token", "")).strip().isdigit():
            continue
        found: dict[int, float] = {}
        for alt in [*(entry.get("top_logprobs") or []), entry]:
            tok = str(alt.get("token", "")).strip() if isinstance(alt, dict) else ""
            if tok.isdigit() and int(tok) < n and isinstance(alt.get("logprob"), int | float):
                found.setdefault(int(tok), float(alt["logprob"]))
        if len(found) < 2:
            return None
        floor = min(found.values()) - 1.0  # an option outside the top list is less likely than all in it
        return [found.get(i, floor) for i in range(n)]
    return None


class OpenAIBackend:
    kind = "openai"

    def __init__(self, settings: Settings, *, model: str | None = None, timeout_s: float | None = None,
                 retries: int | None = None, constrain: str | None = None) -> None:
        if not settings.openai_base_url:
            raise ConfigError("Planner.openai: RPA_OPENAI_BASE_URL is not set. "
                              "Set it to the server's base URL, e.g. http://127.0.0.1:8080/v1.")
        mode = (constrain or settings.openai_constrain or "auto").lower()
        if mode != "auto" and mode not in MODES:
            raise ConfigError(f"Planner.openai: unknown RPA_OPENAI_CONSTRAIN '{mode}'. "
                              f"Use auto or one of {', '.join(MODES)}.")
        self.url = chat_url(settings.openai_base_url)
        self.name = model or settings.openai_model or "default"
        self.timeout_s = float(timeout_s if timeout_s is not None else settings.openai_timeout_s)
        self.retries = max(0, retries if retries is not None else settings.openai_retries)
        self.explicit = mode != "auto"
        self.modes = [mode] if self.explicit else list(MODES)
        self.logprobs = True  # asked for until the server refuses them
        self._key_env = settings.openai_api_key_env
        key = os.environ.get(self._key_env, "")
        headers = {"Content-Type": "application/json"}
        if key:
            register_secret(key)
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(self.timeout_s,
                                                                           connect=min(5.0, self.timeout_s)))
        self.calls = 0
        self.requests = 0
        self.retried = 0
        self.server_s = 0.0
        self.prompt_tokens = 0

    @property
    def mode(self) -> str:
        return self.modes[0]

    # -- HTTP ------------------------------------------------------------------------------------
    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer to one request, retrying what may pass on a second try."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
            t0 = time.perf_counter()
            self.requests += 1
            try:
                resp = self._client.post(self.url, json=payload)
            except httpx.TimeoutException:
                last = f"did not answer within {self.timeout_s:g} s"
                continue
            except httpx.TransportError as err:
                last = f"cannot be reached ({str(err).splitlines()[0] if str(err) else type(err).__name__})"
                continue
            finally:
                self.server_s += time.perf_counter() - t0
            if resp.status_code >= 500 and "validation error" in resp.text[:2000].lower():
                # llama-cpp-python's server reports a request shape it rejects as HTTP 500: no retry helps
                raise _Refused(resp.status_code, resp.text[:300])
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"answered HTTP {resp.status_code}"
                continue
            return self._read(resp)
        tries = self.retries + 1
        raise PlannerError(f"Planner.openai: {self.url} {last} ({tries} tr{'y' if tries == 1 else 'ies'}). "
                           "Start or check the server, fix RPA_OPENAI_BASE_URL, or raise RPA_OPENAI_TIMEOUT.")

    def _read(self, resp: httpx.Response) -> dict[str, Any]:
        code = resp.status_code
        if code in (400, 422):
            raise _Refused(code, resp.text[:300])
        if code in (401, 403):
            raise PlannerError(f"Planner.openai: {self.url} refused the API key (HTTP {code}). "
                               f"Put a valid key in ${self._key_env}.")
        if code >= 300:
            raise PlannerError(f"Planner.openai: {self.url} answered HTTP {code}. Check RPA_OPENAI_BASE_URL "
                               f"(it ends in /v1) and the model name '{self.name}' (RPA_OPENAI_MODEL).")
        try:
            data = resp.json()
        except ValueError:
            raise PlannerError(f"Planner.openai: {self.url} did not answer JSON. "
                               "Point RPA_OPENAI_BASE_URL at an OpenAI-compatible /v1 endpoint.") from None
        if not isinstance(data, dict):
            raise PlannerError(f"Planner.openai: {self.url} answered JSON that is not an object. "
                               "Use an OpenAI-compatible chat completions endpoint.")
        return data

    def _complete(self, payload: dict[str, Any], n: int) -> dict[str, Any]:
        """One chat completion under the strongest constraint the server accepts (remembered)."""
        while True:
            body = {**payload, **constraint(self.mode, n)}
            if self.logprobs:
                body.update(logprobs=True, top_logprobs=min(20, max(2, n)))
            try:
                return self._post(body)
            except _Refused as refused:
                if self.logprobs and "logprob" in refused.text.lower():
                    self.logprobs = False
                    logger.info("planner: {} refused logprobs; choices only, no scores", self.url)
                    continue
                if not self.explicit and len(self.modes) > 1:
                    logger.info("planner: {} refused {} (HTTP {}); trying {}", self.url, self.mode,
                                refused.status, self.modes[1])
                    self.modes.pop(0)
                    continue
                what = "a request without constraints" if self.mode == "none" else f"the constraint '{self.mode}'"
                snippet = " ".join(refused.text.split())[:120]
                hint = ("Set RPA_OPENAI_CONSTRAIN=auto to fall back to what it supports."
                        if self.explicit and self.mode != "none" else "Check the model name and the server.")
                raise PlannerError(f"Planner.openai: {self.url} refused {what} (HTTP {refused.status}: "
                                   f"{snippet}). {hint}") from None

    # -- the contract ----------------------------------------------------------------------------
    def rank(self, messages: list[dict[str, str]], answers: list[str], *, sample: bool = False,
             seed: int | None = None, temperature: float = 1.0) -> Ranked:
        if not answers:
            raise PlannerError("Planner.openai: no answers to choose from.")
        t0 = time.perf_counter()
        self.calls += 1
        n = len(answers)
        msgs = messages[:-1] + [{"role": "user", "content": messages[-1]["content"] + options_block(answers)}]
        payload: dict[str, Any] = {"model": self.name, "messages": msgs, "max_tokens": MAX_TOKENS,
                                   "temperature": temperature if sample else 0.0}
        if seed is not None:
            payload["seed"] = seed
        data = self._complete(payload, n)
        try:
            text = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise PlannerError("Planner.openai: the answer has no choices[0].message.content. "
                               "Use an OpenAI-compatible chat completions endpoint.") from None
        chosen = parse_index(text, answers) if isinstance(text, str) else None
        if chosen is None:
            shown = text[:40] if isinstance(text, str) else text
            raise PlannerError(f"Planner.openai: the model answered {shown!r}, which is not an option number "
                               f"0-{n - 1} (constraint: {self.mode}). Use a server that supports "
                               "response_format or grammar, or a stronger model.")
        scores = option_logprobs(data, n) if self.logprobs and not sample else None
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens = int(usage.get("prompt_tokens") or 0)
        self.prompt_tokens += tokens
        return Ranked(chosen=chosen, scores=scores, prompt_tokens=tokens, ms=(time.perf_counter() - t0) * 1000)

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def stats(self) -> dict[str, float | str | bool]:
        return {"requests": self.requests, "retries": self.retried, "prompt_tokens": self.prompt_tokens,
                "model_s": round(self.server_s, 3), "load_s": 0.0, "constrain": self.mode, "logprobs": self.logprobs}

    def close(self) -> None:
        self._client.close()
