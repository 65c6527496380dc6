"""Dates and times as written, and the one form a date or time input takes."""

from __future__ import annotations

import pytest

from engine.dates import input_value, written_dates


@pytest.mark.parametrize("text,iso", [
    ("12/14/2016", "2016-12-14"),   # month first, as the en-US browser shows the field
    ("14/12/2016", "2016-12-14"),   # the day cannot be the month
    ("03/04/2016", "2016-03-04"),   # unsettled: read month first
    ("March 3, 2021", "2021-03-03"),
    ("2016-12-14", "2016-12-14"),
    ("02/30/2016", None),            # no such date
    ("3:45 PM", None),
    ("Globex", None),
])
def test_a_date_input_takes_the_iso_form(text: str, iso: str | None) -> None:
    assert input_value("date", text) == iso


@pytest.mark.parametrize("text,hhmm", [
    ("3:45 PM", "15:45"), ("3:45pm", "15:45"), ("12:05 am", "00:05"), ("09:30", "09:30"), ("7 p.m.", "19:00"),
    ("25:00", None), ("13:00 PM", None), ("42", None), ("12/14/2016", None),
])
def test_a_time_input_takes_hours_and_minutes(text: str, hhmm: str | None) -> None:
    assert input_value("time", text) == hhmm


def test_an_untyped_field_takes_the_text_as_written() -> None:
    assert input_value("text", "12/14/2016") == "12/14/2016" and input_value(None, "x") == "x"
    assert input_value("month", "March 2027") == "2027-03"


def test_a_slash_date_in_a_param_needs_a_settled_order() -> None:
    # A date param takes no guess: 03/04/2027 is left out there (a form field shows its own order).
    assert [iso for _, _, iso in written_dates("due 03/04/2027 or 31/03/2027")] == ["2027-03-31"]
