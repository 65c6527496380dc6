"""``rpa bench overhead``: what the framework costs over raw Playwright on the same 30 actions.

Both variants share one Chromium launched once (launch excluded), run alternately in one process,
each in a fresh browser context. The raw variant performs each step as the one Playwright call a
person would write by hand: no retries, expectation checks, screenshots, events or history.
When the sandbox ships ``recordings/overhead_30.yaml`` that flow is used; otherwise a built-in page.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from engine.config import get_settings
from engine.plan import Plan, load_plan, parse_plan, topological_order
from engine.plan.models import Locator, Step
from engine.plan.template import render, resolve_params

REPO = Path(__file__).resolve().parents[2]
SANDBOX_FLOW = REPO / "recordings" / "overhead_30.yaml"
BENCH_SECRETS = {"password": "wonderland", "sandbox_password": "wonderland"}

_LOGIN = """<!doctype html><title>Login</title><form action="/form" method="get">
<label>User <input name="user"></label><label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button></form>"""
_FIELDS = "".join(f'<label>Field {i} <input name="f{i}"></label>' for i in range(1, 11))
_SELECTS = "".join(
    f'<label>Choice {i} <select name="s{i}"><option>a</option><option>b</option><option>c</option></select></label>'
    for i in range(1, 4)
)
_CHECKS = "".join(f'<label><input type="checkbox" name="c{i}"> Option {i}</label>' for i in range(1, 5))
_FORM = f"""<!doctype html><title>Form</title><h1>Order form</h1><form action="/done" method="get">
{_FIELDS}{_SELECTS}{_CHECKS}<span title="help" id="help">?</span>
<button type="submit">Submit</button></form>"""
_DONE = """<!doctype html><title>Done</title><p id="result" data-testid="result">Order 4711 accepted</p>"""

BUILTIN_FLOW = """\
name: overhead-30
description: 30 steps on a login page and a form (built-in page of the overhead benchmark)
params:
  base_url: http://127.0.0.1:8000
secrets: [password]
steps:
  - {id: open, action: goto, value: "{{ params.base_url }}/login"}
  - {id: user, action: fill, target: {label: User}, value: alice}
  - {id: pass, action: fill, target: {label: Password}, value: "{{ secrets.password }}"}
  - {id: signin, action: click, target: {role: button, name: Sign in}, expect: {url: /form}}
""" + "".join(
    f"  - {{id: f{i}, action: fill, target: {{label: Field {i}, exact: true}}, value: value {i}}}\n" for i in range(1, 11)
) + "".join(
    f"  - {{id: s{i}, action: select, target: {{label: Choice {i}}}, value: b}}\n" for i in range(1, 4)
) + "".join(
    f"  - {{id: c{i}, action: check, target: {{label: Option {i}}}}}\n" for i in range(1, 5)
) + """\
  - {id: u2, action: uncheck, target: {label: Option 2}}
  - {id: help, action: hover, target: {title: help}}
  - {id: tab, action: press, target: {label: Field 10, exact: true}, value: Tab}
  - {id: submit, action: click, target: {role: button, name: Submit}, expect: {url: /done}}
  - {id: wait, action: wait_for, target: {test_id: result}}
  - {id: result, action: extract, target: {test_id: result}, output: result}
  - {id: check, action: assert, target: {text: Order 4711 accepted}}
  - {id: again, action: goto, value: "{{ params.base_url }}/form"}
  - {id: count, action: extract, extract: count, target: {css: input}, output: inputs}
"""


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        body = {"/login": _LOGIN, "/form": _FORM, "/done": _DONE}.get(path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        data = (body or "not found").encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _site() -> Iterator[tuple[str, Plan, str]]:
    """(base url, plan, where the flow comes from)."""
    if SANDBOX_FLOW.exists():
        from bots.sandbox import start_sandbox

        with start_sandbox(port=0) as server:
            yield server.url, load_plan(SANDBOX_FLOW), "sandbox:recordings/overhead_30.yaml"
        return
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", parse_plan(BUILTIN_FLOW, "overhead-30"), "built-in page"
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- the raw variant: one direct Playwright call per step -------------------------------------------

def _raw_locator(page: Any, loc: Locator) -> Any:
    if loc.test_id is not None:
        found = page.get_by_test_id(loc.test_id)
    elif loc.role is not None:
        found = page.get_by_role(loc.role, name=loc.name, exact=loc.exact or None) if loc.name else page.get_by_role(loc.role)
    elif loc.label is not None:
        found = page.get_by_label(loc.label, exact=loc.exact)
    elif loc.placeholder is not None:
        found = page.get_by_placeholder(loc.placeholder, exact=loc.exact)
    elif loc.alt_text is not None:
        found = page.get_by_alt_text(loc.alt_text, exact=loc.exact)
    elif loc.text is not None:
        found = page.get_by_text(loc.text, exact=loc.exact)
    elif loc.title is not None:
        found = page.get_by_title(loc.title, exact=loc.exact)
    else:
        found = page.locator(loc.css)
    return found.nth(loc.nth) if loc.nth is not None else found


async def _raw_step(page: Any, step: Step, value: str | None, outputs: dict[str, Any]) -> None:
    target = _raw_locator(page, step.target.locators[0]) if step.target is not None else None
    verb = step.action.value
    if verb == "goto":
        await page.goto(value)
    elif verb == "click":
        await target.click()
    elif verb == "fill":
        await target.fill(value)
    elif verb == "select":
        await target.select_option(value)
    elif verb in ("check", "uncheck"):
        await (target.check() if verb == "check" else target.uncheck())
    elif verb == "hover":
        await target.hover()
    elif verb == "press":
        await (target.press(value) if target is not None else page.keyboard.press(value))
    elif verb == "wait_for":
        await (target.wait_for() if target is not None else page.wait_for_url(f"**{value}**"))
    elif verb == "extract":
        outputs[step.output] = (await target.count()) if step.extract == "count" else await target.inner_text()
    elif verb == "assert":
        await target.wait_for()
    elif verb == "download":
        async with page.expect_download() as info:
            await target.click()
        await (await info.value).path()
    elif verb == "upload":
        await target.set_input_files(value)
    if step.expect is not None and step.expect.url:
        import re

        await page.wait_for_url(re.compile(step.expect.url))


async def _raw_run(browser: Any, plan: Plan, params: dict[str, str]) -> float:
    order = [plan.step(s) for s in topological_order(plan)]
    values = [render(s.value, params, {}, BENCH_SECRETS.__getitem__) if s.value else None for s in order]
    start = time.perf_counter()
    context = await browser.new_context(accept_downloads=True)
    page = await context.new_page()
    outputs: dict[str, Any] = {}
    for step, value in zip(order, values):
        await _raw_step(page, step, value, outputs)
    await context.close()
    return time.perf_counter() - start


async def _framework_run(browser: Any, plan: Plan, params: dict[str, str], run_dir: Path, screenshots: bool) -> float:
    from bots.runner import Bot, RunContext

    ctx = RunContext(run_id=run_dir.name, run_dir=run_dir, params=params, secret=BENCH_SECRETS.__getitem__,
                     default_timeout_ms=get_settings().step_timeout_ms, on_event=None, screenshots=screenshots)
    start = time.perf_counter()
    context = await browser.new_context(accept_downloads=True)
    outcome = await Bot(context).run(plan, ctx)
    await context.close()
    elapsed = time.perf_counter() - start
    if not outcome.ok:
        raise RuntimeError(f"Bench.overhead: the framework run failed: {outcome.error}")
    return elapsed


async def _bench(runs: int) -> dict[str, Any]:
    from bots.browser import BrowserConfig, launch

    with _site() as (url, plan, source), tempfile.TemporaryDirectory(prefix="rpa-overhead-") as tmp:
        params = resolve_params(plan, {k: url for k in plan.params if k in ("base_url", "url", "sandbox_url")})
        async with launch(BrowserConfig()) as browser:
            times: dict[str, list[float]] = {"raw": [], "framework": [], "noshots": []}
            for i in range(runs + 1):  # round 0 warms caches and is dropped
                raw = await _raw_run(browser, plan, params)
                fw = await _framework_run(browser, plan, params, Path(tmp) / f"fw{i}", True)
                ns = await _framework_run(browser, plan, params, Path(tmp) / f"ns{i}", False)
                if i:
                    times["raw"].append(raw)
                    times["framework"].append(fw)
                    times["noshots"].append(ns)
    raw_m, fw_m, ns_m = (statistics.median(times[k]) for k in ("raw", "framework", "noshots"))
    return {
        "framework_median_s": round(fw_m, 4),
        "raw_median_s": round(raw_m, 4),
        "ratio": round(fw_m / raw_m, 4),
        "framework_noshots_median_s": round(ns_m, 4),
        "ratio_noshots": round(ns_m / raw_m, 4),
        "runs": runs,
        "steps": len(plan.steps),
        "flow": source,
        "target_ratio": 1.15,
        "per_step_overhead_ms": round((fw_m - raw_m) / len(plan.steps) * 1000, 2),
        "samples_s": {k: [round(v, 4) for v in vals] for k, vals in times.items()},
    }


def run_overhead(runs: int = 5) -> dict[str, Any]:
    return asyncio.run(_bench(runs))
