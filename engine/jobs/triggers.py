"""From the command line's ``--cron EXPR --tz ZONE`` / ``--every 15m`` / ``--at ISO`` to APScheduler triggers.

Every trigger carries an explicit time zone, so a cron job stays on the wall clock across
daylight-saving changes. The spec is stored with the job so the daemon rebuilds the same trigger
(the same fire times) that APScheduler persisted.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.errors import ConfigError
from engine.jobs.models import TriggerSpec

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MAX_SLOTS = 10_000  # a safety bound when enumerating past fire times


def parse_duration(text: str, *, option: str = "--every") -> float:
    """``90s``, ``15m``, ``1h30m``, ``2d`` (a bare number is seconds) -> seconds."""
    raw = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = float(raw)
    else:
        parts = _DURATION_RE.findall(raw)
        if not parts or _DURATION_RE.sub("", raw).strip():
            raise ConfigError(f"Schedule.add: {option} '{text}' is not a duration. Use e.g. 30s, 15m, 1h30m or 2d.")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ConfigError(f"Schedule.add: {option} '{text}' must be longer than zero. Use e.g. 30s or 15m.")
    return seconds


def parse_tz(name: str | None) -> ZoneInfo:
    """An IANA zone (``Europe/Berlin``); ``None`` or empty means UTC."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"Schedule.add: unknown time zone '{name}'. Use an IANA name such as Europe/Berlin, America/New_York or UTC."
        ) from None


def _dow_names(field: str) -> str:
    """Crontab weekday numbers (0 and 7 = Sunday) as names: APScheduler 3 counts 0 as Monday."""
    if not re.search(r"\d", field):
        return field
    out: list[str] = []
    for part in field.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if body == "*":
            lo, hi = 0, 6
        elif re.fullmatch(r"\d+-\d+", body):
            lo, hi = (int(x) for x in body.split("-"))
        elif body.isdigit():
            lo = hi = int(body)
            if step_text:
                hi = 6
        else:
            raise ValueError(f"day of week '{part}' mixes names and numbers")
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi):
            raise ValueError(f"day of week '{part}' is out of range 0-7")
        out.extend(_DOW_NAMES[n % 7] for n in range(lo, hi + 1, step))
    return ",".join(dict.fromkeys(out))


class WallClockCronTrigger(CronTrigger):
    """A cron trigger that fires once when the clocks go back: with a fixed hour (``30 2 * * *``)
    the repeated wall-clock time is skipped, as cron does; an hourly ``*`` still fires every hour."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        nxt = super().get_next_fire_time(previous_fire_time, now)
        if nxt is None or previous_fire_time is None or str(self.fields[self.FIELD_NAMES.index("hour")]) == "*":
            return nxt
        wall = previous_fire_time.astimezone(self.timezone).replace(tzinfo=None)
        if nxt.astimezone(self.timezone).replace(tzinfo=None) == wall:
            return super().get_next_fire_time(nxt, nxt)
        return nxt


def cron_trigger(expr: str, tz: str | None) -> CronTrigger:
    """Five crontab fields in ``tz``; invalid fields raise a one-line ``ConfigError``."""
    zone = parse_tz(tz)
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(
            f"Schedule.add: cron expression '{expr}' has {len(fields)} field(s), not 5. "
            "Use minute hour day month weekday, e.g. '0 9 * * MON-FRI'."
        )
    try:
        minute, hour, day, month, dow = fields
        return WallClockCronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_dow_names(dow), timezone=zone)
    except ValueError as err:
        raise ConfigError(
            f"Schedule.add: invalid cron expression '{expr}' ({err}). Use minute hour day month weekday, "
            "e.g. '0 9 * * MON-FRI'."
        ) from None


def parse_at(text: str, tz: str | None) -> datetime:
    """An ISO date-time; without an offset it is read in ``tz`` (UTC when none)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"Schedule.add: --at '{text}' is not an ISO date-time. Use e.g. 2026-12-01T09:00.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=parse_tz(tz))
    return when


def make_spec(*, cron: str | None = None, every: str | None = None, at: str | None = None, tz: str | None = None,
              now: datetime | None = None) -> TriggerSpec:
    """Check the user's choice (exactly one of the three) and fix an interval's start now."""
    chosen = [name for name, value in (("--cron", cron), ("--every", every), ("--at", at)) if value]
    if len(chosen) != 1:
        raise ConfigError("Schedule.add: give exactly one of --cron, --every or --at. "
                          "E.g. --cron '0 9 * * MON-FRI' --tz Europe/Berlin, --every 15m, --at 2026-12-01T09:00.")
    now = now or datetime.now(timezone.utc)
    zone = parse_tz(tz)
    if cron:
        cron_trigger(cron, tz)  # validate now, not at the first fire time
        return TriggerSpec(kind="cron", cron=" ".join(cron.split()), tz=zone.key)
    if every:
        seconds = parse_duration(every)
        return TriggerSpec(kind="interval", every_s=seconds, tz=zone.key,
                           start=(now + timedelta(seconds=seconds)).replace(microsecond=0))
    when = parse_at(at or "", tz)
    if when <= now:
        raise ConfigError(f"Schedule.add: --at {when.isoformat()} is in the past. Give a future date-time.")
    return TriggerSpec(kind="date", at=when, tz=zone.key)


def build_trigger(spec: TriggerSpec) -> BaseTrigger:
    """The APScheduler trigger of a stored spec (same spec, same fire times)."""
    zone = parse_tz(spec.tz)
    if spec.kind == "cron":
        return cron_trigger(spec.cron or "", spec.tz)
    if spec.kind == "interval":
        return IntervalTrigger(seconds=spec.every_s or 1, start_date=spec.start, timezone=zone)
    return DateTrigger(run_date=spec.at, timezone=zone)


def fire_times(trigger: BaseTrigger, after: datetime, until: datetime, *, limit: int = MAX_SLOTS) -> list[datetime]:
    """Fire times in ``(after, until]`` in order, in UTC (at most ``limit``, the latest kept)."""
    times: list[datetime] = []
    previous: datetime | None = None
    probe = after
    after, until = to_utc(after), to_utc(until)
    while True:
        found = trigger.get_next_fire_time(previous, probe)
        # compared in UTC: two times in one zone compare by wall clock, and DST repeats an hour
        nxt = to_utc(found) if found is not None else None
        if nxt is None or nxt > until:
            break
        if nxt > after:
            times.append(nxt)
            if len(times) > limit:
                times.pop(0)
        if previous is not None and nxt <= to_utc(previous):  # a trigger that does not advance: stop
            break
        previous, probe = found, found
    return times


def describe(spec: TriggerSpec) -> str:
    if spec.kind == "cron":
        return f"cron '{spec.cron}' {spec.tz}"
    if spec.kind == "interval":
        return f"every {format_duration(spec.every_s or 0)}"
    return f"at {spec.at.isoformat() if spec.at else '?'}"


def format_duration(seconds: float) -> str:
    left, parts = int(round(seconds)), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or f"{seconds:g}s"


def to_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def slot_key(value: datetime) -> str:
    """The canonical text of a scheduled time (UTC, ISO) used as a claim key."""
    return to_utc(value).isoformat(timespec="microseconds")


def as_json(spec: TriggerSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True)
