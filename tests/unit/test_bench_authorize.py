"""The prepaid authorization benchmark's pure parts: the dialplan's request, the answer,
and the verdict on simultaneous requests against one account (bench/authorize_check.py)."""

from __future__ import annotations

import random
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.authorize_check import (
    CONTENTION_NUMBER,
    USER_AGENT,
    Attempt,
    authorize_target,
    contention_charge,
    contention_failures,
    curl_request,
    expected_grants,
    make_rates,
    parse_head,
    percentile,
    seconds_of,
)
from orchestrator.rating.dialplan import PREFIX
from orchestrator.rating.prepaid import limit_ms

CAP = 14_400
# 100 whole grants of 4 h (216.05 each) and 123.45 more.
BALANCE = Decimal("21728.45")


def test_the_target_is_the_dialplans_path_and_query() -> None:
    target = authorize_target(
        "s3cret", tenant=7, endpoint="101@a.example", number="0044207946000", call="1732451234.17"
    )
    url = urlsplit(target)
    assert url.path == f"{PREFIX}/s3cret/billing-authorize"
    assert "101%40a.example" in url.query  # URIENCODE(${CHANNEL(endpoint)})
    assert parse_qs(url.query) == {
        "tenant": ["7"],
        "endpoint": ["101@a.example"],
        "number": ["0044207946000"],
        "call": ["1732451234.17"],
    }


def test_the_request_is_a_plain_curl_get() -> None:
    data = curl_request("127.0.0.1:8000", "/x?a=1")
    assert data.startswith(b"GET /x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert f"User-Agent: {USER_AGENT}\r\n".encode() in data
    assert data.endswith(b"\r\n\r\n") and data.count(b"\r\n\r\n") == 1


def test_a_response_head_gives_status_and_length() -> None:
    head = b"HTTP/1.1 200 OK\r\ndate: x\r\ncontent-length: 14\r\ncontent-type: text/plain\r\n\r\n"
    assert parse_head(head) == (200, 14)
    with pytest.raises(ValueError, match="status line"):
        parse_head(b"SIP/2.0 200 OK\r\ncontent-length: 1\r\n\r\n")
    with pytest.raises(ValueError, match="Content-Length"):
        parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")


@pytest.mark.parametrize("seconds", [1, 2, 59, 8226, CAP])
def test_a_limit_gives_back_the_seconds_paid(seconds: int) -> None:
    assert seconds_of(f"limit_{limit_ms(seconds)}") == seconds


@pytest.mark.parametrize("answer", ["refuse_21", "refuse_41", "unlimited", "limit_", "HTTP 500"])
def test_anything_else_grants_nothing(answer: str) -> None:
    assert seconds_of(answer) is None


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    random.Random(1).shuffle(values)
    assert percentile(values, 50) == 51.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def test_the_contended_rate_charges_the_fee_and_each_second_rounded() -> None:
    charge = contention_charge()
    assert charge(1) == Decimal("0.07")  # 0.05 + 0.015, half up
    assert charge(2) == Decimal("0.08")
    assert charge(CAP) == Decimal("216.05")


def test_identical_requests_get_whole_grants_then_the_rest() -> None:
    charge = contention_charge()
    grants = expected_grants(charge, BALANCE, CAP)
    assert grants[:-1] == [(CAP, Decimal("216.05"))] * 100
    # 0.05 + 0.015 x 8226 = 123.44; one second more would be 123.455 -> 123.46.
    assert grants[-1] == (8226, Decimal("123.44"))
    assert BALANCE - sum(a for _, a in grants) == Decimal("0.01") < charge(1)


def test_no_grant_when_not_even_a_second_is_paid_for() -> None:
    assert expected_grants(contention_charge(), Decimal("0.06"), CAP) == []
    assert expected_grants(contention_charge(), Decimal("0.07"), CAP) == [(1, Decimal("0.07"))]


def _outcome(
    grants: list[tuple[int, Decimal]], refused: int
) -> tuple[dict[str, str], list[tuple[str, int, Decimal]], list[Attempt]]:
    """Answers, reservations and tries of a correct run: grants first, then refusals."""
    answers: dict[str, str] = {}
    rows: list[tuple[str, int, Decimal]] = []
    tries: list[Attempt] = []
    for i, (seconds, amount) in enumerate(grants):
        call = f"c.{i}"
        answers[call] = f"limit_{limit_ms(seconds)}"
        rows.append((call, seconds, amount))
        tries.append(Attempt(call, float(i), i + 0.5, answers[call]))
    for i in range(len(grants), len(grants) + refused):
        answers[f"c.{i}"] = "refuse_21"
        tries.append(Attempt(f"c.{i}", float(i), i + 0.5, "refuse_21"))
    return answers, rows, tries


def _verdict(
    answers: dict[str, str], rows: list[tuple[str, int, Decimal]], tries: list[Attempt]
) -> list[str]:
    charge = contention_charge()
    return contention_failures(
        balance=BALANCE,
        expected=expected_grants(charge, BALANCE, CAP),
        charge=charge,
        answers=answers,
        reservations=rows,
        attempts=tries,
    )


def test_a_correct_run_has_no_failures() -> None:
    answers, rows, tries = _outcome(expected_grants(contention_charge(), BALANCE, CAP), 99)
    assert _verdict(answers, rows, tries) == []


def test_an_extra_grant_is_an_overspend() -> None:
    grants = expected_grants(contention_charge(), BALANCE, CAP)
    answers, rows, tries = _outcome([*grants, grants[-1]], 98)
    failures = _verdict(answers, rows, tries)
    assert failures[0] == "OVERSPEND: 21851.88 reserved from a balance of 21728.45"
    assert any(f.startswith("granted 102 calls") for f in failures)


def test_a_refusal_for_another_reason_while_money_was_left_fails() -> None:
    grants = expected_grants(contention_charge(), BALANCE, CAP)
    answers, rows, tries = _outcome(grants, 99)
    answers["c.150"] = "refuse_41"  # the service gave up after its tries
    assert _verdict(answers, rows, tries) == [
        "c.150: 'refuse_41' (not a refusal for want of money)"
    ]


def test_a_refusal_decided_before_the_last_grant_began_fails() -> None:
    answers, rows, tries = _outcome(expected_grants(contention_charge(), BALANCE, CAP), 99)
    tries.append(Attempt("c.150", 1.0, 2.0, "refuse_21"))  # ended long before c.100 began
    [failure] = _verdict(answers, rows, tries)
    assert failure.startswith("1 refused while money was left") and "c.100" in failure


def test_a_reservation_must_match_its_answer() -> None:
    answers, rows, tries = _outcome(expected_grants(contention_charge(), BALANCE, CAP), 99)
    call, seconds, _ = rows[0]
    rows[0] = (call, seconds, Decimal("216.06"))
    rows.append(("ghost", 1, Decimal("0.07")))
    rows.append(rows[1])
    failures = _verdict(answers, rows, tries)
    assert f"{call}: granted {CAP} s, reserved 216.06 for {CAP} s" in failures
    assert "ghost: a reservation for a call nobody asked about" in failures
    assert f"{rows[1][0]}: reserved twice" in failures
    assert failures[0].startswith("OVERSPEND")


def test_the_tariff_has_the_prefixes_asked_for_and_one_rate_for_the_contended_number() -> None:
    rates = make_rates(random.Random(3), 3000)
    prefixes = [r.prefix for r in rates]
    assert len(rates) == 3000 == len(set(prefixes))
    assert all(r.first_increment == r.next_increment == 1 for r in rates)
    assert [p for p in prefixes if CONTENTION_NUMBER.startswith(p)] == [rates[-1].prefix]
