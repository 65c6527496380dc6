"""``rpa bench models``: every planner backend on the same decisions, side by side.

The decisions are real: the bundled sandbox is observed in Chromium (log-in page, home, invoice
list, invoice detail, form, notes), and each control on those pages becomes one decision in the
planner's own format (``decision_messages``) among six candidate action lines. Every backend
answers the same decisions in the same order, so their choices can be compared one to one.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from engine.planner.prompts import decision_messages, format_action

PAGES = ("/login", "/", "/invoices", "/invoices?q=Globex", "/invoices/INV-1007", "/form", "/notes")
CANDIDATES = 6
PAGE_TOKENS = 400


@dataclass(frozen=True)
class DecisionCase:
    """One decision: the prompt messages, the candidate answers and the one the goal names."""

    page: str
    messages: list[dict[str, str]]
    answers: list[str]
    expected: int


def _action(el: Any) -> tuple[str, str, str | None, str]:
    """(verb, goal, value, instruction) for one control."""
    name = el.name or el.label or el.placeholder or el.near
    if el.editable:
        return "fill", f'fill "{name}"', "test", f"Enter test as {name}"
    if el.selectable and el.options:
        return "select", f'select "{name}"', el.options[-1], f"Choose {el.options[-1]} as {name}"
    if el.checkable:
        return "check", f'check "{name}"', None, f"Tick {name}"
    return "click", f'click "{name}"', None, f"Open {name}"


def cases_from(obs: Any, page: str, rng: random.Random, per_page: int) -> list[DecisionCase]:
    """Decisions over one observation: each named control is the goal once, among its neighbours."""
    controls = [el for el in obs.controls if (el.name or el.label or el.placeholder or el.near).strip()]
    text = obs.to_prompt(PAGE_TOKENS)
    out: list[DecisionCase] = []
    for i, target in enumerate(controls[:per_page]):
        _, goal, _, instruction = _action(target)
        lo = max(0, min(i - CANDIDATES // 2, len(controls) - CANDIDATES))
        shown = controls[lo:lo + CANDIDATES]
        rng.shuffle(shown)
        answers = []
        for el in shown:
            v, _, val, _ = _action(el)
            answers.append(format_action(v, el.ref, el.name or el.label or el.placeholder or el.near, val))
        if len(answers) < 2:
            continue
        expected = [el.ref for el in shown].index(target.ref)
        out.append(DecisionCase(page, decision_messages(instruction, text, goal), answers, expected))
    return out


async def _observe_sandbox(per_page: int, seed: int) -> list[DecisionCase]:
    from bots.browser import BrowserConfig, launch, new_context
    from bots.observe import observe
    from bots.sandbox import start_sandbox

    rng = random.Random(seed)
    cases: list[DecisionCase] = []
    with start_sandbox(port=0) as site:
        async with launch(BrowserConfig()) as browser:
            context = await new_context(browser)
            page = await context.new_page()
            await page.goto(site.url + "/login")
            cases += cases_from(await observe(page), "/login", rng, per_page)
            await page.get_by_label("Username").fill("alice")
            await page.get_by_label("Password").fill("wonderland")
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_role("link", name="Sign out").wait_for()
            for path in PAGES[1:]:
                await page.goto(site.url + path)
                cases += cases_from(await observe(page), path, rng, per_page)
            await context.close()
    return cases


def sandbox_decisions(per_page: int = 6, seed: int = 0) -> list[DecisionCase]:
    """Decisions over the sandbox's pages, the same ones for the same ``seed``."""
    return asyncio.run(_observe_sandbox(per_page, seed))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def summarize_times(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 1) if ms else 0.0, "p95_ms": round(percentile(ms, 0.95), 1)}


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _decide_all(kind: str, model: str | None, cases: list[DecisionCase], threads: int | None,
                base_url: str | None) -> dict[str, Any]:
    """In a fresh process: load one backend, answer every decision, report times, choices and RSS."""
    import os

    from engine.config import get_settings
    from engine.errors import RpaError
    from engine.planner import make_backend
    from engine.planner.catalog import rss_mb

    if threads:
        os.environ["RPA_TORCH_THREADS"] = os.environ["RPA_LLAMA_THREADS"] = str(threads)
    if base_url:
        os.environ["RPA_OPENAI_BASE_URL"] = base_url
        os.environ.setdefault("RPA_OPENAI_TIMEOUT", "300")
    settings = get_settings()
    backend, load_s = timed(make_backend, settings, kind, model)
    chosen: list[int] = []
    ms: list[float] = []
    tokens: list[int] = []
    errors: list[str] = []
    for case in cases:
        try:
            ranked, seconds = timed(backend.rank, case.messages, case.answers)
        except RpaError as err:
            chosen.append(-1)
            errors.append(err.message)
            continue
        chosen.append(ranked.chosen)
        ms.append(seconds * 1000)
        tokens.append(ranked.prompt_tokens)
    stats = backend.stats() if hasattr(backend, "stats") else {}
    return {"load_s": load_s, "chosen": chosen, "ms": ms, "prompt_tokens": tokens, "errors": errors,
            "rss_mb": rss_mb(), "stats": stats, "name": backend.name}


def _in_child(kind: str, model: str | None, cases: list[DecisionCase], threads: int | None,
              base_url: str | None = None) -> dict[str, Any]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_decide_all, kind, model, cases, threads, base_url).result()


def _summary(raw: dict[str, Any], cases: list[DecisionCase]) -> dict[str, Any]:
    n = len(cases)
    invalid = sum(1 for c, case in zip(raw["chosen"], cases) if not 0 <= c < len(case.answers))
    seconds = sum(raw["ms"]) / 1000
    return {"model": raw["name"], "load_s": round(raw["load_s"], 2), **summarize_times(raw["ms"]),
            "tokens_per_s": round(sum(raw["prompt_tokens"]) / seconds, 1) if seconds else 0.0,
            "rss_mb": round(raw["rss_mb"], 1), "decisions": n, "invalid": invalid,
            "errors": raw["errors"][:3], "named_target": round(sum(
                c == case.expected for c, case in zip(raw["chosen"], cases)) / n, 3) if n else 0.0,
            "stats": raw["stats"]}


def run_bench(backends: list[str], *, model: str | None = None, per_page: int = 6, seed: int = 0,
              threads: int | None = None) -> dict[str, Any]:
    """Each backend in its own process over the same decisions; the openai one through llama.cpp's server."""
    import os
    import platform

    import psutil

    from engine.config import get_settings
    from engine.errors import ConfigError
    from engine.planner.llama_backend import default_threads, resolve_gguf

    unknown = [b for b in backends if b not in ("local", "llama", "openai")]
    if unknown or not backends:
        raise ConfigError(f"Bench.models: unknown backend(s) {unknown or backends}. Use local, llama, openai.")
    settings = get_settings()
    gguf = resolve_gguf(settings, model)  # one GGUF for every backend (transformers dequantizes it)
    chosen_model = model and str(gguf)
    cases = sandbox_decisions(per_page, seed)
    n_threads = threads or default_threads(settings)
    result: dict[str, Any] = {"model": str(gguf), "decisions": len(cases), "threads": n_threads,
                              "cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in os.getloadavg()],
                              "python": platform.python_version(), "backends": {}}
    raw: dict[str, dict[str, Any]] = {}
    for kind in backends:
        if kind == "openai":
            from engine.planner.llama_server import llama_server

            with llama_server(gguf, threads=n_threads, n_ctx=settings.llama_ctx) as srv:
                raw[kind] = _in_child(kind, srv.model, cases, threads, srv.base_url)
                raw[kind]["load_s"] = srv.start_s
                raw[kind]["rss_mb"] = psutil.Process(srv.pid).memory_info().rss / 2**20
        else:
            raw[kind] = _in_child(kind, chosen_model, cases, threads)
        result["backends"][kind] = _summary(raw[kind], cases)
    if "local" in raw:
        for kind in raw:
            if kind != "local":
                same = sum(a == b for a, b in zip(raw[kind]["chosen"], raw["local"]["chosen"]))
                result["backends"][kind]["agreement_with_local"] = round(same / len(cases), 3) if cases else 0.0
        local_ms = result["backends"]["local"]["median_ms"]
        for kind in raw:
            if kind != "local" and result["backends"][kind]["median_ms"]:
                result["backends"][kind]["speedup_vs_local"] = round(local_ms / result["backends"][kind]["median_ms"], 2)
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return result
