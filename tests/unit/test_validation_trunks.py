"""Validators for IVR apps, trunks and outbound routes refuse what could change syntax."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import validation as v
from orchestrator.core.errors import ValidationError
from tests.unit.test_validation import HOSTILE


@pytest.mark.parametrize(
    "check",
    [v.slug, v.sip_host, v.trunk_password, v.ivr_app_key, v.dialed_number, v.ivr_fallback],
)
@pytest.mark.parametrize("value", [*HOSTILE, None, 7])
def test_hostile_values_are_refused(check: Any, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        check(value)
    assert info.value.details["field"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("SIP.Carrier.Example", "sip.carrier.example"),
        ("carrier", "carrier"),
    ],
)
def test_sip_host_accepts(value: str, expected: str) -> None:
    assert v.sip_host(value) == expected


@pytest.mark.parametrize("value", ["1.2.3", "256.0.0.1", "01.2.3.4", "a..b", "-a.example", "::1"])
def test_sip_host_refuses(value: str) -> None:
    with pytest.raises(ValidationError):
        v.sip_host(value)


def test_dial_prefix_and_prepend() -> None:
    assert v.dial_prefix("") == "" and v.dial_prefix("*9#") == "*9#"
    assert v.dial_prepend("+44") == "+44"
    for value in ("9X", "9.", "_9", "123456789", "9!"):
        with pytest.raises(ValidationError):
            v.dial_prefix(value)
    for value in ("*", "1;", "${X}", "123456789"):
        with pytest.raises(ValidationError):
            v.dial_prepend(value)


def test_bounded_int_refuses_bools_and_out_of_range() -> None:
    assert v.bounded_int(10, 10, 20, field="x") == 10
    for value in (True, 9, 21, 1.5, "10"):
        with pytest.raises(ValidationError):
            v.bounded_int(value, 10, 20, field="x")


def test_ivr_settings() -> None:
    assert v.ivr_settings({"a": "b", "n": 1, "f": 0.5}) == {"a": "b", "n": 1, "f": 0.5}
    for value in ([], {"a": True}, {"a": float("nan")}, {"": 1}, {"a": [1]}, {1: 1}):
        with pytest.raises(ValidationError):
            v.ivr_settings(value)
    with pytest.raises(ValidationError, match="4096 bytes"):
        v.ivr_settings({f"k{i}": "x" * 900 for i in range(5)})


def test_ivr_fallback_is_never_an_ivr() -> None:
    assert v.ivr_fallback("extension:101") == v.Destination("extension", "101")
    assert v.ivr_fallback("hangup") == v.Destination("hangup")
    with pytest.raises(ValidationError):
        v.ivr_fallback("ivr:menu")
