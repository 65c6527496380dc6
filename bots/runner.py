"""A bot: the one executor of plan steps, in one isolated browser context.

``Bot.run(plan, ctx)`` replays a whole plan. ``Bot.start(plan, ctx)`` opens a ``Session`` on which
steps are performed one at a time (``Session.perform``): the planner proposes a step, the session
performs it exactly as a replay would, and ``Session.finish()`` gives the ``RunOutcome``. Nothing
else in the framework acts on a page.

A failing step never raises: its ``StepOutcome`` carries the one-line error and its
``FailureKind``. Final kinds stop the run at once; retryable kinds are retried per step with
exponential back-off up to ``step.retries`` times; repairable kinds may be healed in the run by
the engine's hook (``RunContext.heal``).
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

from engine.errors import (ApplicationError, BrowserCrashedError, RpaError,
                           StepTimeoutError)
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
NAV_PICTURE_WAIT_S = 1.0  # how long a navigating step waits for the new page's first frame


@dataclass
class StepEvent:
    """Progress of a run, one event when a step starts and one when it ends (for progress bars)."""

    run_id: str
    plan_name: str
    step_id: str
    action: str
    status: str  # started | retrying | succeeded | failed | skipped
    index: int  # 1-based position of the step in execution order
    total: int  # 0 while a planner is still choosing steps
    attempt: int = 1
    seconds: float = 0.0
    error: str | None = None


# (plan, failed step, its error, live page) -> a replacement step with the same id and verb, or None.
Healer = Callable[[Plan, Step, RpaError, Any], Awaitable[Step | None]]


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
    heal: Healer | None = None


@dataclass
class Performed:
    """One performed step: its outcome, and the step as it was done (``adapt`` may change how)."""

    outcome: StepOutcome
    step: Step

    @property
    def ok(self) -> bool:
        return self.outcome.status is StepStatus.succeeded


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
    """A Playwright exception as the framework's typed one-line error.

    Playwright has two error types only, so this is the one place that reads their text."""
    if isinstance(err, RpaError):
        return err
    text = str(err) if context is None else real_net_error(context, str(err))
    first = mask(text.strip().splitlines()[0] if text.strip() else type(err).__name__)
    if type(err).__name__ == "TimeoutError":
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
        return BrowserCrashedError(step.id, "the browser page closed or crashed")
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
        self._navigated_at = 0.0
        self._cast = Screencast(context)

    async def run(self, plan: Plan, ctx: RunContext) -> RunOutcome:
        """Perform every step of ``plan`` in order; the first failure skips the rest."""
        session = await self.start(plan, ctx)
        order = topological_order(plan)
        session.total = len(order)
        try:
            for index, sid in enumerate(order):
                if not (await session.perform(plan.step(sid))).ok:
                    session.skip([plan.step(rest) for rest in order[index + 1:]])
                    break
        except Exception as err:  # noqa: BLE001 - the browser died under us: a failed run, not a crash
            session.broke(err)
        return await session.finish()

    async def start(self, plan: Plan, ctx: RunContext) -> Session:
        """Wire the context (allowed domains, dialogs, popups, tracing) and open the bot's page."""
        session = Session(self, plan, ctx)
        try:
            # Every request, socket and navigation, redirect hops too (bots/fence.py).
            self.fence = DomainFence(plan.allowed_domains, allow_file=plan.allow_file)
            await self.fence.install(self.context)
            self.context.on("page", self._on_page)
            if ctx.trace_on_failure:
                try:
                    await self.context.tracing.start(snapshots=ctx.trace_snapshots, screenshots=False)
                    session.tracing = True
                except Exception as err:  # noqa: BLE001 - tracing is a help, not a requirement
                    logger.debug("bot: tracing unavailable: {}", err)
            self.page = await self.context.new_page()
            if ctx.screenshots:
                await self._cast.follow(self.page)
        except Exception as err:  # noqa: BLE001 - a context that cannot open a page: the run failed
            session.broke(err)
        return session

    # -- browser wiring ------------------------------------------------------------------------

    def _watch(self, page: Any) -> None:
        page.on("dialog", lambda d: asyncio.ensure_future(self._dialog(d)))
        page.on("response", self._response)
        page.on("framenavigated", lambda frame: self._framenavigated(page, frame))

    def _framenavigated(self, page: Any, frame: Any) -> None:
        if page is self.page and frame.parent_frame is None:
            self._navigated_at = time.perf_counter()
            self._cast.navigated()

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
            self._navigated_at = time.perf_counter()

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

    async def _picture(self, path: Path, step: Step, failed: bool, started: float) -> str | None:
        """The page as it is after the step: a screencast frame, or an exact screenshot."""
        if failed or not await self._cast.follow(self.page):
            return await self._screenshot(path, step.id)  # a failure deserves an exact picture
        # A step that opened a new document gets that document's first painted frame (picked when
        # the run ends: nobody waits for a paint); any other step, the frame painted as it ended.
        return self._cast.mark(path, after=self._navigated_at if self._navigated_at > started else 0.0)


class Session:
    """One run in progress: steps are performed one by one, then ``finish`` gives the outcome."""

    def __init__(self, bot: Bot, plan: Plan, ctx: RunContext) -> None:
        self.bot, self.plan, self.ctx = bot, plan, ctx
        self.outcome = RunOutcome(run_id=ctx.run_id, plan_name=plan.name, status=RunStatus.succeeded,
                                  attempt=ctx.attempt, run_dir=str(ctx.run_dir), started_at=_now())
        self.outputs: dict[str, Any] = {}
        self.tracing = False
        self.total = 0
        self._clock = time.perf_counter()
        self._heals = 0
        Path(ctx.run_dir, "screens").mkdir(parents=True, exist_ok=True)

    @property
    def page(self) -> Any:
        """The bot's live page (it follows popups)."""
        return self.bot.page

    @property
    def ok(self) -> bool:
        return self.outcome.status is RunStatus.succeeded

    def render(self, text: str) -> str:
        return render(text, self.ctx.params, self.outputs, self.ctx.secret)

    async def perform(self, step: Step, *, adapt: bool = False) -> Performed:
        """Perform one step as a replay does: retries, expectation, in-run repair, one picture.

        ``adapt`` (planning): when a mouse click cannot reach the element, a DOM click event is
        tried, and the returned step says so (``dispatch: true``), so that replay does the same."""
        bot, ctx = self.bot, self.ctx
        started, clock = _now(), time.perf_counter()
        index = len(self.outcome.steps) + 1
        result = StepOutcome(id=step.id, action=step.action.value, status=StepStatus.succeeded, started_at=started)
        self._emit(step, "started", index)
        error: RpaError | None = None
        for attempt in range(1, step.retries + 2):
            result.attempts = attempt
            before = bot.page.url
            step, error = await self._attempt(step, result, adapt)
            if error is None or not error.kind.retryable or attempt > step.retries:
                break
            logger.info("bot: step '{}' attempt {} failed, retrying: {}", step.id, attempt, error.message)
            self._emit(step, "retrying", index, attempt=attempt, error=error.message)
            await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1))
            await bot._recover(before)
        if error is not None and ctx.heal is not None and error.kind.repairable and self._heals < MAX_HEALS:
            error = await self._heal(step, result, error)
        result.seconds = time.perf_counter() - clock
        if error is not None:
            result.status, result.error, result.error_kind = StepStatus.failed, mask(error.message), error.kind
            logger.info("bot: step '{}' failed ({}): {}", step.id, error.kind.value, result.error)
            self.outcome.status, self.outcome.error, self.outcome.error_kind = RunStatus.failed, result.error, error.kind
        if ctx.screenshots:
            path = Path(ctx.run_dir) / "screens" / f"{index:02d}_{re.sub(r'[^A-Za-z0-9_.-]', '_', step.id)}.jpg"
            result.screenshot = await bot._picture(path, step, error is not None, clock)
        self.outcome.steps.append(result)
        self._emit(step, result.status.value, index, attempt=result.attempts, seconds=result.seconds,
                   error=result.error)
        return Performed(outcome=result, step=step)

    async def _attempt(self, step: Step, result: StepOutcome, adapt: bool) -> tuple[Step, RpaError | None]:
        """One try of one step: act, follow a popup, check the expectation. The error, or None."""
        bot = self.bot
        timeout = step.timeout_ms or self.ctx.default_timeout_ms
        bot._nav.clear()
        scope = StepScope(page=bot.page, step=step, timeout_ms=timeout, render=self.render, outputs=self.outputs,
                          downloads_dir=Path(self.ctx.run_dir) / "downloads", last_navigation=bot._nav,
                          adapt=adapt)
        try:
            resolved = await HANDLERS[step.action](scope)
            if resolved is not None:
                result.locator = resolved.describe()
            await bot._follow_popup()
            scope.page = bot.page
            bot._check_blocked(step)
            if step.expect is not None and step.action.value != "assert":
                await check_expect(scope, step.expect)
            self.outcome.downloads.extend(scope.downloads)
            return scope.step, None
        except Exception as err:  # noqa: BLE001 - every failure becomes a typed one-line error
            violation = bot.fence.violation(step.id) if bot.fence is not None else None
            if violation is not None:
                return step, violation
            return step, classify(step, err, timeout, bot.page.url if bot.page else None, context=bot.context)

    async def _heal(self, step: Step, result: StepOutcome, error: RpaError) -> RpaError | None:
        """The page changed under a recorded step: ask the engine for a replacement step, try it once."""
        self._heals += 1
        try:
            new = await self.ctx.heal(self.plan, step, error, self.page)  # type: ignore[misc]
        except Exception as err:  # noqa: BLE001 - a repair that breaks leaves the original error
            logger.info("bot: repair of step '{}' failed: {}", step.id, err)
            return error
        if new is None or new.id != step.id or new.action is not step.action:
            return error
        logger.info("bot: step '{}' repaired, trying {}", step.id,
                    new.target.describe() if new.target else new.action.value)
        result.attempts += 1
        _, again = await self._attempt(new, result, False)
        if again is None:
            self.outcome.repairs.append(StepRepair(step_id=step.id, old=step.model_dump(mode="json"),
                                                   new=new.model_dump(mode="json")))
            return None
        return error

    def skip(self, steps: list[Step]) -> None:
        """Steps that never ran because an earlier one failed."""
        for step in steps:
            self.outcome.steps.append(StepOutcome(id=step.id, action=step.action.value, status=StepStatus.skipped,
                                                  attempts=0))
            self._emit(step, "skipped", len(self.outcome.steps))

    def fail(self, error: RpaError) -> None:
        """The run failed outside its steps (a planner that could not do part of the instruction)."""
        self.outcome.status, self.outcome.error_kind = RunStatus.failed, error.kind
        self.outcome.error = mask(error.message)

    def broke(self, err: BaseException) -> None:
        """The browser failed under the run."""
        logger.opt(exception=err).info("bot: run {} broke", self.ctx.run_id)
        first = str(err).splitlines()[0] if str(err) else ""
        closed = "closed" in first.lower() or "crash" in first.lower()
        self.fail(BrowserCrashedError(None, f"Bot.run: the browser failed ({type(err).__name__}: {first})")
                  if closed else ApplicationError(None, f"Bot.run: the browser failed ({type(err).__name__}: {first})"))

    async def finish(self) -> RunOutcome:
        """Write the pictures, keep the trace of a failed run, and close the outcome."""
        bot, outcome = self.bot, self.outcome
        outcome.outputs = self.outputs
        if bot._cast.slots:
            missing = set(await bot._cast.flush(NAV_PICTURE_WAIT_S))
            for step in outcome.steps:
                if step.screenshot in missing:
                    step.screenshot = None
        if self.tracing:
            try:
                if outcome.ok:
                    await bot.context.tracing.stop()
                else:
                    trace = Path(self.ctx.run_dir) / "trace.zip"
                    secrets = secret_values(self.plan.secrets, self.ctx.secret)  # scrubbed out of every member
                    outcome.trace = await save_trace(bot.context, trace, secrets)
            except Exception as err:  # noqa: BLE001 - a crashed browser cannot hand over its trace
                logger.debug("bot: trace not saved: {}", err)
        outcome.finished_at = _now()
        outcome.seconds = time.perf_counter() - self._clock
        return outcome

    def _emit(self, step: Step, status: str, index: int, **kw: Any) -> None:
        if self.ctx.on_event is None:
            return
        try:
            self.ctx.on_event(StepEvent(run_id=self.ctx.run_id, plan_name=self.plan.name, step_id=step.id,
                                        action=step.action.value, status=status, index=index,
                                        total=self.total, **kw))
        except Exception as err:  # noqa: BLE001 - a broken progress bar must not break the run
            logger.debug("bot: on_event failed: {}", err)


@dataclass
class RunResult:
    """What one run gives back: its outcome and, when it failed, the page it failed on (for repair)."""

    outcome: RunOutcome
    observation: Any = None  # bots.observe.Observation | None


async def run_in_context(context: Any, plan: Plan, ctx: RunContext, *, observe_failure: bool = True) -> RunResult:
    """Replay ``plan`` in ``context``; the one implementation behind every runtime (local, Dask worker)."""
    bot = Bot(context)
    outcome = await bot.run(plan, ctx)
    observation = None
    if observe_failure and not outcome.ok and bot.page is not None and not bot.page.is_closed():
        from bots.observe import observe

        try:
            observation = await observe(bot.page)
        except Exception as err:  # noqa: BLE001 - the page may be gone; repair then has nothing to look at
            logger.info("bot: cannot observe the failed page for repair: {}", err)
    return RunResult(outcome=outcome, observation=observation)
