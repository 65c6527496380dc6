"""Triggers: parsing the command line's options, time zones, and daylight-saving changes.

The clock is controlled: every fire time is computed from explicit datetimes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import ConfigError
from engine.jobs.triggers import (
    build_trigger,
    cron_trigger,
    describe,
    fire_times,
    make_spec,
    parse_duration,
    parse_tz,
    slot_key,
)

UTC = timezone.utc
BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("text,seconds", [("90", 90), ("30s", 30), ("15m", 900), ("1h30m", 5400), ("2d", 172800),
                                          ("1.5h", 5400), ("1w", 604800)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15x", "m", "0s", "10m later"])
def test_bad_durations_say_what_to_write(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^Schedule.add: --every '.*' (is not a duration|must be longer)"):
        parse_duration(text)


def test_unknown_time_zone_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match=r"^Schedule.add: unknown time zone 'Mars/Olympus'. Use an IANA name"):
        parse_tz("Mars/Olympus")
    with pytest.raises(ConfigError, match="unknown time zone"):
        make_spec(cron="0 9 * * *", tz="Europe/Berlinn")


@pytest.mark.parametrize("expr,why", [
    ("0 9 * *", "has 4 field"),
    ("61 9 * * *", "invalid cron expression '61 9 \\* \\* \\*'"),
    ("0 25 * * *", "invalid cron expression"),
    ("0 9 * * FUNDAY", "invalid cron expression"),
    ("0 9 * * 8", "invalid cron expression"),
])
def test_invalid_cron_is_refused_at_add(expr: str, why: str) -> None:
    with pytest.raises(ConfigError, match=r"^Schedule.add: .*" + why):
        make_spec(cron=expr, tz=BERLIN)


def test_exactly_one_kind_of_trigger() -> None:
    with pytest.raises(ConfigError, match="exactly one of --cron, --every or --at"):
        make_spec()
    with pytest.raises(ConfigError, match="exactly one of --cron, --every or --at"):
        make_spec(cron="0 9 * * *", every="15m")


def test_at_in_the_past_and_naive_times_read_in_the_zone() -> None:
    now = utc(2026, 11, 24, 12)
    with pytest.raises(ConfigError, match="is in the past"):
        make_spec(at="2026-11-24T09:00", tz="UTC", now=now)
    spec = make_spec(at="2026-12-01T09:00", tz=BERLIN, now=now)
    assert spec.at is not None and spec.at.astimezone(UTC) == utc(2026, 12, 1, 8)
    assert build_trigger(spec).get_next_fire_time(None, now).astimezone(UTC) == utc(2026, 12, 1, 8)


def test_weekdays_by_crontab_numbers_mean_what_cron_means() -> None:
    # APScheduler 3 counts 0 as Monday; crontab counts 0 (and 7) as Sunday.
    friday = utc(2026, 11, 27, 10)  # a Friday
    by_number = cron_trigger("0 9 * * 1-5", "UTC").get_next_fire_time(None, friday)
    by_name = cron_trigger("0 9 * * MON-FRI", "UTC").get_next_fire_time(None, friday)
    assert by_number == by_name and by_number.weekday() == 0  # the next Monday
    sunday = cron_trigger("0 9 * * 0", "UTC").get_next_fire_time(None, friday)
    assert sunday.weekday() == 6
    assert cron_trigger("0 9 * * 7", "UTC").get_next_fire_time(None, friday) == sunday


def test_weekday_cron_stays_at_nine_local_across_spring_forward() -> None:
    """Berlin goes from UTC+1 to UTC+2 on Sunday 2026-03-29: 09:00 local moves from 08:00 to 07:00 UTC."""
    trigger = build_trigger(make_spec(cron="0 9 * * MON-FRI", tz=BERLIN, now=utc(2026, 3, 1)))
    before = trigger.get_next_fire_time(None, utc(2026, 3, 27, 6))
    after = trigger.get_next_fire_time(before, utc(2026, 3, 27, 9))
    assert before.astimezone(UTC) == utc(2026, 3, 27, 8)  # Friday, CET
    assert after.astimezone(UTC) == utc(2026, 3, 30, 7)  # Monday, CEST
    assert after.hour == 9 and after.utcoffset() == timedelta(hours=2)


def test_daily_job_in_the_repeated_hour_fires_once_when_clocks_go_back() -> None:
    """02:30 happens twice in Berlin on 2026-10-25; a daily 02:30 job runs once that night."""
    trigger = cron_trigger("30 2 * * *", BERLIN)
    night = fire_times(trigger, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    assert night == [utc(2026, 10, 25, 0, 30)]  # the first 02:30 (CEST)
    week = fire_times(trigger, utc(2026, 10, 22), utc(2026, 10, 29))
    assert len(week) == 7 and len({t.astimezone(trigger.timezone).date() for t in week}) == 7


def test_hourly_job_keeps_every_real_hour_when_clocks_go_back() -> None:
    trigger = cron_trigger("30 * * * *", BERLIN)
    times = fire_times(trigger, utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    assert times == [utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30),
                     utc(2026, 10, 25, 2, 30)]


def test_daily_job_in_the_skipped_hour_still_fires_once() -> None:
    """02:30 does not exist in Berlin on 2026-03-29: the job runs once that day, after the jump."""
    trigger = cron_trigger("30 2 * * *", BERLIN)
    day = fire_times(trigger, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    assert len(day) == 1 and day[0] >= utc(2026, 3, 29, 1)  # not before the clocks jump (01:00 UTC)


def test_interval_starts_after_add_and_keeps_its_grid() -> None:
    now = utc(2026, 11, 24, 12, 0, 0)
    spec = make_spec(every="15m", now=now)
    assert spec.start == utc(2026, 11, 24, 12, 15)
    times = fire_times(build_trigger(spec), now, utc(2026, 11, 24, 13, 1))
    assert times == [utc(2026, 11, 24, 12, 15), utc(2026, 11, 24, 12, 30), utc(2026, 11, 24, 12, 45),
                     utc(2026, 11, 24, 13, 0)]
    assert describe(spec) == "every 15m"


def test_fire_times_keeps_the_latest_when_bounded() -> None:
    spec = make_spec(every="1m", now=utc(2026, 1, 1))
    times = fire_times(build_trigger(spec), utc(2026, 1, 1), utc(2026, 1, 2), limit=3)
    assert times == [utc(2026, 1, 1, 23, 58), utc(2026, 1, 1, 23, 59), utc(2026, 1, 2)]


def test_slot_key_is_the_same_instant_in_any_zone() -> None:
    berlin = cron_trigger("0 9 * * *", BERLIN).get_next_fire_time(None, utc(2026, 6, 1))
    assert slot_key(berlin) == slot_key(utc(2026, 6, 1, 7)) == "2026-06-01T07:00:00.000000+00:00"
