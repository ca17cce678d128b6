"""Office hours at fixed clocks (pure): weekly intervals in the schedule's own zone, on
both sides of a daylight-saving change, holidays (single, ranges, yearly over the new
year, their own destinations), the night mode; and the strict checks of what an admin
types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.pbx.schedule import (
    Hours,
    check_holidays,
    check_timezone,
    check_weekly,
    evaluate,
)

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def accept(value: str, field: str) -> str:
    if value not in ("extension:101", "extension:102", "ivr:closed", "hangup"):
        raise ValidationError(f"{field}: no such destination", field=field)
    return value


def hours(zone: str = "Europe/Berlin", holidays: list[dict[str, Any]] | None = None) -> Hours:
    return Hours(
        timezone=zone,
        weekly=check_weekly(
            [
                {"days": WEEKDAYS, "open": "09:00", "close": "12:30"},
                {"days": WEEKDAYS, "open": "13:30", "close": "17:00"},
                {"days": ["sat"], "open": "10:00", "close": "24:00"},
            ]
        ),
        holidays=check_holidays(holidays or [], accept),
        open_destination="extension:101",
        closed_destination="hangup",
        holiday_destination="ivr:closed",
    )


def at(text: str) -> datetime:
    """A UTC moment: '2026-03-27 08:30'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "state", "local"),
    [
        # Friday 27 March 2026, CET (UTC+1).
        ("2026-03-27 07:59", "closed", "2026-03-27T08:59:00+01:00"),
        ("2026-03-27 08:00", "open", "2026-03-27T09:00:00+01:00"),
        ("2026-03-27 11:29", "open", "2026-03-27T12:29:00+01:00"),
        ("2026-03-27 11:30", "closed", "2026-03-27T12:30:00+01:00"),  # lunch
        ("2026-03-27 12:30", "open", "2026-03-27T13:30:00+01:00"),
        ("2026-03-27 16:00", "closed", "2026-03-27T17:00:00+01:00"),  # close is exclusive
        # Saturday 28th: open 10:00 to the end of the day.
        ("2026-03-28 22:59", "open", "2026-03-28T23:59:00+01:00"),
        # Sunday 29th, 01:00 UTC: clocks go 02:00 -> 03:00 local. Closed all day.
        ("2026-03-29 00:30", "closed", "2026-03-29T01:30:00+01:00"),
        ("2026-03-29 01:30", "closed", "2026-03-29T03:30:00+02:00"),
        # Monday 30th, CEST (UTC+2): 09:00 local is 07:00 UTC now, not 08:00.
        ("2026-03-30 06:59", "closed", "2026-03-30T08:59:00+02:00"),
        ("2026-03-30 07:00", "open", "2026-03-30T09:00:00+02:00"),
        ("2026-03-30 14:59", "open", "2026-03-30T16:59:00+02:00"),
        ("2026-03-30 15:00", "closed", "2026-03-30T17:00:00+02:00"),
        # Back to CET on Sunday 25 October 2026: the Monday after opens at 08:00 UTC.
        ("2026-10-26 07:30", "closed", "2026-10-26T08:30:00+01:00"),
        ("2026-10-26 08:00", "open", "2026-10-26T09:00:00+01:00"),
    ],
)
def test_weekly_hours_across_a_dst_change(moment: str, state: str, local: str) -> None:
    decision = evaluate(hours(), at(moment))
    assert (decision.state, decision.local) == (state, local)
    assert decision.destination == {"open": "extension:101", "closed": "hangup"}[state]


def test_a_naive_utc_offset_would_be_wrong_after_the_change() -> None:
    """The same UTC time of day is open in summer and closed in winter: the local wall
    clock decides, not a fixed offset."""
    summer, winter = at("2026-03-30 07:15"), at("2026-03-23 07:15")
    assert evaluate(hours(), summer).state == "open"
    assert evaluate(hours(), winter).state == "closed"


def test_the_same_instant_in_other_zones() -> None:
    moment = at("2026-06-01 15:30")  # a Monday
    assert evaluate(hours("Europe/Berlin"), moment).state == "closed"  # 17:30
    assert evaluate(hours("America/New_York"), moment).state == "open"  # 11:30
    assert evaluate(hours("Asia/Tokyo"), moment).state == "closed"  # 00:30 Tuesday


def test_a_moment_with_another_offset_is_the_same_instant() -> None:
    tokyo = datetime(2026, 3, 30, 16, 0, tzinfo=timezone(timedelta(hours=9)))  # 07:00 UTC
    assert evaluate(hours(), tokyo).state == "open"
    with pytest.raises(ValueError):
        evaluate(hours(), datetime(2026, 3, 30, 9, 0))  # naive: refused


def test_holiday_single_date_uses_the_schedule_holiday_destination() -> None:
    h = hours(holidays=[{"name": "Good Friday", "start": "2026-04-03"}])
    d = evaluate(h, at("2026-04-03 09:00"))  # 11:00 CEST: would be open
    assert (d.state, d.destination, d.holiday) == ("holiday", "ivr:closed", "Good Friday")
    assert evaluate(h, at("2026-04-02 09:00")).state == "open"
    # The holiday is the local date: 23:30 UTC on the 2nd is 01:30 on the 3rd in Berlin.
    assert evaluate(h, at("2026-04-02 23:30")).state == "holiday"
    assert evaluate(h, at("2026-04-03 22:30")).state == "closed"  # 00:30 on the 4th (sat)


def test_holiday_range_with_its_own_destination_and_not_yearly() -> None:
    h = hours(
        holidays=[
            {"name": "Works outing", "start": "2026-07-08", "end": "2026-07-10",
             "destination": "extension:102"}
        ]
    )  # fmt: skip
    for day in ("2026-07-08", "2026-07-09", "2026-07-10"):
        d = evaluate(h, at(f"{day} 10:00"))
        assert (d.state, d.destination) == ("holiday", "extension:102")
    assert evaluate(h, at("2026-07-07 10:00")).state == "open"
    assert evaluate(h, at("2027-07-08 10:00")).state == "open"  # not yearly


def test_yearly_holiday_over_the_new_year() -> None:
    h = hours(
        holidays=[{"name": "New Year", "start": "2025-12-31", "end": "2026-01-01", "yearly": True}]
    )
    for moment in ("2026-12-31 10:00", "2027-01-01 10:00", "2030-12-31 10:00", "2031-01-01 10:00"):
        assert evaluate(h, at(moment)).state == "holiday", moment
    assert evaluate(h, at("2027-01-04 10:00")).state == "open"  # a Monday
    assert evaluate(h, at("2026-12-30 10:00")).state == "open"  # a Wednesday


def test_yearly_holiday_on_the_29th_of_february_occurs_only_in_leap_years() -> None:
    h = hours(holidays=[{"name": "Leap", "start": "2028-02-29", "yearly": True}])
    assert evaluate(h, at("2032-02-29 10:00")).state == "holiday"
    assert evaluate(h, at("2030-02-28 10:00")).state == "open"
    assert evaluate(h, at("2030-03-01 10:00")).state == "open"


def test_without_a_holiday_destination_a_holiday_is_closed() -> None:
    h = hours(holidays=[{"name": "X", "start": "2026-05-01"}])
    h = Hours(h.timezone, h.weekly, h.holidays, h.open_destination, "hangup", None)
    assert evaluate(h, at("2026-05-01 10:00")).destination == "hangup"


def test_night_mode_forces_closed_even_on_a_holiday() -> None:
    h = hours(holidays=[{"name": "X", "start": "2026-05-01"}])
    for moment in ("2026-04-30 10:00", "2026-05-01 10:00"):
        d = evaluate(h, at(moment), night_mode=True)
        assert (d.state, d.destination) == ("night", "hangup")


@pytest.mark.parametrize(
    "weekly",
    [
        "mon-fri",
        [{"days": ["mon"], "open": "9:00", "close": "17:00"}],
        [{"days": ["mon"], "open": "09:00", "close": "24:01"}],
        [{"days": ["mon"], "open": "17:00", "close": "09:00"}],
        [{"days": ["mon"], "open": "09:00", "close": "09:00"}],
        [{"days": ["mon"], "open": "24:00", "close": "24:00"}],
        [{"days": [], "open": "09:00", "close": "17:00"}],
        [{"days": ["monday"], "open": "09:00", "close": "17:00"}],
        [{"days": ["mon"], "open": "09:00", "close": "17:00", "extra": 1}],
        [{"days": ["mon"], "open": "09:00"}],
        [{"days": ["mon"], "open": 900, "close": "17:00"}],
        [{"days": ["mon"], "open": "09:00", "close": "17:00"}] * 71,
    ],
)
def test_bad_weekly_refused(weekly: Any) -> None:
    with pytest.raises(ValidationError):
        check_weekly(weekly)


def test_weekly_stored_in_week_order() -> None:
    out = check_weekly([{"days": ["fri", "mon"], "open": "08:00", "close": "24:00"}])
    assert out == [{"days": ["mon", "fri"], "open": "08:00", "close": "24:00"}]


@pytest.mark.parametrize(
    "holidays",
    [
        {"name": "X", "start": "2026-01-01"},
        [{"name": "X"}],
        [{"name": "X", "start": "2026-02-30"}],
        [{"name": "X", "start": "26-01-01"}],
        [{"name": "X", "start": "2026-01-02", "end": "2026-01-01"}],
        [{"name": "X", "start": "2026-01-01", "end": "2027-01-02"}],  # 367 days
        [{"name": "X", "start": "2026-01-01", "yearly": "yes"}],
        [{"name": "", "start": "2026-01-01"}],
        [{"name": "a\nb", "start": "2026-01-01"}],
        [{"name": "X", "start": "2026-01-01", "destination": "extension:999"}],
        [{"name": "X", "start": "2026-01-01", "when": "always"}],
    ],
)
def test_bad_holidays_refused(holidays: Any) -> None:
    with pytest.raises(ValidationError):
        check_holidays(holidays, accept)


def test_holidays_stored_complete() -> None:
    out = check_holidays([{"name": "X", "start": "2026-01-01"}], accept)
    assert out == [
        {"name": "X", "start": "2026-01-01", "end": "2026-01-01", "yearly": False,
         "destination": None}
    ]  # fmt: skip


@pytest.mark.parametrize(
    "zone", ["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5"]
)
def test_timezones_accepted(zone: str) -> None:
    assert check_timezone(zone) == zone


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Olympus",
        "../etc/passwd",
        "/etc/localtime",
        "localtime",
        "",
        "Europe/Berlin ",
        1,
        "CEST+1",
    ],
)
def test_bad_timezones_refused(zone: Any) -> None:
    with pytest.raises(ValidationError):
        check_timezone(zone)
