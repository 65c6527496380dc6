"""Routing at the two doors where an instruction becomes a job: the loop's planning and ``rpa run``.

``route_job(spec, settings)`` is what ``Batch._plan`` asks before the open-world planner: a ``Routing``
to run, ``None`` when no skill fits and a start URL was given (the planner takes it), or an error: an
ambiguous instruction never runs a bot, and one that fits no skill needs ``--url`` for the planner.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from engine.config import Settings
from engine.errors import ConfigError, FailureKind, RpaError
from engine.skills.models import Filled, RouteStatus, Routing


class AmbiguousRoutingError(RpaError):
    """The instruction could be more than one bot (or a part fits none): the user must say which."""

    kind = FailureKind.input_missing

    def __init__(self, routing: Routing) -> None:
        self.routing = routing
        super().__init__(f"Skills.route: {routing.reason}")


def check_routing(routing: Routing, *, url: str | None, planner_if_unsure: bool = False) -> Routing | None:
    """The routing to run, or None for the open-world planner; raises when neither can go on.
    ``planner_if_unsure``: an ambiguous routing with a start URL goes to the planner (no bot runs)."""
    if routing.status is RouteStatus.ambiguous and not (planner_if_unsure and url):
        raise AmbiguousRoutingError(routing)
    if routing.status is RouteStatus.ambiguous:
        logger.info("skills: {}; planning in the open at {}", routing.reason, url)
        return None
    if routing.status is RouteStatus.none:
        if not url:
            raise ConfigError(f"Skills.route: {routing.reason} for \"{routing.instruction}\", and without --url "
                              "the open-world planner has no page to start on. Give --url URL, or record a bot "
                              "for it (rpa record).")
        logger.info("skills: {}; planning in the open at {}", routing.reason, url)
        return None
    return routing


def route_job(spec: Any, settings: Settings) -> Routing | None:
    """For ``Batch._plan``: route an instruction job (see the module docstring)."""
    from engine.skills import route_instruction

    routing = route_instruction(spec.instruction, settings, params=dict(spec.params or {}))
    routed = check_routing(routing, url=spec.url, planner_if_unsure=True)
    return with_start_url(routed, spec.url, spec.params or {}) if routed is not None else None


def with_start_url(routing: Routing, url: str | None, given: dict[str, str]) -> Routing:
    """A start URL given with the instruction fills each url param the instruction leaves unsaid
    (an origin-only default such as ``http://127.0.0.1:8765`` takes the URL's origin)."""
    if not url:
        return routing
    from urllib.parse import urlsplit

    from engine.skills.text import value_type

    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    for c in routing.chosen:
        for name, p in c.plan.params.items():
            if name in c.params or name in given or value_type(p.type, p.default) != "url":
                continue
            bare = p.default is not None and urlsplit(p.default).path in ("", "/")
            c.params[name] = Filled(value=origin if bare else url, source="option")
    return routing
