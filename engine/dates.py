"""Dates and times as people write them, and the one form each takes as a value.

A date param, and a date input of a page, take ``YYYY-MM-DD`` whatever the instruction wrote ("March 15,
2027", "15/03/2027"); a time input takes ``HH:MM``. An HTML date or time input shows a local format
("12/14/2016", "3:45 PM"), but its value, the only thing a fill can set, has that one form, so the plan and
its replays say exactly what the field holds.
"""

from __future__ import annotations

import re
from datetime import date

MONTHS = ("january february march april may june july august september october november december").split()
_MONTH_NUMBER = {m[:3]: i + 1 for i, m in enumerate(MONTHS)}
_MONTH = r"(?P<{g}>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t|tember)?|" \
         r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_DAY = r"(?P<{g}>[0-3]?\d)(?:st|nd|rd|th)?"
# Dates written out: "March 15, 2027", "15 March 2027", "the 15th of March, 2027", "31/03/2027" (day first
# only where the month cannot be it). A date without its year is not one: the year would be invented.
_WRITTEN_DATE = re.compile(
    r"\b(?:" + _MONTH.format(g="m1") + r"\s+" + _DAY.format(g="d1") + r",?|"
    + _DAY.format(g="d2") + r"\s+(?:of\s+)?" + _MONTH.format(g="m2") + r",?)\s+(?P<y>(?:19|20)\d\d)\b"
    r"|\b(?P<a>[0-3]?\d)/(?P<b>[0-3]?\d)/(?P<y2>(?:19|20)\d\d)\b", re.IGNORECASE)


def _slashed(first: int, second: int, year: int, month_first: bool) -> str | None:
    """The date of "first/second/year": the day first only where the month cannot be it; where the text
    does not settle the order (03/04/2027), month first if ``month_first``, else no date."""
    if first > 12 >= second:
        day, month = first, second
    elif second > 12 >= first or month_first:
        day, month = second, first
    else:
        return None  # 03/04/2027: March or April, the text does not say
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None  # "02/30/2016": no such date


def written_dates(text: str) -> list[tuple[int, int, str]]:
    """(start, end, YYYY-MM-DD) of each date ``text`` writes out in words or with slashes: the same date,
    in the form a date param takes."""
    out = []
    for m in _WRITTEN_DATE.finditer(text):
        if m.group("y2"):
            iso = _slashed(int(m.group("a")), int(m.group("b")), int(m.group("y2")), month_first=False)
        else:
            month = _MONTH_NUMBER[(m.group("m1") or m.group("m2")).lower()[:3]]
            try:
                iso = date(int(m.group("y")), month, int(m.group("d1") or m.group("d2"))).isoformat()
            except ValueError:
                iso = None  # "February 30": no such date
        if iso is not None:
            out.append((m.start(), m.end(), iso))
    return out


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SLASH_DATE = re.compile(r"([0-3]?\d)/([0-3]?\d)/((?:19|20)\d\d)")
_TIME = re.compile(r"([0-2]?\d)(?::([0-5]\d))?(?::([0-5]\d))?(?:\s*([ap])\.?\s*m\.?)?", re.IGNORECASE)


def _date(text: str) -> str | None:
    """A slash date whose order the text does not settle (03/04/2016) is read month first: that is how
    the bots' browser (locale en-US) shows a date field, so it is what a person reading it would type."""
    if _ISO_DATE.fullmatch(text):
        return text
    m = _SLASH_DATE.fullmatch(text)
    if m:
        return _slashed(int(m.group(1)), int(m.group(2)), int(m.group(3)), month_first=True)
    found = written_dates(text)
    return found[0][2] if len(found) == 1 and found[0][1] - found[0][0] == len(text.strip()) else None


def _time(text: str) -> str | None:
    m = _TIME.fullmatch(text.strip())
    if not m or (m.group(2) is None and m.group(4) is None):
        return None  # a bare number is no time
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if m.group(4):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m.group(4).lower() == "p" else 0)
    if hour > 23:
        return None
    return f"{hour:02d}:{minute:02d}" + (f":{m.group(3)}" if m.group(3) else "")


TYPED_INPUTS = frozenset({"date", "time", "month"})  # inputs whose value has one form, whatever they show


def input_value(input_type: str | None, text: str) -> str | None:
    """``text`` as the value of an input of ``input_type``: the same text for an untyped field, the
    HTML form for a date or time input, None where the text is no value of that kind."""
    if input_type == "date":
        return _date(text)
    if input_type == "time":
        return _time(text)
    if input_type == "month":
        iso = _date(f"1 {text}") if not re.fullmatch(r"\d{4}-\d{2}", text) else f"{text}-01"
        return iso[:7] if iso else None
    return text


__all__ = ["MONTHS", "TYPED_INPUTS", "input_value", "written_dates"]
