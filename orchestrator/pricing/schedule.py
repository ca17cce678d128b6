"""Weekly time windows of tariff periods, compiled for a one-bisect lookup.

A period's window is a set of weekdays (0 = Monday ... 6 = Sunday, as
:meth:`datetime.date.weekday`) and a wall-clock range ``[start, end)`` in the
tariff's timezone. A range whose end is not after its start crosses midnight: the
window that opens on a listed weekday runs into the next day (``Fri 22:00-06:00``
covers Friday 22:00 to Saturday 06:00), and ``start == end`` is 24 hours from
``start`` (``00:00-00:00`` is the whole day).

:func:`compile_windows` turns the windows of one rate into sorted boundaries over the
seconds of the week, so finding the period of a call is one :func:`bisect.bisect_right`.
Rates of a tariff usually share the same few windows, so the result is cached by the
windows themselves.
"""

from __future__ import annotations

import functools
from datetime import time

from orchestrator.core.errors import ValidationError

DAY = 86_400
WEEK = 7 * DAY

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# (period name, weekdays, start, end): the parts of a Period that make its window
Window = tuple[str, frozenset[int], time, time]


@functools.lru_cache(maxsize=4096)
def compile_windows(windows: tuple[Window, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(bounds, values)``: from ``bounds[i]`` (second of the week) up to the next bound
    the period with index ``values[i]`` applies, ``-1`` where none does.

    Raises :class:`ValidationError` when two windows overlap: which price applies
    must never depend on the order periods were listed in.
    """
    segments: list[tuple[int, int, int]] = []
    for index, (_, weekdays, start_time, end_time) in enumerate(windows):
        start = start_time.hour * 3600 + start_time.minute * 60 + start_time.second
        end = end_time.hour * 3600 + end_time.minute * 60 + end_time.second
        length = (end - start) % DAY or DAY
        for day in weekdays:
            first = day * DAY + start
            last = first + length
            if last <= WEEK:
                segments.append((first, last, index))
            else:  # Sunday's window running into Monday
                segments.append((first, WEEK, index))
                segments.append((0, last - WEEK, index))
    segments.sort()
    bounds: list[int] = []
    values: list[int] = []
    cursor = 0
    previous = -1
    for first, last, index in segments:
        if first < cursor:
            raise ValidationError(
                f"periods {windows[previous][0]!r} and {windows[index][0]!r} overlap "
                f"({describe_second_of_week(first)})",
                field="periods",
            )
        if first > cursor:
            bounds.append(cursor)
            values.append(-1)
        bounds.append(first)
        values.append(index)
        cursor = last
        previous = index
    if cursor < WEEK:
        bounds.append(cursor)
        values.append(-1)
    return tuple(bounds), tuple(values)


def describe_second_of_week(second: int) -> str:
    """``"Tue 08:00:00"`` for a second of the week."""
    day, rest = divmod(second, DAY)
    return f"{WEEKDAY_NAMES[day]} {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def describe_weekdays(weekdays: frozenset[int]) -> str:
    """``"Mon-Fri"``, ``"Sat,Sun"``, ``"Mon,Wed-Fri"``: runs of consecutive days joined."""
    days = sorted(weekdays)
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) > 2:
            parts.append(f"{WEEKDAY_NAMES[run[0]]}-{WEEKDAY_NAMES[run[-1]]}")
        else:
            parts.extend(WEEKDAY_NAMES[day] for day in run)
    return ",".join(parts)
