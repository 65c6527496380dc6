"""Template filters: local times, durations, status colours."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import jinja2

from engine.history import FAILED_STATUSES, HistoryStatus


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def status_class(status: str | None) -> str:
    if status == HistoryStatus.succeeded.value:
        return "ok"
    if status == HistoryStatus.running.value or status in ("queued", "starting"):
        return "live"
    if status in FAILED_STATUSES or status == "failed":
        return "bad"
    return "idle"


def install(env: jinja2.Environment) -> None:
    filters: dict[str, Any] = {"when": when, "seconds": seconds, "status_class": status_class}
    env.filters.update(filters)
    env.globals["RUNNING"] = HistoryStatus.running.value
