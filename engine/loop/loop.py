"""The engine loop: pending work -> plans -> schedule -> a pool of bots -> history and feedback.

Orchestration only: planning, scheduling, the bots, history and reports come in through
``LoopDeps``; this module never imports Playwright. One ``Batch`` object holds the state of a
batch so that concurrent jobs share what they learn (a repaired plan, a relaunched browser).
"""

from __future__ import annotations

import asyncio
import secrets as _random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from loguru import logger

from engine.config import Settings
from engine.errors import FailureKind, PlannerError, RpaError
from engine.history import new_run_id
from engine.loop import retry as rt
from engine.loop.deps import LoopDeps, Runtime, RunSpec, _observe
from engine.loop.dispatch import dispatch
from engine.loop.estimates import estimate_plan, plan_sites, record_durations, step_sites
from engine.loop.models import BatchOutcome, EntryStatus, JobEntry, JobSpec, Repair
from engine.loop.repair import deterministic_repair, loosen_expectation, plan_diff, save_repaired, validate_repair
from engine.loop.schedule import Activity, LoopSchedule, make_schedule
from engine.logs import add_json_file, mask, remove_sink
from engine.outcome import RunOutcome, RunStatus
from engine.plan import Plan, load_plan
from engine.planner.models import decisions_by_step
from engine.runs import check_inputs

MAX_REPAIRS = 6


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
    planned_by_llm: bool = False
    from_cache: bool = False
    version: int = 0
    final: RunOutcome | None = None
    # step id -> the planner's decision that made the step (observation, goal, answer): stored with
    # the step's outcome so that `rpa train --from-history` rebuilds the planner's exact prompt.
    decisions: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Repaired:
    version: int
    plan: Plan
    original: Plan
    source: str | None
    repairs: list[Repair]
    validated: Plan | None = None


class Batch:
    def __init__(self, deps: LoopDeps, *, concurrency: int, on_event: Callable[[Any], None] | None,
                 headed: bool, resources: dict[str, int] | None, site_cap: int | None) -> None:
        self.deps, self.settings = deps, deps.settings
        self.concurrency = max(1, concurrency)
        self.on_event, self.headed = on_event, headed
        self.offered = dict(resources or {})
        self.site_cap = site_cap or self.concurrency
        self.batch_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + _random.token_hex(3)
        self.backoff = rt.Backoff(base_s=deps.backoff_base_s, seed=0)
        self.jobs: list[_Job] = []
        self.repaired: dict[str, _Repaired] = {}
        self._repair_locks: dict[str, asyncio.Lock] = {}
        self._claims: set[tuple[str, int]] = set()
        self._planner: Any = None
        self._planner_failed: str | None = None
        self.runtime: Runtime | None = None
        self.planning_seconds = 0.0
        self.repair_llm_calls = 0

    # -- planning -------------------------------------------------------------------------------
    def planner(self) -> Any:
        if self._planner is None and self._planner_failed is None:
            try:
                self._planner = self.deps.planner_factory()
                if self._planner is None:
                    self._planner_failed = "the planner module is not installed"
            except RpaError as err:
                self._planner_failed = err.message
            except Exception as err:  # a model that cannot load: instructions fail, recordings go on
                self._planner_failed = f"{type(err).__name__}: {err}"
        return self._planner

    def prepare(self, specs: list[JobSpec]) -> None:
        for i, spec in enumerate(specs):
            key = spec.job_id or f"{self.batch_id}-{i + 1:03d}"
            job = _Job(key=key, spec=spec, entry=JobEntry(job_id=key, label=spec.label(), status=EntryStatus.not_planned))
            self.jobs.append(job)
            t0 = time.perf_counter()
            try:
                self._plan(job)
            except RpaError as err:
                job.entry.error = err.message
            except Exception as err:  # one bad job must not stop the batch
                job.entry.error = f"Loop.plan: {type(err).__name__}: {err}"
            job.entry.planning_seconds = time.perf_counter() - t0
            self.planning_seconds += job.entry.planning_seconds
            if job.plan is None:
                continue
            try:
                job.params = check_inputs(job.plan, job.spec.params, self.deps.secret)
            except RpaError as err:  # a missing parameter or secret: the user must act, no retry helps
                job.entry.status, job.entry.error = EntryStatus.failed_business, err.message
                job.entry.error_kind = FailureKind.business.value
                job.plan = None
                continue
            job.demands = self._demands(job.plan, job.params)

    def _plan(self, job: _Job) -> None:
        spec = job.spec
        if spec.plan is not None:
            job.plan, job.source = spec.plan, spec.plan_path
        elif spec.plan_path is not None:
            job.plan, job.source = load_plan(spec.plan_path), spec.plan_path
        else:
            planner = self.planner()
            if planner is None:
                raise PlannerError(f"Loop.plan: cannot plan {spec.label()}: {self._planner_failed}. "
                                   "Install the planner or pass a recording.")
            result = planner.plan(spec.instruction, url=spec.url, params=spec.params or None)
            job.plan, job.from_cache = result.plan, bool(result.from_cache)
            job.decisions = decisions_by_step(result.plan, result.decisions)
            job.planned_by_llm = not job.from_cache
            job.entry.llm_calls += int(result.llm_calls)
            job.entry.from_cache = job.from_cache
        job.plan_key = job.source or f"{job.plan.name}:{job.plan.instruction or ''}:{spec.url or ''}"

    def _demands(self, plan: Plan, params: dict[str, str]) -> dict[str, int]:
        demands = {"browser": 1}
        for site in plan_sites(plan, params):
            demands[f"site:{site}"] = 1
        demands.update(plan.resources)
        return demands

    def capacity(self) -> dict[str, int]:
        cap = {"browser": self.concurrency}
        for job in self.jobs:
            for name in job.demands:
                if name.startswith("site:"):
                    cap[name] = self.site_cap
        cap.update(self.offered)
        return cap

    # -- scheduling -----------------------------------------------------------------------------
    def schedule(self) -> tuple[LoopSchedule, list[str]]:
        cap = self.capacity()
        activities = []
        for job in self.jobs:
            if job.plan is None:
                continue
            missing = next((r for r, q in job.demands.items() if q > cap.get(r, 0)), None)
            if missing is not None:
                job.entry.status = EntryStatus.unschedulable
                job.entry.error = (f"Loop.schedule: job {job.key} needs resource '{missing}' "
                                   f"x{job.demands[missing]} but the batch offers {cap.get(missing, 0)}. "
                                   f"Offer it (resources={{'{missing}': N}}) or remove it from the plan.")
                continue
            activities.append(Activity(id=job.key, duration=estimate_plan(job.plan, self.deps.history, job.params),
                                       demands=job.demands, weight=job.plan.priority))
        sched = make_schedule(activities, cap, self.deps.solve)
        return sched, sched.order()

    # -- execution ------------------------------------------------------------------------------
    def _claim(self, job: _Job, attempt: int) -> bool:
        """An id+attempt is run once; a job already succeeded in history is never run again."""
        if (job.key, attempt) in self._claims:
            return False
        if job.spec.job_id is not None and attempt == job.spec.attempt:
            for rec in self.deps.history.list_runs(job_id=job.key, limit=20):
                same_slot = getattr(rec, "scheduled_for", None) == job.spec.scheduled_for or \
                    job.spec.scheduled_for is None
                if getattr(rec, "status", None) == "succeeded" and same_slot:
                    return False
        self._claims.add((job.key, attempt))
        return True

    async def run_job(self, key: str) -> None:
        job = next(j for j in self.jobs if j.key == key)
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
            for run_id in job.entry.run_ids[-1:]:
                self.deps.history.set_status(run_id, "timeout", error=job.entry.error)
        except Exception as err:  # never let one job take the batch down
            logger.exception("loop: job {} failed unexpectedly", job.key)
            job.entry.status = EntryStatus.failed_application
            job.entry.error = f"Loop.run: {type(err).__name__}: {err}"
        job.entry.seconds = time.perf_counter() - started

    async def _run_job(self, job: _Job) -> None:
        assert job.plan is not None
        plan, attempt = job.plan, job.spec.attempt
        retries_left, repairs_left = job.spec.retries, MAX_REPAIRS
        prev_failed: str | None = None
        if not self._claim(job, attempt):
            job.entry.status = EntryStatus.skipped_duplicate
            job.entry.error = f"Loop.claim: job {job.key} already ran to completion; not run again."
            return
        plan = self._latest_repair(job, plan) or plan
        while True:
            outcome, observation, healed = await self._attempt(job, plan, attempt)
            plan = healed or plan  # steps repaired during the run are part of the plan from now on
            verdict = rt.classify(outcome, prev_failed, repairable=True)
            if verdict is rt.Verdict.retry and self._drift_seen(job) and rt.is_not_found(outcome):
                verdict = rt.Verdict.repair  # this site changed already: do not wait for a second failure
            step_id = rt.failed_step(outcome)
            if verdict is rt.Verdict.done:
                self._succeeded(job, plan, outcome)
                return
            if verdict is rt.Verdict.business:
                self._failed(job, outcome, EntryStatus.failed_business)
                return
            if verdict is rt.Verdict.crash:
                job.entry.crashes += 1
                if self.runtime is not None:
                    await self.runtime.restart()
            if verdict is rt.Verdict.repair and repairs_left > 0 and step_id is not None:
                repairs_left -= 1
                new = await self._repair(job, plan, step_id, outcome, observation)
                if new is not None:
                    plan, attempt, prev_failed = new, attempt + 1, None
                    self._claims.add((job.key, attempt))
                    continue
            if retries_left <= 0:
                status = EntryStatus.repair_failed if verdict is rt.Verdict.repair else EntryStatus.failed_application
                self._failed(job, outcome, status)
                return
            retries_left -= 1
            job.entry.retries += 1
            await asyncio.sleep(self.backoff.delay(attempt + 1))
            attempt, prev_failed = attempt + 1, step_id
            self._claims.add((job.key, attempt))
            plan = self._latest_repair(job, plan) or plan

    def _healer(self, job: _Job, plan: Plan, run_id: str, holder: list[Plan]) -> Any:
        """The bot's in-run repair: observe the page, propose a validated replacement for the step."""

        async def heal(_plan: Plan, step: Any, error: str, page: Any) -> Any:
            observation = await _observe(page)
            if observation is None:
                return None
            failed = RunOutcome(run_id=run_id, plan_name=plan.name, status=RunStatus.failed, error=error)
            new = await self._repair(job, holder[0], step.id, failed, observation)
            if new is None and "expectation" in error:
                new = await self._loosen(job, holder[0], step.id, failed, observation, page)
            if new is None:
                return None
            holder[0] = new
            return new.step(step.id)

        return heal

    async def _attempt(self, job: _Job, plan: Plan, attempt: int) -> tuple[RunOutcome, Any, Plan | None]:
        history, settings = self.deps.history, self.settings
        run_id = new_run_id()
        run_dir = settings.runs_dir / run_id
        history.start_run(plan.name, run_id=run_id, plan_path=job.source, job_id=job.key,
                          scheduled_for=job.spec.scheduled_for, attempt=attempt, run_dir=str(run_dir))
        job.entry.run_ids.append(run_id)
        job.entry.attempts += 1
        holder = [plan]
        spec = RunSpec(run_id=run_id, run_dir=run_dir, params=job.params, secret=self.deps.secret,
                       trace_on_failure=settings.trace != "off", trace_snapshots=settings.trace == "full",
                       default_timeout_ms=settings.step_timeout_ms, on_event=self.on_event, attempt=attempt,
                       heal=self._healer(job, plan, run_id, holder))
        assert self.runtime is not None
        run_dir.mkdir(parents=True, exist_ok=True)
        sink = add_json_file(run_dir / "log.jsonl", run_id=run_id)
        try:
            with logger.contextualize(run_id=run_id, job_id=job.key):
                logger.info("run {}: job {} attempt {} of '{}'", run_id, job.key, attempt, plan.name)
                outcome, observation = await self.runtime.run(plan, spec, observe_on_failure=True)
        except RpaError as err:
            outcome, observation = _error_outcome(run_id, plan, err.message, _kind(err)), None
        except Exception as err:  # the bot itself died (browser crash, closed context)
            alive = self.runtime.alive()
            reason = f"browser crashed: {err}" if not alive else f"{type(err).__name__}: {err}"
            outcome, observation = _error_outcome(run_id, plan, f"Bot.run: {reason}", FailureKind.application), None
        finally:
            remove_sink(sink)
        if not outcome.ok and not self.runtime.alive() and not rt.is_crash(outcome):
            outcome.error = f"{outcome.error} (browser crashed)"
        outcome.attempt = attempt
        outcome.run_dir = outcome.run_dir or str(run_dir)
        if attempt == job.spec.attempt:
            outcome.llm_calls += job.entry.llm_calls
        healed = holder[0] if holder[0] is not plan else None
        self._store(job, healed or plan, outcome)
        return outcome, observation, healed

    def _store(self, job: _Job, plan: Plan, outcome: RunOutcome) -> None:
        history = self.deps.history
        if self.deps.write_report is not None:
            try:
                outcome.report = str(self.deps.write_report(outcome, plan, outcome.run_dir))
            except Exception as err:  # a report is an extra: the outcome still goes to history
                logger.warning("loop: report for {} failed: {}", outcome.run_id, err)
        sites = step_sites(plan, job.params)
        history.finish_run(outcome, sites=dict(sites))
        if outcome.ok:
            record_durations(plan, outcome, history, job.params)
        instruction = plan.instruction or job.spec.instruction or plan.description or plan.name
        by_id = {s.id: s for s in plan.steps}
        for step in outcome.steps:
            if step.id in by_id:
                action = by_id[step.id].model_dump(mode="json")
                made = job.decisions.get(step.id)
                if made is not None and made.action.get("target") != action.get("target"):
                    made = None  # repaired since: the planner's page no longer explains this step
                history.record_decision(
                    run_id=outcome.run_id, step_id=step.id, instruction=instruction,
                    observation=made.observation if made else None, action=action, outcome=step.status.value,
                    context={"goal": made.goal, "history": made.history, "answer": made.answer} if made else None)

    # -- outcomes -------------------------------------------------------------------------------
    def _succeeded(self, job: _Job, plan: Plan, outcome: RunOutcome) -> None:
        job.final = outcome
        job.entry.status = EntryStatus.repaired if job.entry.repairs else EntryStatus.succeeded
        job.entry.error = None
        rep = self.repaired.get(job.plan_key)
        if rep is not None and job.entry.repairs and (rep.validated is None or rep.plan is plan):
            rep.validated = plan
        if job.planned_by_llm:
            self._remember(job, plan)

    def _failed(self, job: _Job, outcome: RunOutcome, status: EntryStatus) -> None:
        job.final = outcome
        job.entry.status = status
        job.entry.error = outcome.error
        job.entry.error_kind = outcome.error_kind.value if outcome.error_kind else None
        if job.from_cache and status is not EntryStatus.failed_business and self._planner is not None:
            try:  # a cached plan that fails is dropped so that the next run plans afresh
                self._planner.invalidate(job.spec.instruction, job.spec.url)
            except Exception as err:
                logger.warning("loop: plan cache invalidate failed: {}", err)

    def _remember(self, job: _Job, plan: Plan) -> None:
        planner = self._planner
        for name in ("remember", "store", "cache_plan"):
            fn = getattr(planner, name, None) or getattr(getattr(planner, "cache", None), name, None)
            if callable(fn):
                try:
                    fn(job.spec.instruction, job.spec.url, plan)
                except TypeError:
                    fn(job.spec.instruction, url=job.spec.url, plan=plan)
                except Exception as err:
                    logger.warning("loop: plan cache store failed: {}", err)
                return

    # -- repair ---------------------------------------------------------------------------------
    def _drift_seen(self, job: _Job) -> bool:
        return job.plan_key in self.repaired

    def _latest_repair(self, job: _Job, plan: Plan) -> Plan | None:
        rep = self.repaired.get(job.plan_key)
        if rep is None or rep.version <= job.version:
            return None
        job.version = rep.version
        for r in rep.repairs:
            if all(x.step_id != r.step_id or x.new != r.new for x in job.entry.repairs):
                job.entry.repairs.append(r.model_copy(update={"source": f"{r.source} (shared)"}))
        return rep.plan

    async def _repair(self, job: _Job, plan: Plan, step_id: str, outcome: RunOutcome, observation: Any) -> Plan | None:
        lock = self._repair_locks.setdefault(job.plan_key, asyncio.Lock())
        async with lock:
            newer = self._latest_repair(job, plan)
            if newer is not None and newer is not plan:
                return newer  # another bot repaired this plan meanwhile
            if observation is None:
                return None
            candidates = []
            if self.deps.repair_with_planner:
                candidates.append(("planner", await self._planner_repair(plan, step_id, outcome, observation)))
            candidates.append(("observation", deterministic_repair(plan, step_id, observation, outcome.error)))
            tried = {r.new for r in job.entry.repairs if r.step_id == step_id}
            for source, new in candidates:
                if new is None:
                    continue
                why = validate_repair(plan, new, step_id)
                if why is not None:
                    logger.info("loop: {} repair of step '{}' rejected: {}", source, step_id, why)
                    continue
                old_t, new_t = _describe(plan, step_id), _describe(new, step_id)
                if new_t in tried:
                    continue
                repair = Repair(step_id=step_id, source=source, old=old_t, new=new_t)
                self._record_repair(job, plan, new, repair, observation, outcome)
                return new
            return None

    async def _loosen(self, job: _Job, plan: Plan, step_id: str, outcome: RunOutcome, observation: Any,
                      page: Any) -> Plan | None:
        new = await loosen_expectation(plan, step_id, page)
        if new is None or validate_repair(plan, new, step_id) is not None:
            return None
        repair = Repair(step_id=step_id, source="page", old=_describe(plan, step_id), new=_describe(new, step_id))
        self._record_repair(job, plan, new, repair, observation, outcome)
        return new

    async def _planner_repair(self, plan: Plan, step_id: str, outcome: RunOutcome, observation: Any) -> Plan | None:
        planner = self.planner()
        if planner is None or not hasattr(planner, "repair"):
            return None
        try:
            new = await asyncio.to_thread(planner.repair, plan, step_id, outcome.error or "", observation)
            self.repair_llm_calls += 1
            return new
        except Exception as err:  # a planner that cannot repair leaves the deterministic fallback
            logger.info("loop: planner repair failed: {}", err)
            return None

    def _record_repair(self, job: _Job, old: Plan, new: Plan, repair: Repair, observation: Any,
                       outcome: RunOutcome) -> None:
        rep = self.repaired.get(job.plan_key)
        if rep is None:
            rep = _Repaired(version=0, plan=new, original=job.plan or old, source=job.source, repairs=[])
            self.repaired[job.plan_key] = rep
        rep.version += 1
        rep.plan = new
        rep.repairs.append(repair)
        job.version = rep.version
        job.entry.repairs.append(repair)
        text = observation.to_prompt(1500) if hasattr(observation, "to_prompt") else None
        self.deps.history.record_decision(run_id=outcome.run_id, step_id=repair.step_id,
                                          instruction=f"repair: {old.name}", observation=text,
                                          action=new.step(repair.step_id).model_dump(mode="json"),
                                          outcome="repair")
        logger.info("loop: repaired step '{}' of {} ({}): {} -> {}", repair.step_id, old.name, repair.source,
                    repair.old, repair.new)

    def save_repairs(self) -> None:
        """One new version per repaired plan that then succeeded, beside the user's file."""
        fallback = self.settings.home / "repaired"
        for key, rep in self.repaired.items():
            users = [j for j in self.jobs if j.plan_key == key and j.entry.repairs]
            if rep.validated is None:
                for j in users:
                    if j.entry.status is not EntryStatus.repaired:
                        j.entry.diff = plan_diff(rep.original, rep.plan, "original", "rejected repair")
                continue
            try:
                path, diff = save_repaired(rep.original, rep.validated, rep.source, fallback)
            except Exception as err:
                logger.warning("loop: cannot save the repaired plan of {}: {}", key, err)
                continue
            for j in users:
                j.entry.repaired_path, j.entry.diff = str(path), diff


def _describe(plan: Plan, step_id: str) -> str:
    try:
        step = plan.step(step_id)
    except KeyError:
        return "(removed)"
    out = step.target.describe() if step.target is not None else step.action.value
    if step.expect is not None and step.expect.visible is not None:
        out += f" (expects {step.expect.visible.describe()})"
    return out


def _kind(err: RpaError) -> FailureKind:
    from engine.errors import BusinessError

    return FailureKind.business if isinstance(err, BusinessError) else FailureKind.application


def _error_outcome(run_id: str, plan: Plan, message: str, kind: FailureKind) -> RunOutcome:
    now = datetime.now(timezone.utc)
    return RunOutcome(run_id=run_id, plan_name=plan.name, status=RunStatus.failed, error=mask(message),
                      error_kind=kind, started_at=now, finished_at=now)


# -- the batch report -----------------------------------------------------------------------------
def _esc(text: Any) -> str:
    import html

    return html.escape(str(mask(text) if text is not None else ""))


def entries_html(entries: list[JobEntry], schedule: LoopSchedule) -> str:
    rows = "".join(
        f"<tr><td><code>{_esc(e.job_id)}</code></td><td>{_esc(e.label)}</td><td>{_esc(e.status.value)}</td>"
        f"<td class=num>{e.attempts}</td><td class=num>{e.retries}</td><td class=num>{e.llm_calls}</td>"
        f"<td class=err>{_esc(e.error or '')}</td></tr>" for e in entries)
    out = [f"<h2>Jobs</h2><p>Scheduled by <code>{_esc(schedule.solver)}</code>, planned makespan "
           f"{schedule.makespan:.2f} s.</p><table><tr><th>Job</th><th>Work</th><th>Status</th><th>Attempts</th>"
           f"<th>Retries</th><th>LLM calls</th><th>Error</th></tr>{rows}</table>"]
    shown: set[str] = set()
    repaired = [e for e in entries if e.repairs]
    if repaired:
        out.append("<h2>Repairs</h2>")
    for e in repaired:
        items = "".join(f"<li>step <code>{_esc(r.step_id)}</code> ({_esc(r.source)}): <code>{_esc(r.old)}</code>"
                        f" &rarr; <code>{_esc(r.new)}</code></li>" for r in e.repairs)
        saved = f"saved as <code>{_esc(e.repaired_path)}</code>" if e.repaired_path else "not saved (it did not succeed)"
        out.append(f"<h3>{_esc(e.label)} <small>({_esc(e.job_id)})</small></h3><ul>{items}</ul><p>{saved}</p>")
        if e.diff and e.diff not in shown:
            shown.add(e.diff)
            out.append(f"<pre class=diff>{_esc(e.diff)}</pre>")
    return "".join(out)


def write_batch(batch: Batch, schedule: LoopSchedule, runs: list[RunOutcome]) -> str | None:
    if batch.deps.write_batch_report is None:
        return None
    path = batch.settings.runs_dir / f"batch-{batch.batch_id}" / "report.html"
    starts = {j.final.run_id: schedule.start[j.key] for j in batch.jobs
              if j.final is not None and j.key in schedule.start}
    plans = {j.final.run_id: j.plan for j in batch.jobs if j.final is not None and j.plan is not None}
    try:
        return str(batch.deps.write_batch_report(runs, {"start": starts, "solver": schedule.solver}, path,
                                                  title=f"Batch {batch.batch_id}", plans=plans,
                                                  extra_html=entries_html([j.entry for j in batch.jobs], schedule)))
    except Exception as err:
        logger.warning("loop: batch report failed: {}", err)
        return None


# -- entry points ---------------------------------------------------------------------------------
async def run_batch_async(jobs: list[JobSpec], *, concurrency: int = 1, settings: Settings | None = None,
                          on_event: Callable[[Any], None] | None = None, headed: bool = False,
                          deps: LoopDeps | None = None, resources: dict[str, int] | None = None,
                          site_cap: int | None = None, secrets: dict[str, str] | None = None) -> BatchOutcome:
    t0 = time.perf_counter()
    deps = deps or LoopDeps.default(settings, secrets=secrets)
    batch = Batch(deps, concurrency=concurrency, on_event=on_event, headed=headed, resources=resources,
                  site_cap=site_cap)
    batch.prepare(jobs)
    schedule, order = batch.schedule()
    run_seconds = 0.0
    if order:
        batch.runtime = deps.runtime_factory(batch.concurrency, headed)
        await batch.runtime.start()
        try:
            demands = {j.key: j.demands for j in batch.jobs}
            t_run = time.perf_counter()
            await dispatch(order, demands, batch.capacity(), batch.concurrency, batch.run_job)
            run_seconds = time.perf_counter() - t_run
        finally:
            await batch.runtime.close()
    batch.save_repairs()
    runs = [j.final for j in batch.jobs if j.final is not None]
    report = write_batch(batch, schedule, runs)
    entries = [j.entry for j in batch.jobs]
    for e in entries:
        if not e.ok:
            logger.warning("loop: job {} ({}) {}: {}", e.job_id, e.label, e.status.value, e.error)
    return BatchOutcome(
        runs=runs, entries=entries, report=report, schedule=schedule, solver=schedule.solver,
        llm_calls=sum(e.llm_calls for e in entries) + batch.repair_llm_calls,
        planning_seconds=batch.planning_seconds, run_seconds=run_seconds, retries=sum(e.retries for e in entries),
        seconds=time.perf_counter() - t0,
    )


def run_batch(jobs: list[JobSpec], *, concurrency: int = 1, settings: Settings | None = None,
              on_event: Callable[[Any], None] | None = None, headed: bool = False,
              deps: LoopDeps | None = None, resources: dict[str, int] | None = None,
              site_cap: int | None = None, secrets: dict[str, str] | None = None) -> BatchOutcome:
    """Plan, schedule and run ``jobs`` with ``concurrency`` bots; never raises for a job's failure."""
    return asyncio.run(run_batch_async(jobs, concurrency=concurrency, settings=settings, on_event=on_event,
                                       headed=headed, deps=deps, resources=resources, site_cap=site_cap,
                                       secrets=secrets))
