"""The prepaid authorization benchmark's pure parts (bench/authorize.py): the dialplan's
request as bytes, its answer, and what simultaneous requests against one account must
get, whatever order they win in. Tested in tests/unit/test_bench_authorize.py.
"""

from __future__ import annotations

import collections
import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from bench.rating import country_codes
from orchestrator.pricing import Charge, Rate, Rounding, Tariff, TariffVersion, reference_rate
from orchestrator.rating.dialplan import PREFIX
from orchestrator.rating.prepaid import MARGIN_MS

USER_AGENT = "asterisk-libcurl-agent/1.0"  # func_curl.c's global_useragent
EFFECTIVE = datetime(2020, 1, 1, tzinfo=UTC)
# The contended destination: a prefix no country code starts with, so no other rate
# matches its number; 0.90/min per second plus a fee, so one second costs 0.07
# (0.065 rounded half up) and the money left at the end is not a multiple of it.
CONTENTION_RATE = Rate(
    "0099",
    "bench contention",
    price_per_minute=Decimal("0.90"),
    connection_fee=Decimal("0.05"),
    first_increment=1,
    next_increment=1,
)
CONTENTION_NUMBER = "00991234567"
CONTENTION_REST = Decimal("123.45")  # the balance beyond the whole grants it buys


def authorize_target(secret: str, *, tenant: int, endpoint: str, number: str, call: str) -> str:
    """The path and query the dialplan's ``CURL()`` asks for (``URIENCODE`` on the
    endpoint and the call id, the number's digits as they are)."""
    query = f"tenant={tenant}&endpoint={quote(endpoint, safe='')}&number={number}"
    return f"{PREFIX}/{secret}/billing-authorize?{query}&call={quote(call, safe='')}"


def curl_request(host: str, target: str) -> bytes:
    """The bytes libcurl sends for a plain ``GET`` (HTTP/1.1, no body)."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", f"User-Agent: {USER_AGENT}", "Accept: */*"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def parse_head(head: bytes) -> tuple[int, int]:
    """``(status, content length)`` of a response's head (up to the blank line)."""
    status_line, *headers = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {status_line!r}")
    for header in headers:
        name, _, value = header.partition(":")
        if name.strip().lower() == "content-length":
            return int(parts[1]), int(value.strip())
    raise ValueError("the response has no Content-Length")


def seconds_of(answer: str) -> int | None:
    """The paid seconds behind ``limit_<ms>`` (the engine's timer is MARGIN_MS short)."""
    kind, _, ms = answer.partition("_")
    if kind != "limit" or not ms.isdigit():
        return None
    return (int(ms) + MARGIN_MS) // 1000


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def expected_grants(
    charge: Callable[[int], Decimal], balance: Decimal, cap_s: int
) -> list[tuple[int, Decimal]]:
    """What identical requests get, one after the other, from ``balance``: each the
    longest call (at most ``cap_s``) whose ``charge`` fits the money left, until not
    even one second does. Order-free: whichever request wins, the k-th grant is the same.
    """
    grants: list[tuple[int, Decimal]] = []
    left = balance
    while charge(1) <= left:
        low, high = 1, cap_s + 1  # charge(low) fits; high: past the cap or does not fit
        if charge(cap_s) <= left:
            low = cap_s
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if charge(middle) <= left else (low, middle)
        grants.append((low, charge(low)))
        left -= charge(low)
    return grants


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of ``RatingService._authorize``: ``contended`` (lost the account's
    compare-and-set: retried), ``error``, or the answer it gave."""

    call_id: str
    started: float
    ended: float
    outcome: str


def contention_failures(
    *,
    balance: Decimal,
    expected: Sequence[tuple[int, Decimal]],
    charge: Callable[[int], Decimal],
    answers: dict[str, str],
    reservations: Sequence[tuple[str, int, Decimal]],
    attempts: Sequence[Attempt],
) -> list[str]:
    """Everything wrong with the answers to simultaneous requests against one account.

    ``answers``: call id -> the body (or ``HTTP <status>``); ``reservations``: the
    account's stored rows afterwards, (call id, seconds, amount). Deterministic whatever
    the order the requests won in: the reservations sum to at most the balance, each is
    the charge of the time its answer grants, the granted times are
    :func:`expected_grants`' (as a multiset), every other request was refused for want
    of money (``refuse_21``) and none was decided before the last grant's winning try
    began (the money that grant took was there all along: reservations only grow here).
    """
    failures: list[str] = []
    total = sum((amount for _, _, amount in reservations), Decimal(0))
    if total > balance:
        failures.append(f"OVERSPEND: {total} reserved from a balance of {balance}")
    held_for: dict[str, tuple[int, Decimal]] = {}
    for call, held_s, amount in reservations:
        if call in held_for:
            failures.append(f"{call}: reserved twice")
        held_for[call] = (held_s, amount)
    granted: list[int] = []
    for call, answer in answers.items():
        seconds = seconds_of(answer)
        held = held_for.get(call)
        if seconds is None:
            if answer != "refuse_21":
                failures.append(f"{call}: {answer!r} (not a refusal for want of money)")
            if held is not None:
                failures.append(f"{call}: refused, yet {held[1]} is reserved for it")
            continue
        granted.append(seconds)
        if held is None:
            failures.append(f"{call}: granted {seconds} s with nothing reserved")
        elif held != (seconds, charge(seconds)):
            failures.append(f"{call}: granted {seconds} s, reserved {held[1]} for {held[0]} s")
    for call in held_for.keys() - answers.keys():
        failures.append(f"{call}: a reservation for a call nobody asked about")
    if sorted(granted) != sorted(s for s, _ in expected):
        failures.append(
            f"granted {len(granted)} calls {_spread(granted)}, the money buys exactly "
            f"{len(expected)}: {_spread([s for s, _ in expected])}"
        )
    wins = [a for a in attempts if a.outcome.startswith("limit_")]
    if wins:
        last = max(wins, key=lambda a: a.started)
        early = [a for a in attempts if a.outcome.startswith("refuse") and a.ended < last.started]
        if early:
            failures.append(
                f"{len(early)} refused while money was left (decided before the last grant, "
                f"{last.call_id}, began), e.g. {early[0].call_id}: {early[0].outcome}"
            )
    return failures


def _spread(seconds: list[int]) -> str:
    counts = collections.Counter(seconds)
    return "(" + ", ".join(f"{n} x {s} s" for s, n in sorted(counts.items())) + ")"


# -- the tariff ----------------------------------------------------------------------
def contention_charge() -> Callable[[int], Decimal]:
    """The contended number's charge for n seconds, from the plain reference rater."""
    tariff = Tariff(
        name="bench",
        currency="EUR",
        rounding=Rounding.HALF_UP,
        precision=2,
        timezone="UTC",
        versions=(TariffVersion("v1", EFFECTIVE, rates=(CONTENTION_RATE,)),),
    )

    @functools.cache
    def charge(seconds: int) -> Decimal:
        result = reference_rate(
            tariff, number=CONTENTION_NUMBER, start=EFFECTIVE, duration_s=seconds
        )
        assert isinstance(result, Charge)
        return result.amount

    return charge


def make_rates(rng: random.Random, count: int) -> list[Rate]:
    """``count`` per-second rates: country codes, operator prefixes up to 9 digits under
    them, prices with 4 places, a fee on some; the contended destination last."""
    codes = country_codes()
    prefixes = dict.fromkeys(codes)
    while len(prefixes) < count - 1:
        code = rng.choice(codes)
        tail = "".join(rng.choices("0123456789", k=rng.randint(1, 9 - len(code))))
        prefixes.setdefault(code + tail)
    rates = [
        Rate(
            prefix,
            f"Destination {prefix}",
            price_per_minute=Decimal(rng.randint(50, 9000)).scaleb(-4),
            connection_fee=Decimal("0.0200") if rng.random() < 0.2 else Decimal(0),
            first_increment=1,
            next_increment=1,
        )
        for prefix in list(prefixes)[: count - 1]
    ]
    return [*rates, CONTENTION_RATE]


def rate_json(rate: Rate) -> dict[str, Any]:
    return {
        "prefix": rate.prefix,
        "description": rate.description,
        "price_per_minute": str(rate.price_per_minute),
        "connection_fee": str(rate.connection_fee),
        "first_increment": rate.first_increment,
        "next_increment": rate.next_increment,
    }
