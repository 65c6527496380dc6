"""The engine loop: pending work -> plans -> schedule -> bots -> history and feedback.

Orchestration only: the planner, the runtime (bots), history and reports come in through
``LoopDeps``; this module never imports Playwright. Every run of a plan goes through
``Batch._attempt`` (a replay) or ``Batch._plan_by_doing`` (an instruction performed step by step
by the planner on a live page, which is the run), and every outcome through ``Batch._store``.
"""

from __future__ import annotations

import asyncio
import secrets as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loguru import logger

from bots.runner import RunContext, RunResult, StepEvent
from engine.config import Settings
from engine.errors import (
    BrowserCrashedError,
    FailureKind,
    MissingInputError,
    PlannerError,
    RpaError,
    SecretError,
)
from engine.history import HistoryStatus, new_run_id
from engine.inputs import check_inputs
from engine.logs import add_json_file, remove_sink
from engine.loop import retry as rt
from engine.loop.deps import LoopDeps
from engine.loop.dispatch import dispatch
from engine.loop.estimates import estimate_plan, plan_sites, record_durations, step_sites
from engine.loop.healing import Healing
from engine.loop.models import BatchOutcome, EntryStatus, JobEntry, JobSpec
from engine.loop.runtime import LocalRuntime, Runtime
from engine.loop.schedule import BatchSchedule, JobWork, schedule_batch
from engine.outcome import RunOutcome
from engine.plan import Action, Plan, Step, load_plan
from engine.planner.models import Decision, decisions_by_step

if TYPE_CHECKING:
    from engine.planner import Planner

PLANNING_ESTIMATE_S = 15.0  # expected length of a run planned step by step, before anything is known


@dataclass
class _Job:
    key: str
    spec: JobSpec
    entry: JobEntry
    plan: Plan | None = None
    source: str | None = None  # the file a recording came from (repairs are saved beside it)
    plan_key: str = ""  # jobs with the same plan share repairs
    demands: dict[str, int] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    to_plan: bool = False  # an instruction with no stored plan: planned by doing it
    version: int = 0
    final: RunOutcome | None = None
    # step id -> the planner's decision that made the step (its page, goal and answer): stored with
    # the step's outcome so that `rpa train --from-history` rebuilds the planner's exact prompt.
    decisions: dict[str, Decision] = field(default_factory=dict)
    routing: Any = None  # the skills routing that chose this job's recorded bot(s) (engine.skills)


class Batch:
    def __init__(self, deps: LoopDeps, *, concurrency: int, on_event: Callable[[StepEvent], None] | None,
                 headed: bool, resources: dict[str, int] | None, site_cap: int | None) -> None:
        self.deps, self.settings, self.history = deps, deps.settings, deps.history
        self.concurrency = max(1, concurrency)
        self.on_event, self.headed = on_event, headed
        self.offered = dict(resources or {})
        self.site_cap = site_cap
        self.batch_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + _random.token_hex(3)
        self.backoff = rt.Backoff(base_s=deps.backoff_base_s, seed=0)
        self.jobs: dict[str, _Job] = {}
        self.healing = Healing(deps.history, self.planner, use_planner=deps.repair_with_planner)
        self._claims: set[tuple[str, int]] = set()
        self._planner: Planner | None = None
        self._planner_error: RpaError | None = None
        self.runtime: Runtime | None = None
        self._planning_runtime: LocalRuntime | None = None
        self._planning_lock = asyncio.Lock()
        self.planning_seconds = 0.0

    # -- planning -------------------------------------------------------------------------------
    def planner(self) -> Planner | None:
        if self._planner is None and self._planner_error is None:
            try:
                self._planner = self.deps.planner_factory()
            except RpaError as err:
                self._planner_error = err
        return self._planner

    def prepare(self, specs: list[JobSpec]) -> None:
        for i, spec in enumerate(specs):
            key = spec.job_id or f"{self.batch_id}-{i + 1:03d}"
            job = _Job(key=key, spec=spec, entry=JobEntry(job_id=key, label=spec.label(), status=EntryStatus.not_planned))
            self.jobs[key] = job
            t0 = time.perf_counter()
            try:
                self._plan(job)
            except RpaError as err:
                job.entry.error, job.entry.error_kind = err.message, err.kind
                self._record_refusal(job, err)
                continue
            finally:
                job.entry.planning_seconds += time.perf_counter() - t0
            plan = job.plan or _planning_stub(spec)
            try:
                job.params = check_inputs(plan, spec.params, self.deps.secret)
            except (MissingInputError, SecretError) as err:  # the user must act: no retry helps
                job.entry.status, job.entry.error, job.entry.error_kind = EntryStatus.failed_business, err.message, err.kind
                job.plan, job.to_plan = None, False
                self._record_refusal(job, err)
                continue
            job.demands = self._demands(plan, job.params)

    def _plan(self, job: _Job) -> None:
        spec = job.spec
        if spec.plan is not None:
            job.plan, job.source = spec.plan, spec.plan_path
        elif spec.plan_path is not None:
            job.plan, job.source = load_plan(spec.plan_path), spec.plan_path
        elif spec.skills and (routing := _route(spec, self.settings)) is not None:  # a recorded bot does it
            from engine.skills import routed_plan

            job.plan, job.routing = routed_plan(routing), routing
            logger.info("loop: job {} {}", job.key, routing.reason)
        else:
            planner = self.planner()
            if planner is None:
                raise self._planner_error or PlannerError(f"Loop.plan: cannot plan {spec.label()}: no planner.")
            cached = planner.cached(spec.instruction or "", spec.url or "", sorted(spec.params))
            if cached is not None:
                job.plan, job.entry.from_cache = cached, True
                logger.info("loop: job {} replays the stored plan of {}", job.key, spec.label())
            else:
                job.to_plan = True
        what = job.plan.name if job.plan is not None and not job.entry.from_cache else spec.instruction
        job.plan_key = job.source or f"{what}:{spec.url or ''}"

    def _record_refusal(self, job: _Job, err: RpaError) -> None:
        """A job that cannot start is still a failed run in history, with its kind."""
        run_id = self.history.start_run(job.spec.label()[:200], plan_path=job.spec.plan_path, job_id=job.key,
                                        scheduled_for=job.spec.scheduled_for, attempt=job.spec.attempt)
        job.entry.run_ids.append(run_id)
        job.final = RunOutcome.failed(run_id, job.spec.label()[:200], err, attempt=job.spec.attempt)
        self.history.finish_run(job.final)

    def _demands(self, plan: Plan, params: dict[str, str]) -> dict[str, int]:
        demands = {"browser": 1}
        for site in plan_sites(plan, params):
            demands[f"site:{site}"] = 1
        demands.update(plan.resources)
        return demands

    def capacity(self) -> dict[str, int]:
        cap = {"browser": self.concurrency}
        for job in self.jobs.values():
            for name in job.demands:
                if name.startswith("site:"):
                    cap[name] = self.site_cap or self.concurrency
        cap.update(self.offered)
        return cap

    # -- scheduling -----------------------------------------------------------------------------
    def schedule(self) -> BatchSchedule:
        cap = self.capacity()
        work = []
        for job in self.jobs.values():
            if not job.demands:
                continue
            missing = next((r for r, q in job.demands.items() if q > cap.get(r, 0)), None)
            if missing is not None:
                job.entry.status = EntryStatus.unschedulable
                job.entry.error = (f"Loop.schedule: job {job.key} needs resource '{missing}' "
                                   f"x{job.demands[missing]} but the batch offers {cap.get(missing, 0)}. "
                                   f"Offer it (resources={{'{missing}': N}}) or remove it from the plan.")
                job.entry.error_kind = FailureKind.configuration
                job.demands = {}
                continue
            seconds = PLANNING_ESTIMATE_S if job.to_plan else estimate_plan(job.plan, self.history, job.params)  # type: ignore[arg-type]
            work.append(JobWork(id=job.key, seconds=seconds, demands=job.demands,
                                weight=job.plan.priority if job.plan is not None else 1.0))
        return schedule_batch(work, cap, solver=self.deps.solver)

    # -- execution ------------------------------------------------------------------------------
    def _claim(self, job: _Job, attempt: int) -> bool:
        """An id+attempt is run once; a job already succeeded in history is never run again."""
        if (job.key, attempt) in self._claims:
            return False
        if job.spec.job_id is not None and attempt == job.spec.attempt:
            for rec in self.history.list_runs(job_id=job.key, limit=20):
                same_slot = job.spec.scheduled_for is None or rec.scheduled_for == job.spec.scheduled_for
                if rec.status == HistoryStatus.succeeded.value and same_slot:
                    return False
        self._claims.add((job.key, attempt))
        return True

    async def run_job(self, key: str) -> None:
        job = self.jobs[key]
        started = time.perf_counter()
        try:
            if job.spec.timeout_s:
                await asyncio.wait_for(self._run_job(job), timeout=job.spec.timeout_s)
            else:
                await self._run_job(job)
        except asyncio.TimeoutError:
            job.entry.status = EntryStatus.timeout
            job.entry.error = (f"Loop.run: job {job.key} ran past its timeout of {job.spec.timeout_s:g} s. "
                               "Raise timeout_s or shorten the plan.")
            job.entry.error_kind = FailureKind.application
            for run_id in job.entry.run_ids[-1:]:
                self.history.set_status(run_id, HistoryStatus.timeout.value, error=job.entry.error)
        except Exception as err:  # noqa: BLE001 - never let one job take the batch down
            logger.exception("loop: job {} failed unexpectedly", job.key)
            job.entry.status, job.entry.error_kind = EntryStatus.failed_application, FailureKind.of(err)
            job.entry.error = f"Loop.run: {type(err).__name__}: {err}"
        job.entry.seconds = time.perf_counter() - started

    async def _run_job(self, job: _Job) -> None:
        attempt = job.spec.attempt
        if not self._claim(job, attempt):
            job.entry.status = EntryStatus.skipped_duplicate
            job.entry.error = f"Loop.claim: job {job.key} already ran to completion; not run again."
            return
        if job.to_plan:
            await self._plan_by_doing(job, attempt)
            return
        assert job.plan is not None
        plan = self._latest(job) or job.plan
        retries_left = job.spec.retries
        prev_failed: str | None = None
        while True:
            result, plan = await self._attempt(job, plan, attempt)
            outcome = result.outcome
            step_id = rt.failed_step(outcome)
            verdict = rt.verdict(outcome, prev_failed, drift_seen=self.healing.seen(job.plan_key))
            if verdict is rt.Verdict.done:
                self._succeeded(job, plan, outcome)
                return
            if verdict is rt.Verdict.final:
                self._failed(job, outcome, EntryStatus.failed_business)
                return
            if verdict is rt.Verdict.crash:
                job.entry.crashes += 1
                assert self.runtime is not None
                await self.runtime.restart()
            if verdict is rt.Verdict.repair and step_id is not None:
                new = await self.healing.repair(
                    job.plan_key, job.version, job.entry, plan, job.source, job.plan, step_id,
                    outcome.error_kind or FailureKind.target_missing, outcome.error or "", outcome.run_id,
                    result.observation)
                if new is not None:
                    plan, job.version = new
                    attempt, prev_failed = attempt + 1, None
                    self._claims.add((job.key, attempt))
                    continue
                if not (outcome.error_kind or FailureKind.application).retryable:
                    self._failed(job, outcome, EntryStatus.repair_failed)
                    return
            if retries_left <= 0:
                status = EntryStatus.repair_failed if verdict is rt.Verdict.repair else EntryStatus.failed_application
                self._failed(job, outcome, status)
                return
            retries_left -= 1
            job.entry.retries += 1
            await asyncio.sleep(self.backoff.delay(attempt + 1))
            attempt, prev_failed = attempt + 1, step_id
            self._claims.add((job.key, attempt))
            plan = self._latest(job) or plan

    def _latest(self, job: _Job) -> Plan | None:
        newer = self.healing.latest(job.plan_key, job.version, job.entry)
        if newer is None:
            return None
        plan, job.version = newer
        return plan

    def _context(self, job: _Job, run_id: str, attempt: int, heal: Any = None) -> RunContext:
        settings = self.settings
        return RunContext(run_id=run_id, run_dir=settings.runs_dir / run_id, params=job.params,
                          secret=self.deps.secret, trace_on_failure=settings.trace != "off",
                          trace_snapshots=settings.trace == "full", default_timeout_ms=settings.step_timeout_ms,
                          on_event=self.on_event, attempt=attempt, heal=heal)

    def _start(self, job: _Job, name: str, attempt: int) -> str:
        run_id = new_run_id()
        self.history.start_run(name, run_id=run_id, plan_path=job.source, job_id=job.key,
                               scheduled_for=job.spec.scheduled_for, attempt=attempt,
                               run_dir=str(self.settings.runs_dir / run_id))
        job.entry.run_ids.append(run_id)
        job.entry.attempts += 1
        (self.settings.runs_dir / run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    async def _attempt(self, job: _Job, plan: Plan, attempt: int) -> tuple[RunResult, Plan]:
        """One replay of ``plan``; returns the result and the plan as it is now (repaired in the run)."""
        run_id = self._start(job, plan.name, attempt)
        holder = [plan]
        ctx = self._context(job, run_id, attempt, heal=self._healer(job, holder, run_id))
        assert self.runtime is not None
        sink = add_json_file(ctx.run_dir / "log.jsonl", run_id=run_id)
        try:
            with logger.contextualize(run_id=run_id, job_id=job.key):
                logger.info("run {}: job {} attempt {} of '{}'", run_id, job.key, attempt, plan.name)
                result = await self.runtime.run(plan, ctx)
        except RpaError as err:
            result = RunResult(outcome=RunOutcome.failed(run_id, plan.name, err, attempt=attempt))
        except Exception as err:  # noqa: BLE001 - the bot itself died (browser crash, closed context)
            crashed = not self.runtime.alive()
            error = BrowserCrashedError(None, f"Bot.run: browser crashed ({type(err).__name__}: {err})") if crashed \
                else RpaError(f"Bot.run: {type(err).__name__}: {err}")
            result = RunResult(outcome=RunOutcome.failed(run_id, plan.name, error, attempt=attempt))
        finally:
            remove_sink(sink)
        outcome = result.outcome
        if not outcome.ok and not self.runtime.alive():
            outcome.error_kind = FailureKind.browser_crashed
        if outcome.run_id != run_id:  # the runtime ran it again under another id (a Dask worker died)
            job.entry.run_ids.append(outcome.run_id)
            job.entry.attempts += 1
        else:
            outcome.attempt = attempt
        outcome.run_dir = outcome.run_dir or str(ctx.run_dir)
        if attempt == job.spec.attempt:
            outcome.llm_calls += job.entry.llm_calls
        job.entry.replay_seconds += outcome.seconds
        self._store(job, holder[0], outcome)
        return result, holder[0]

    def _healer(self, job: _Job, holder: list[Plan], run_id: str) -> Any:
        """The bot's in-run repair: observe the failed page, propose a validated replacement step."""

        async def heal(_plan: Plan, step: Step, error: RpaError, page: Any) -> Step | None:
            from bots.observe import observe

            try:
                observation = await observe(page)
            except Exception as err:  # noqa: BLE001 - the page is gone: nothing to repair with
                logger.info("loop: cannot observe the page for repair: {}", err)
                return None
            new = await self.healing.repair(job.plan_key, job.version, job.entry, holder[0], job.source,
                                            job.plan or holder[0], step.id, error.kind, error.message, run_id,
                                            observation, page)
            if new is None:
                return None
            holder[0], job.version = new
            return holder[0].step(step.id)

        return heal

    async def _plan_by_doing(self, job: _Job, attempt: int) -> None:
        """Plan an instruction on a live page: the planner chooses each step, the bot performs it,
        and this run is the job's run. The plan is kept only when the goal was confirmed."""
        planner, spec = self.planner(), job.spec
        assert planner is not None and spec.instruction is not None and spec.url is not None
        stub = _planning_stub(spec)
        run_id = self._start(job, stub.name, attempt)
        ctx = self._context(job, run_id, attempt)
        sink = add_json_file(ctx.run_dir / "log.jsonl", run_id=run_id)
        t0 = time.perf_counter()
        try:
            runtime = await self._planning()
            with logger.contextualize(run_id=run_id, job_id=job.key):
                logger.info("run {}: job {} plans {!r} at {}", run_id, job.key, spec.instruction, spec.url)
                async with runtime.session(stub, ctx) as session:
                    try:
                        result = await planner.act(session, spec.instruction, url=spec.url, params=job.params)
                        if result.error is not None:
                            session.fail(result.error)
                    except RpaError as err:  # the model would not load, a server that is down
                        session.fail(err)
                        result = None
                    outcome = await session.finish()
        except RpaError as err:
            outcome, result = RunOutcome.failed(run_id, stub.name, err, attempt=attempt), None
        finally:
            remove_sink(sink)
        elapsed = time.perf_counter() - t0
        job.entry.planned, job.entry.planning_seconds = True, job.entry.planning_seconds + elapsed
        plan = stub
        if result is not None:
            plan = result.plan
            job.entry.llm_calls += result.llm_calls
            job.entry.decision_seconds += [d.seconds for d in result.decisions]
            job.decisions = decisions_by_step(plan, result.decisions)
        outcome.run_id, outcome.attempt, outcome.llm_calls = run_id, attempt, job.entry.llm_calls
        job.plan = plan
        self._store(job, plan, outcome)
        if outcome.ok:
            planner.remember(spec.instruction, spec.url, plan)
            self._succeeded(job, plan, outcome)
        else:
            # Planning acted on the site: never retried on its own, the user sees what was not done.
            status = EntryStatus.failed_business if (outcome.error_kind or FailureKind.application).final \
                else EntryStatus.failed_application
            self._failed(job, outcome, status)

    async def _planning(self) -> LocalRuntime:
        """Bots of this process for planning (the model sits next to the page): the batch's own
        runtime when it is local, else one started for planning alone."""
        if isinstance(self.runtime, LocalRuntime):
            return self.runtime
        async with self._planning_lock:
            if self._planning_runtime is None:
                factory = self.deps.planning_runtime_factory
                if factory is None:
                    raise PlannerError("Loop.plan: this batch has no local browser to plan instructions in.")
                runtime = factory(self.headed)
                await runtime.start()
                self._planning_runtime = runtime
            return self._planning_runtime

    def _store(self, job: _Job, plan: Plan, outcome: RunOutcome) -> None:
        if self.deps.reports and outcome.run_dir:
            from engine.report import write_report

            try:
                outcome.report = str(write_report(outcome, plan, outcome.run_dir))
            except OSError as err:  # a report is an extra: the outcome still goes to history
                logger.warning("loop: report for {} failed: {}", outcome.run_id, err)
        self.history.finish_run(outcome, sites=dict(step_sites(plan, job.params)))
        if outcome.ok:
            record_durations(plan, outcome, self.history, job.params)
        instruction = plan.instruction or job.spec.instruction or plan.description or plan.name
        by_id = {s.id: s for s in plan.steps}
        for step in outcome.steps:
            if step.id not in by_id:
                continue
            action = by_id[step.id].model_dump(mode="json")
            made = job.decisions.get(step.id)
            if made is not None and made.action.get("target") != action.get("target"):
                made = None  # repaired since: the planner's page no longer explains this step
            self.history.record_decision(
                run_id=outcome.run_id, step_id=step.id, instruction=instruction,
                observation=made.observation if made else None, action=action, outcome=step.status.value,
                context={"goal": made.goal, "history": made.history, "answer": made.answer} if made else None)

    # -- outcomes -------------------------------------------------------------------------------
    def _succeeded(self, job: _Job, plan: Plan, outcome: RunOutcome) -> None:
        job.final, job.entry.plan = outcome, plan
        job.entry.status = EntryStatus.repaired if job.entry.repairs else EntryStatus.succeeded
        job.entry.error = job.entry.error_kind = None
        if job.entry.repairs:
            self.healing.validated(job.plan_key, plan)
        if job.routing is not None:  # a successful routed run is a routing example for `rpa train`
            from engine.skills import record_routing

            record_routing(self.history, job.routing, outcome.run_id, outcome.status.value)

    def _failed(self, job: _Job, outcome: RunOutcome, status: EntryStatus) -> None:
        job.final, job.entry.plan = outcome, job.plan
        job.entry.status, job.entry.error, job.entry.error_kind = status, outcome.error, outcome.error_kind
        if job.entry.from_cache and status is not EntryStatus.failed_business and self._planner is not None:
            # A stored plan that no longer works is dropped: the next run plans afresh.
            self._planner.invalidate(job.spec.instruction or "", job.spec.url or "")


def _route(spec: JobSpec, settings: Settings) -> Any:
    """The skills routing of an instruction job, or None for the open-world planner (engine.skills.run)."""
    from engine.skills.run import route_job

    return route_job(spec, settings)


def _planning_stub(spec: JobSpec) -> Plan:
    """The plan a planning run starts from: its name, the start page's host as its only domain."""
    from engine.planner.planner import plan_name

    host = urlsplit(spec.url or "").hostname
    return Plan(name=plan_name(spec.instruction or "plan"), instruction=spec.instruction,
                allowed_domains=[host] if host else [],
                steps=[Step(id="s1", action=Action.goto, value=spec.url or "about:blank")])


# -- entry points ---------------------------------------------------------------------------------
async def run_batch_async(jobs: list[JobSpec], *, concurrency: int = 1, settings: Settings | None = None,
                          on_event: Callable[[StepEvent], None] | None = None, headed: bool = False,
                          deps: LoopDeps | None = None, resources: dict[str, int] | None = None,
                          site_cap: int | None = None, secrets: dict[str, str] | None = None,
                          cluster: str | None = None, runtime: Runtime | None = None) -> BatchOutcome:
    """Plan, schedule and run ``jobs``; ``runtime`` (owned by the caller) replaces the deps' one."""
    t0 = time.perf_counter()
    deps = deps or LoopDeps.default(settings, secrets=secrets, cluster=cluster)
    batch = Batch(deps, concurrency=concurrency, on_event=on_event, headed=headed, resources=resources,
                  site_cap=site_cap)
    batch.prepare(jobs)
    schedule = BatchSchedule()
    run_seconds = 0.0
    if any(j.demands for j in batch.jobs.values()):
        batch.runtime = runtime or deps.runtime_factory(batch.concurrency, headed)
        try:
            if runtime is None:
                await batch.runtime.start()
            batch.concurrency = batch.runtime.slots(batch.concurrency)
            schedule = batch.schedule()
            demands = {j.key: j.demands for j in batch.jobs.values() if j.demands}
            t_run = time.perf_counter()
            await dispatch(schedule.order(), demands, batch.capacity(), batch.concurrency, batch.run_job)
            run_seconds = time.perf_counter() - t_run
        finally:
            if runtime is None:
                await batch.runtime.close()
            if batch._planning_runtime is not None:
                await batch._planning_runtime.close()
    batch.healing.save(batch.settings.home / "repaired")
    entries = [j.entry for j in batch.jobs.values()]
    runs = [j.final for j in batch.jobs.values() if j.final is not None]
    from engine.report import write_loop_batch

    report = write_loop_batch(batch.settings.runs_dir / f"batch-{batch.batch_id}" / "report.html", batch.batch_id,
                              runs, entries, schedule, {j.final.run_id: j.plan for j in batch.jobs.values()
                                                        if j.final is not None and j.plan is not None},
                              {j.final.run_id: schedule.start_s[j.key] for j in batch.jobs.values()
                               if j.final is not None and j.key in schedule.start_s}) if deps.reports else None
    for e in entries:
        if not e.ok:
            logger.warning("loop: job {} ({}) {}: {}", e.job_id, e.label, e.status.value, e.error)
    return BatchOutcome(
        runs=runs, entries=entries, report=report, schedule=schedule, solver=schedule.solver,
        llm_calls=sum(e.llm_calls for e in entries) + batch.healing.llm_calls,
        planning_seconds=sum(e.planning_seconds for e in entries), run_seconds=run_seconds,
        retries=sum(e.retries for e in entries), seconds=time.perf_counter() - t0,
    )


def run_batch(jobs: list[JobSpec], **kwargs: Any) -> BatchOutcome:
    """Plan, schedule and run ``jobs`` (``run_batch_async``'s keywords); never raises for a job's failure."""
    return asyncio.run(run_batch_async(jobs, **kwargs))
