"""Build a scheduling ``Problem`` from pending jobs: the helper the engine loop calls.

Each job holds one browser slot while it runs, one unit of its site's concurrency cap (when the
site has one) and whatever extra resources its plan declares (accounts, licences, a GPU).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from engine.errors import SchedulerError
from engine.scheduler.models import Activity, Problem, Resource

if TYPE_CHECKING:
    from engine.plan import Plan

SLOTS = "browser"
DEFAULT_DURATION_S = 30.0


class JobActivity(BaseModel):
    """One pending job in seconds; ``weight`` is the plan's priority."""

    id: str = Field(min_length=1)
    duration_s: float = Field(ge=0)
    depends_on: list[str] = Field(default_factory=list)
    weight: float = Field(1.0, ge=0)
    resources: dict[str, int] = Field(default_factory=dict)
    site: str | None = None
    release_s: float = Field(0.0, ge=0)
    deadline_s: float | None = None


def site_resource(site: str) -> str:
    return f"site:{site}"


def from_jobs(jobs: list[JobActivity], capacity: Mapping[str, int] | None = None, *, slots: int | None = None,
              site_caps: Mapping[str, int] | None = None, unit_s: float = 0.01) -> Problem:
    """Jobs -> Problem in integer time units of ``unit_s`` seconds (durations round up, so the
    schedule never under-books a slot). ``slots`` browser slots are shared by every job; a site in
    ``site_caps`` lets at most that many of its jobs run at once; ``capacity`` covers extra resources."""
    if unit_s <= 0:
        raise SchedulerError(f"Scheduler.from_jobs: unit_s must be positive, got {unit_s}. Use e.g. 0.01.")
    caps = dict(capacity or {})
    if slots is not None:
        caps[SLOTS] = slots
    for site, cap in (site_caps or {}).items():
        caps[site_resource(site)] = cap
    units = lambda s: -(-round(s * 1e6) // round(unit_s * 1e6))  # noqa: E731  (ceil without float drift)
    acts = []
    for job in jobs:
        demands = dict(job.resources)
        if slots is not None:
            demands[SLOTS] = demands.get(SLOTS, 0) + 1
        if job.site is not None and site_caps and job.site in site_caps:
            demands[site_resource(job.site)] = 1
        acts.append(Activity(id=job.id, duration=units(job.duration_s), predecessors=job.depends_on,
                             demands=demands, weight=job.weight, release=units(job.release_s),
                             deadline=None if job.deadline_s is None else int(job.deadline_s / unit_s)))
    return Problem(activities=acts, resources=[Resource(id=k, capacity=v) for k, v in caps.items()])


def plan_site(plan: Plan) -> str | None:
    """The host of the plan's first ``goto``, else its first allowed domain."""
    for step in plan.steps:
        if step.action.value == "goto" and step.value and "://" in step.value:
            return urlsplit(step.value).hostname
    return plan.allowed_domains[0] if plan.allowed_domains else None


def from_plans(plans: list[Plan], *, slots: int, site_caps: Mapping[str, int] | None = None,
               estimates: Mapping[str, float] | Callable[[Plan], float | None] | None = None,
               capacity: Mapping[str, int] | None = None, depends_on: Mapping[str, list[str]] | None = None,
               unit_s: float = 0.01) -> Problem:
    """Plans -> Problem. Activity ids are plan names (``name#2`` for a repeat); ``estimates`` gives
    seconds per plan name or per plan (default 30 s); ``depends_on`` maps an id to ids it waits for."""
    jobs: list[JobActivity] = []
    seen: dict[str, int] = {}
    for plan in plans:
        seen[plan.name] = seen.get(plan.name, 0) + 1
        job_id = plan.name if seen[plan.name] == 1 else f"{plan.name}#{seen[plan.name]}"
        if callable(estimates):
            est = estimates(plan)
        else:
            est = (estimates or {}).get(job_id, (estimates or {}).get(plan.name))
        jobs.append(JobActivity(id=job_id, duration_s=DEFAULT_DURATION_S if est is None else est,
                                depends_on=list((depends_on or {}).get(job_id, [])), weight=plan.priority,
                                resources=dict(plan.resources), site=plan_site(plan)))
    return from_jobs(jobs, capacity, slots=slots, site_caps=site_caps, unit_s=unit_s)
