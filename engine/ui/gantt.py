"""The plan for pending work: the jobs' next fire times within a horizon, laid out by the scheduler.

Each fire time is one activity released at that time, lasting the job's estimated duration
(``engine.loop.estimates.estimate_plan`` over the history's measured step durations; for
instruction and program jobs, the mean of their recorded runs). ``engine.scheduler.solve`` then
places them on the daemon's browser slots, so a bar that starts after its fire time shows work
queueing behind other work. Drawn as server-side SVG.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html import escape
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field

from engine.history import HistoryStatus
from engine.logs import mask

MAX_ACTIVITIES = 200
DEFAULT_S = 30.0
ROW_H, LABEL_W, CHART_W, AXIS_H = 26, 220, 760, 28


class Bar(BaseModel):
    job_id: str
    label: str
    fire: datetime
    start: datetime
    seconds: float


class GanttPlan(BaseModel):
    now: datetime
    until: datetime
    slots: int
    solver: str
    bars: list[Bar] = Field(default_factory=list)
    estimates: dict[str, float] = Field(default_factory=dict)  # job id -> seconds
    note: str | None = None


def estimate_job(job: Any, history: Any) -> float:
    """Seconds one run of ``job`` is expected to take."""
    if job.plan_path:
        try:
            from engine.loop.estimates import estimate_plan
            from engine.plan import load_plan

            return estimate_plan(load_plan(job.plan_path), history, job.params)
        except Exception as err:  # noqa: BLE001 - a plan that no longer loads still gets a bar
            logger.debug("ui: no estimate for {} ({})", job.id, type(err).__name__)
    runs = [
        r.seconds
        for r in history.list_runs(job_id=job.id, limit=20)
        if r.seconds and r.status == HistoryStatus.succeeded.value
    ]
    return sum(runs) / len(runs) if runs else DEFAULT_S


def build_plan(store: Any, *, hours: float = 1.0, slots: int = 1, now: datetime | None = None) -> GanttPlan:
    from engine.jobs.triggers import build_trigger
    from engine.ui.views import fires_within

    now = now or datetime.now(timezone.utc)
    until = now + timedelta(hours=hours)
    pending: list[tuple[Any, datetime]] = []
    estimates: dict[str, float] = {}
    for view in store.views():
        job = view.job
        if job.paused:
            continue
        fires = fires_within(build_trigger(job.trigger), view.next_run_time, until, MAX_ACTIVITIES)
        if fires:
            estimates[job.id] = estimate_job(job, store.history)
        pending += [(job, max(t, now)) for t in fires]
    pending.sort(key=lambda p: p[1])
    note = None
    if len(pending) > MAX_ACTIVITIES:
        note = f"showing the first {MAX_ACTIVITIES} of {len(pending)} runs; shorten the horizon for the rest"
        pending = pending[:MAX_ACTIVITIES]
    plan = GanttPlan(now=now, until=until, slots=slots, solver="none", estimates=estimates, note=note)
    if not pending:
        return plan
    starts, plan.solver = _solve(pending, estimates, slots, now)
    for i, (job, fire) in enumerate(pending):
        plan.bars.append(
            Bar(
                job_id=job.id,
                label=job.name,
                fire=fire,
                start=now + timedelta(seconds=starts[i]),
                seconds=estimates[job.id],
            )
        )
    return plan


def _solve(
    pending: list[tuple[Any, datetime]], estimates: dict[str, float], slots: int, now: datetime
) -> tuple[list[float], str]:
    """Planned start (seconds from now) of each pending run; fire times as they are if no solver runs."""
    releases = [(fire - now).total_seconds() for _, fire in pending]
    try:
        from engine.scheduler import JobActivity, from_jobs, solve

        unit = 1.0 if max(releases) > 600 else 0.1
        acts = [
            JobActivity(
                id=f"a{i}", duration_s=max(estimates[job.id], unit), release_s=releases[i], weight=1.0
            )
            for i, (job, _) in enumerate(pending)
        ]
        problem = from_jobs(acts, slots=slots, unit_s=unit)
        schedule = solve(problem, solver="ga", budget_schedules=400, objective="weighted_completion")
        return [schedule.start[f"a{i}"] * unit for i in range(len(pending))], schedule.solver or "ga"
    except Exception as err:  # noqa: BLE001 - the chart is a view: without a solver, show the fire times
        logger.warning("ui: scheduler unavailable for the plan view ({}: {})", type(err).__name__, err)
        return releases, "fire times (no solver)"


def render_svg(plan: GanttPlan) -> str:
    """One row per job, one bar per run: a thin line from its fire time, a box while it runs."""
    if not plan.bars:
        return ""
    jobs = list(dict.fromkeys(b.job_id for b in plan.bars))
    labels = {b.job_id: b.label for b in plan.bars}
    end = max([plan.until] + [b.start + timedelta(seconds=b.seconds) for b in plan.bars])
    span = max((end - plan.now).total_seconds(), 1.0)

    def x(t: datetime) -> float:
        return LABEL_W + (t - plan.now).total_seconds() / span * CHART_W

    height = AXIS_H + ROW_H * len(jobs) + 8
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{LABEL_W + CHART_W + 20}" '
            f'height="{height}" role="img" aria-label="Planned runs">'
        )
    ]
    for k in range(6):
        t = plan.now + timedelta(seconds=span * k / 5)
        px = x(t)
        out.append(f'<line class="grid" x1="{px:.1f}" y1="{AXIS_H - 6}" x2="{px:.1f}" y2="{height}"/>')
        out.append(
            f'<text class="axis" x="{px:.1f}" y="{AXIS_H - 10}">{t.astimezone().strftime("%H:%M:%S")}</text>'
        )
    for row, job_id in enumerate(jobs):
        y = AXIS_H + row * ROW_H
        out.append(f'<text class="label" x="4" y="{y + 17}">{escape(mask(labels[job_id])[:40])}</text>')
        for b in (b for b in plan.bars if b.job_id == job_id):
            x0, xs = x(b.fire), x(b.start)
            w = max(b.seconds / span * CHART_W, 2.0)
            if xs - x0 > 0.5:
                out.append(f'<line class="wait" x1="{x0:.1f}" y1="{y + 13}" x2="{xs:.1f}" y2="{y + 13}"/>')
            title = (
                f"{escape(mask(b.label))}: fires {b.fire.astimezone().strftime('%H:%M:%S')}, starts "
                f"{b.start.astimezone().strftime('%H:%M:%S')}, ~{b.seconds:.1f} s"
            )
            out.append(
                f'<rect class="bar" x="{xs:.1f}" y="{y + 4}" width="{w:.1f}" height="{ROW_H - 8}">'
                f"<title>{title}</title></rect>"
            )
    out.append("</svg>")
    return "".join(out)
