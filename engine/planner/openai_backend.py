"""Any OpenAI-compatible chat endpoint (llama.cpp server, vLLM, Ollama, a hosted API).

The remote model sees the same decision prompt plus a numbered list of the allowed actions and
must answer with one number; anything else is a ``PlannerError``. It never writes a selector or
a value, so a remote model cannot produce an invalid step either.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request

from engine.config import Settings
from engine.errors import ConfigError, PlannerError
from engine.planner.inference import Ranked
from engine.planner.prompts import options_block

TIMEOUT_S = 30.0


class OpenAIBackend:
    kind = "openai"

    def __init__(self, settings: Settings, *, model: str | None = None, timeout_s: float = TIMEOUT_S) -> None:
        if not settings.openai_base_url:
            raise ConfigError("Planner.openai: RPA_OPENAI_BASE_URL is not set. "
                              "Set it to the server's base URL, e.g. http://127.0.0.1:8080/v1.")
        self.base_url = settings.openai_base_url.rstrip("/")
        self.name = model or settings.openai_model or "default"
        self._key = os.environ.get(settings.openai_api_key_env, "")
        self.timeout_s = timeout_s
        self.calls = 0

    def _post(self, payload: dict) -> dict:
        url = self.base_url + ("/chat/completions" if self.base_url.endswith("/v1") else "/v1/chat/completions")
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return json.loads(resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as err:
            raise PlannerError(f"Planner.openai: {url} answered HTTP {err.code}. "
                               "Check RPA_OPENAI_BASE_URL, the model name and the API key.") from None
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise PlannerError(f"Planner.openai: cannot reach {url} ({reason}). "
                               "Start the server or fix RPA_OPENAI_BASE_URL.") from None
        except json.JSONDecodeError:
            raise PlannerError(f"Planner.openai: {url} did not answer JSON. "
                               "Point RPA_OPENAI_BASE_URL at an OpenAI-compatible /v1 endpoint.") from None

    def rank(self, messages: list[dict[str, str]], answers: list[str], *, sample: bool = False,
             seed: int | None = None, temperature: float = 1.0) -> Ranked:
        t0 = time.perf_counter()
        self.calls += 1
        msgs = messages[:-1] + [{"role": "user", "content": messages[-1]["content"] + options_block(answers)}]
        payload = {"model": self.name, "messages": msgs, "max_tokens": 8,
                   "temperature": temperature if sample else 0.0}
        if seed is not None:
            payload["seed"] = seed
        data = self._post(payload)
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise PlannerError("Planner.openai: the answer has no choices[0].message.content. "
                               "Use an OpenAI-compatible chat completions endpoint.") from None
        m = re.search(r"\d+", text)
        if not m or not 0 <= int(m.group(0)) < len(answers):
            raise PlannerError(f"Planner.openai: the model answered {text[:40]!r}, not an option number "
                               f"0-{len(answers) - 1}. Try a stronger model.")
        tokens = int((data.get("usage") or {}).get("prompt_tokens") or 0)
        return Ranked(chosen=int(m.group(0)), prompt_tokens=tokens, ms=(time.perf_counter() - t0) * 1000)

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)
