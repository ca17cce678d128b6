"""Office hours: which destination a schedule picks at a given moment (pure functions).

A schedule (docs/pbx.md, "Office hours, holidays and night mode") has an IANA time
zone, weekly open intervals, holidays (single dates or ranges, optionally every year,
each with its own destination or the schedule's holiday destination) and the
destinations when open, closed and on a holiday. :func:`evaluate` decides, for one
moment (an aware datetime: the call's time), in the schedule's own zone's wall-clock
time, so a daylight-saving change moves nothing: ``09:00`` is nine o'clock local time
on both sides of it. The order:

1. the tenant's night mode is on: ``closed`` (the manual override wins);
2. the local date is in a holiday: ``holiday`` (its destination, else the schedule's
   ``holiday_destination``, else ``closed_destination``);
3. the local weekday and time are in a weekly interval (``open <= time < close``):
   ``open``;
4. otherwise ``closed``.

:func:`check_weekly`, :func:`check_holidays` and :func:`check_timezone` validate what an
admin typed (strictly: a bad value is a :class:`ValidationError`, nothing is coerced) and
return it in the stored form. Example::

    sched = Hours("Europe/Berlin", check_weekly([{"days": ["mon"], "open": "09:00",
                  "close": "17:00"}]), (), "extension:101", "hangup", None)
    evaluate(sched, datetime(2026, 3, 30, 7, 30, tzinfo=UTC)).state  # "open" (09:30 CEST)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from orchestrator.core.errors import ValidationError

__all__ = [
    "DAYS",
    "Clock",
    "Decision",
    "Hours",
    "check_holidays",
    "check_timezone",
    "check_weekly",
    "evaluate",
    "utc_now",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVALS = 70
MAX_HOLIDAYS = 200
#: A holiday range spans at most this many days (a year, leap day included).
MAX_HOLIDAY_DAYS = 366
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# An IANA zone name: Area/Location(/More), or UTC. Checked before zoneinfo sees it, so
# no path ("../") reaches the time zone database's file lookup.
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,30}(/[A-Za-z0-9_+-]{1,30}){0,2}")
_HOLIDAY_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,60}")

#: The call's moment: an aware datetime (tests pass a fixed one).
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Hours:
    """A schedule as :func:`evaluate` needs it (stored, checked values)."""

    timezone: str
    weekly: Sequence[dict[str, Any]]
    holidays: Sequence[dict[str, Any]]
    open_destination: str
    closed_destination: str
    holiday_destination: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """``state``: ``open``, ``closed``, ``holiday`` or ``night``; where the call goes;
    ``local``: the moment in the schedule's zone (ISO 8601, for logs and the API);
    ``holiday``: the holiday's name."""

    state: str
    destination: str
    local: str
    holiday: str = ""


def _fail(field: str, message: str, value: Any) -> ValidationError:
    return ValidationError(f"{field}: {message}", field=field, value=repr(value)[:80])


def check_timezone(value: Any) -> str:
    """An IANA time zone name the time zone database knows (``Europe/Berlin``, ``UTC``)."""
    if not isinstance(value, str) or not _ZONE.fullmatch(value):
        raise _fail("timezone", "must be an IANA time zone such as 'Europe/Berlin'", value)
    # Not "localtime": the machine's own zone, whatever that is (some databases list it).
    if value == "localtime" or value not in _zones():
        raise _fail("timezone", "is not a time zone of the IANA database", value)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _fail("timezone", "is not a time zone of the IANA database", value) from None
    return value


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _minutes(value: Any, field: str) -> int:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise _fail(field, "must be 'HH:MM' from 00:00 to 24:00", value)
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def check_weekly(value: Any) -> list[dict[str, Any]]:
    """Weekly open intervals: ``[{"days": ["mon", ...], "open": "09:00", "close": "17:00"}]``.

    ``close`` is after ``open`` on the same day (``24:00``: midnight at the end of the
    day); a night shift over midnight is two intervals. Days are stored in week order."""
    if not isinstance(value, list) or len(value) > MAX_INTERVALS:
        raise _fail("weekly", f"must be a list of at most {MAX_INTERVALS} intervals", value)
    out = []
    for i, item in enumerate(value):
        field = f"weekly[{i}]"
        if not isinstance(item, dict) or set(item) != {"days", "open", "close"}:
            raise _fail(field, "must be {'days': [...], 'open': 'HH:MM', 'close': 'HH:MM'}", item)
        days = item["days"]
        if (
            not isinstance(days, list)
            or not days
            or any(not isinstance(d, str) or d not in DAYS for d in days)
        ):
            raise _fail(f"{field}.days", f"must be a non-empty list of {', '.join(DAYS)}", days)
        start, end = (
            _minutes(item["open"], f"{field}.open"),
            _minutes(item["close"], f"{field}.close"),
        )
        if item["open"] == "24:00" or end <= start:
            raise _fail(field, "close must be after open on the same day", item)
        out.append(
            {"days": [d for d in DAYS if d in days], "open": item["open"], "close": item["close"]}
        )
    return out


def _date(value: Any, field: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise _fail(field, "must be a date 'YYYY-MM-DD'", value)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(field, "is not a calendar date", value) from None


def check_holidays(
    value: Any, check_destination: Callable[[str, str], str]
) -> list[dict[str, Any]]:
    """Holidays: ``[{"name": "Christmas", "start": "2026-12-25", "end": "2026-12-26",
    "yearly": true, "destination": "ivr:closed"}]``; ``end`` (default: ``start``),
    ``yearly`` (default false) and ``destination`` (default null: the schedule's holiday
    destination) may be left out. ``check_destination(value, field)`` checks a destination.
    A yearly range may run over the new year (``2026-12-31`` to ``2027-01-01``)."""
    if not isinstance(value, list) or len(value) > MAX_HOLIDAYS:
        raise _fail("holidays", f"must be a list of at most {MAX_HOLIDAYS} holidays", value)
    out = []
    for i, item in enumerate(value):
        field = f"holidays[{i}]"
        if not isinstance(item, dict) or not {"name", "start"} <= set(item) or set(item) - {
            "name", "start", "end", "yearly", "destination"
        }:  # fmt: skip
            raise _fail(field, "must be {'name', 'start'[, 'end', 'yearly', 'destination']}", item)
        name = item["name"]
        if not isinstance(name, str) or not _HOLIDAY_NAME.fullmatch(name) or name != name.strip():
            raise _fail(f"{field}.name", "must be 1 to 60 printable characters", name)
        start = _date(item["start"], f"{field}.start")
        end_text = item.get("end")
        end = start if end_text is None else _date(end_text, f"{field}.end")
        if not start <= end <= start + timedelta(days=MAX_HOLIDAY_DAYS - 1):
            raise _fail(field, f"end must be from start to {MAX_HOLIDAY_DAYS - 1} days after", item)
        yearly = item.get("yearly", False)
        if not isinstance(yearly, bool):
            raise _fail(f"{field}.yearly", "must be true or false", yearly)
        destination = item.get("destination")
        if destination is not None:
            destination = check_destination(destination, f"{field}.destination")
        out.append(
            {"name": name, "start": start.isoformat(), "end": end.isoformat(), "yearly": yearly,
             "destination": destination}
        )  # fmt: skip
    return out


def _in_holiday(holiday: dict[str, Any], day: date) -> bool:
    start, end = date.fromisoformat(holiday["start"]), date.fromisoformat(holiday["end"])
    if not holiday.get("yearly"):
        return start <= day <= end
    # Every year: the range moved to this year and to last year (a range over the new
    # year started last year). A 29 February start has no date in other years: skipped.
    for year in (day.year, day.year - 1):
        try:
            first = start.replace(year=year)
        except ValueError:
            continue
        if first <= day <= first + (end - start):
            return True
    return False


def evaluate(hours: Hours, moment: datetime, *, night_mode: bool = False) -> Decision:
    """Where a call at ``moment`` (aware) goes under ``hours`` (see the module doc)."""
    if moment.tzinfo is None:
        raise ValueError("evaluate needs an aware datetime")
    local = moment.astimezone(ZoneInfo(hours.timezone))
    stamp = local.isoformat(timespec="seconds")
    if night_mode:
        return Decision("night", hours.closed_destination, stamp)
    today = local.date()
    for holiday in hours.holidays:
        if _in_holiday(holiday, today):
            destination = (
                holiday.get("destination") or hours.holiday_destination or hours.closed_destination
            )
            return Decision("holiday", destination, stamp, holiday["name"])
    day, minute = DAYS[local.weekday()], local.hour * 60 + local.minute
    for interval in hours.weekly:
        if day in interval["days"] and (
            _minutes(interval["open"], "open") <= minute < _minutes(interval["close"], "close")
        ):
            return Decision("open", hours.open_destination, stamp)
    return Decision("closed", hours.closed_destination, stamp)
