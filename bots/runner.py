"""A bot: runs one plan in one isolated browser context and reports a ``RunOutcome``.

``Bot.run`` never raises for a failing step: the outcome carries the status, the one-line error
and its kind. Business errors (the site said no, an assert failed, a blocked domain) stop the run
at once; application errors (timeouts, HTTP 5xx, a detached element, a crash) are retried per
step with exponential back-off up to ``step.retries`` times.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

from engine.errors import (FailureKind, AmbiguousTargetError, ApplicationError, BusinessError,
                           ElementNotFoundError, RpaError, StepTimeoutError)
from engine.logs import mask
from engine.outcome import RunOutcome, RunStatus, StepOutcome, StepRepair, StepStatus
from engine.plan.models import Plan, Step, topological_order
from engine.plan.template import render

from bots.fence import DomainFence, real_net_error
from bots.handlers import HANDLERS, StepScope, check_expect
from bots.screens import Screencast
from bots.traces import save_trace, secret_values

BACKOFF_S = 0.25  # first retry waits this long, then doubles
MAX_HEALS = 10  # repairs asked for in one run


def repairable(error: RpaError) -> bool:
    """A missing element or an element an expectation waits for: what a changed page looks like."""
    return isinstance(error, (ElementNotFoundError, AmbiguousTargetError)) or (
        isinstance(error, ApplicationError) and "expectation" in error.message and "is not visible" in error.message)


@dataclass
class StepEvent:
    """Progress of a run, one event when a step starts and one when it ends (for progress bars)."""

    run_id: str
    plan_name: str
    step_id: str
    action: str
    status: str  # started | retrying | succeeded | failed | skipped
    index: int  # 1-based position of the step in execution order
    total: int
    attempt: int = 1
    seconds: float = 0.0
    error: str | None = None


@dataclass
class RunContext:
    """What the engine hands a bot for one run."""

    run_id: str
    run_dir: Path
    params: dict[str, str]
    secret: Callable[[str], str]
    default_timeout_ms: int = 10_000
    on_event: Callable[[StepEvent], None] | None = None
    screenshots: bool = True
    trace_on_failure: bool = True
    trace_snapshots: bool = False  # DOM snapshots in the trace: richer, about 12 % slower (RPA_TRACE=full)
    attempt: int = 1
    # Called when a step still fails because the page changed: (plan, step, error, page) -> a
    # replacement step with the same id and verb, or None. The engine loop supplies it.
    heal: Callable[[Plan, Step, str, Any], Awaitable[Step | None]] | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc)


_NET_ERRORS = {
    "ERR_CONNECTION_REFUSED": "connection refused",
    "ERR_NAME_NOT_RESOLVED": "host not found",
    "ERR_CONNECTION_RESET": "connection reset",
    "ERR_CONNECTION_TIMED_OUT": "connection timed out",
    "ERR_ADDRESS_UNREACHABLE": "address unreachable",
    "ERR_INTERNET_DISCONNECTED": "no network",
    "ERR_EMPTY_RESPONSE": "empty response",
    "ERR_UNSAFE_PORT": "the browser refuses this port as unsafe",
}


def classify(step: Step, err: Exception, timeout_ms: int, url: str | None, context: Any = None) -> RpaError:
    """A Playwright exception as the framework's one-line error of the right kind."""
    if isinstance(err, RpaError):
        return err
    text = str(err) if context is None else real_net_error(context, str(err))
    first = mask(text.strip().splitlines()[0] if text.strip() else type(err).__name__)
    name = type(err).__name__
    if name == "TimeoutError":
        what = f"the {step.action.value} on {step.target.describe()}" if step.target else f"the {step.action.value}"
        return StepTimeoutError(step.id, timeout_ms, what)
    net = re.search(r"net::(ERR_[A-Z_]+)(?: at (\S+))?", text)
    if net:
        where = net.group(2) or url or (step.value or "")
        words = _NET_ERRORS.get(net.group(1))
        if words is None:
            return ApplicationError(step.id, f"cannot reach {where} ({net.group(1).lower()})")
        parts = urlsplit(where)
        short = f"{parts.scheme}://{parts.netloc}" if parts.netloc else where
        return ApplicationError(step.id, f"cannot reach {short} ({words})")
    if "Target page, context or browser has been closed" in text or "crash" in text.lower():
        return ApplicationError(step.id, "the browser page closed or crashed")
    if "not attached" in text or "detached" in text:
        return ApplicationError(step.id, f"the element was detached while acting on it ({first})")
    if "intercepts pointer events" in text:
        return ApplicationError(step.id, f"the element is covered by another one ({first})")
    return ApplicationError(step.id, first.removeprefix("Error: "))


class Bot:
    """Runs plans in one Playwright ``BrowserContext`` (which the caller owns and closes)."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.page: Any = None
        self.fence: DomainFence | None = None
        self._popup: Any = None
        self._nav: dict[str, Any] = {}
        self._heals = 0
        self._cast = Screencast(context)

    # -- browser wiring ------------------------------------------------------------------------

    def _watch(self, page: Any) -> None:
        page.on("dialog", lambda d: asyncio.ensure_future(self._dialog(d)))
        page.on("response", self._response)

    async def _dialog(self, dialog: Any) -> None:
        logger.info("bot: accepted a {} dialog: {}", dialog.type, mask(dialog.message)[:120])
        try:
            await dialog.accept()
        except Exception:  # noqa: BLE001 - the page went away with its dialog
            pass

    def _response(self, response: Any) -> None:
        try:
            if response.request.is_navigation_request() and response.frame.parent_frame is None:
                self._nav.update(status=response.status, url=response.url)
        except Exception:  # noqa: BLE001 - a response of a closed frame; nothing to track
            pass

    def _on_page(self, page: Any) -> None:
        self._watch(page)
        if self.page is not None and page is not self.page:
            self._popup = page

    # -- the run -------------------------------------------------------------------------------

    async def run(self, plan: Plan, ctx: RunContext) -> RunOutcome:
        started, clock = _now(), time.perf_counter()
        run_dir = Path(ctx.run_dir)
        (run_dir / "screens").mkdir(parents=True, exist_ok=True)
        outcome = RunOutcome(run_id=ctx.run_id, plan_name=plan.name, status=RunStatus.succeeded,
                             attempt=ctx.attempt, run_dir=str(run_dir), started_at=started)
        order = topological_order(plan)
        outputs: dict[str, Any] = {}
        tracing = False
        try:
            # Every request, socket and navigation, redirect hops too (bots/fence.py).
            self.fence = DomainFence(plan.allowed_domains, allow_file=plan.allow_file)
            await self.fence.install(self.context)
            self.context.on("page", self._on_page)
            if ctx.trace_on_failure:
                try:
                    await self.context.tracing.start(snapshots=ctx.trace_snapshots, screenshots=False)
                    tracing = True
                except Exception as err:  # noqa: BLE001 - tracing is a help, not a requirement
                    logger.debug("bot: tracing unavailable: {}", err)
            self.page = await self.context.new_page()
            if ctx.screenshots:
                await self._cast.follow(self.page)
            for index, sid in enumerate(order, 1):
                step = plan.step(sid)
                result = await self._step(plan, step, ctx, index, len(order), outputs, outcome)
                outcome.steps.append(result)
                if result.status is not StepStatus.succeeded:
                    outcome.status = RunStatus.failed
                    outcome.error, outcome.error_kind = result.error, result.error_kind
                    for j, rest in enumerate(order[index:], index + 1):
                        outcome.steps.append(StepOutcome(id=rest, action=plan.step(rest).action.value,
                                                         status=StepStatus.skipped, attempts=0))
                        self._emit(ctx, plan, plan.step(rest), "skipped", j, len(order))
                    break
        except Exception as err:  # noqa: BLE001 - the browser died under us: a failed run, not a crash
            logger.exception("bot: run {} broke", ctx.run_id)
            outcome.status, outcome.error_kind = RunStatus.failed, FailureKind.application
            outcome.error = mask(f"Bot.run: the browser failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})")
        outcome.outputs = outputs
        if self._cast.slots:
            missing = set(await self._cast.flush())
            for step in outcome.steps:
                if step.screenshot in missing:
                    step.screenshot = None
        if tracing:
            try:
                if outcome.ok:
                    await self.context.tracing.stop()
                else:
                    trace = run_dir / "trace.zip"
                    secrets = secret_values(plan.secrets, ctx.secret)  # scrubbed out of every member
                    outcome.trace = await save_trace(self.context, trace, secrets)
            except Exception as err:  # noqa: BLE001 - a crashed browser cannot hand over its trace
                logger.debug("bot: trace not saved: {}", err)
        outcome.finished_at = _now()
        outcome.seconds = time.perf_counter() - clock
        return outcome

    async def _step(self, plan: Plan, step: Step, ctx: RunContext, index: int, total: int,
                    outputs: dict[str, Any], outcome: RunOutcome) -> StepOutcome:
        started, clock = _now(), time.perf_counter()
        result = StepOutcome(id=step.id, action=step.action.value, status=StepStatus.succeeded,
                             started_at=started)
        self._emit(ctx, plan, step, "started", index, total)
        error: RpaError | None = None
        for attempt in range(1, step.retries + 2):
            result.attempts = attempt
            before = self.page.url
            error = await self._attempt(step, ctx, outputs, outcome, result)
            if error is None or isinstance(error, BusinessError) or attempt > step.retries:
                break
            logger.info("bot: step '{}' attempt {} failed, retrying: {}", step.id, attempt, error.message)
            self._emit(ctx, plan, step, "retrying", index, total, attempt=attempt, error=error.message)
            await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1))
            await self._recover(before)
        if error is not None and ctx.heal is not None and repairable(error) and self._heals < MAX_HEALS:
            error = await self._heal(plan, step, ctx, outputs, outcome, result, error)
        result.seconds = time.perf_counter() - clock
        if error is not None:
            result.status = StepStatus.failed
            result.error = mask(error.message)
            result.error_kind = FailureKind.business if isinstance(error, BusinessError) else FailureKind.application
            logger.info("bot: step '{}' failed: {}", step.id, result.error)
        if ctx.screenshots:
            path = Path(ctx.run_dir) / "screens" / f"{index:02d}_{re.sub(r'[^A-Za-z0-9_.-]', '_', step.id)}.jpg"
            if error is None and await self._cast.follow(self.page):
                result.screenshot = self._cast.mark(path)  # written from the screencast when the run ends
            else:  # a failure deserves an exact picture
                result.screenshot = await self._screenshot(path, step.id)
        self._emit(ctx, plan, step, result.status.value, index, total, attempt=result.attempts,
                   seconds=result.seconds, error=result.error)
        return result

    async def _attempt(self, step: Step, ctx: RunContext, outputs: dict[str, Any], outcome: RunOutcome,
                       result: StepOutcome) -> RpaError | None:
        """One try of one step: act, follow a popup, check the expectation. The error, or None."""
        timeout = step.timeout_ms or ctx.default_timeout_ms

        def fill_in(text: str) -> str:
            return render(text, ctx.params, outputs, ctx.secret)

        self._nav.clear()
        scope = StepScope(page=self.page, step=step, timeout_ms=timeout, render=fill_in, outputs=outputs,
                          downloads_dir=Path(ctx.run_dir) / "downloads", last_navigation=self._nav)
        try:
            resolved = await HANDLERS[step.action](scope)
            if resolved is not None:
                result.locator = resolved.describe()
            await self._follow_popup()
            scope.page = self.page
            self._check_blocked(step)
            if step.expect is not None and step.action.value != "assert":
                await check_expect(scope, step.expect)
            outcome.downloads.extend(scope.downloads)
            return None
        except Exception as err:  # noqa: BLE001 - every failure becomes a typed one-line error
            violation = self.fence.violation(step.id) if self.fence is not None else None
            if violation is not None:
                return violation
            return classify(step, err, timeout, self.page.url if self.page else None, context=self.context)

    async def _heal(self, plan: Plan, step: Step, ctx: RunContext, outputs: dict[str, Any], outcome: RunOutcome,
                    result: StepOutcome, error: RpaError) -> RpaError | None:
        """The page changed under a recorded step: ask the engine for a replacement step, try it once."""
        self._heals += 1
        try:
            new = await ctx.heal(plan, step, error.message, self.page)  # type: ignore[misc]
        except Exception as err:  # noqa: BLE001 - a repair that breaks leaves the original error
            logger.info("bot: repair of step '{}' failed: {}", step.id, err)
            return error
        if new is None or new.id != step.id or new.action is not step.action:
            return error
        logger.info("bot: step '{}' repaired, trying {}", step.id,
                    new.target.describe() if new.target else new.action.value)
        result.attempts += 1
        again = await self._attempt(new, ctx, outputs, outcome, result)
        if again is None:
            outcome.repairs.append(StepRepair(step_id=step.id, old=step.model_dump(mode="json"),
                                              new=new.model_dump(mode="json")))
            return None
        return error

    def _check_blocked(self, step: Step) -> None:
        violation = self.fence.violation(step.id) if self.fence is not None else None
        if violation is not None:
            raise violation

    async def _follow_popup(self) -> None:
        """A click that opened a new tab continues in that tab, as a person would."""
        popup, self._popup = self._popup, None
        if popup is not None and not popup.is_closed():
            try:
                await popup.wait_for_load_state("domcontentloaded")
            except Exception:  # noqa: BLE001 - a popup that closed itself at once
                return
            self.page = popup

    async def _recover(self, url_before: str) -> None:
        """Before a retry: leave an error page the failed attempt navigated to."""
        try:
            if self.page.is_closed():
                self.page = await self.context.new_page()
                if url_before and url_before != "about:blank":
                    await self.page.goto(url_before)
            elif self._nav.get("status", 0) >= 500 and self.page.url != url_before:
                await self.page.go_back()
        except Exception as err:  # noqa: BLE001 - the retry itself will report what is wrong
            logger.debug("bot: recovery before retry failed: {}", err)

    async def _screenshot(self, path: Path, step_id: str) -> str | None:
        try:
            # Password fields are painted over: a secret never lands in a screenshot.
            await self.page.screenshot(path=str(path), type="jpeg", quality=70, timeout=5000,
                                       mask=[self.page.locator("input[type=password]")])
            return str(path)
        except Exception as err:  # noqa: BLE001 - a closed page has nothing to show
            logger.debug("bot: no screenshot for '{}': {}", step_id, err)
            return None

    def _emit(self, ctx: RunContext, plan: Plan, step: Step, status: str, index: int, total: int,
              **kw: Any) -> None:
        if ctx.on_event is None:
            return
        try:
            ctx.on_event(StepEvent(run_id=ctx.run_id, plan_name=plan.name, step_id=step.id,
                                   action=step.action.value, status=status, index=index, total=total, **kw))
        except Exception as err:  # noqa: BLE001 - a broken progress bar must not break the run
            logger.debug("bot: on_event failed: {}", err)
