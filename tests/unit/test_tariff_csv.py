"""Tariff rates from CSV: every row as wide as the header, money as plain decimals, a
refusal names the line it is about (counting the lines of quoted multi-line fields)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.store.tariff_csv import parse_rates_csv


def _refused(text: str) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        parse_rates_csv(text)
    return refused.value


def test_rows_as_wide_as_the_header() -> None:
    rates = parse_rates_csv('prefix,description,price\n4930,"Berlin, city",0.05\n\n49,DE,0.02\n')
    assert [(r.prefix, r.description, r.price_per_minute) for r in rates] == [
        ("4930", "Berlin, city", Decimal("0.05")),
        ("49", "DE", Decimal("0.02")),
    ]
    wide = _refused("prefix,description,price\n4930,Berlin,0.05\n49301,Berlin,1,0.05\n")
    assert wide.details == {"field": "csv", "line": 3} and "4 fields" in wide.message
    short = _refused("prefix,description,price,fee\n4930,Berlin\n")
    assert short.details["line"] == 2 and "2 fields, the header has 4" in short.message


def test_the_line_of_a_row_after_a_multi_line_field() -> None:
    periods = '"peak|01234|08:00|18:00|0.05;\noff|56|00:00|00:00|0.01"'
    rates = parse_rates_csv(f"prefix,price,periods\n4930,0.02,{periods}\n")
    assert [p.name for p in rates[0].periods] == ["peak", "off"]
    assert _refused(f"prefix,price,periods\n4930,0.02,{periods}\n49,0.02,,9\n").details["line"] == 4


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("49,DE,1e-2,0,60/60", "price_per_minute"),
        ("49,DE,-0.01,0,60/60", "price_per_minute"),
        ("49,DE,0.01,NaN,60/60", "connection_fee"),
        ("49,DE,0.01,0.00000000001,60/60", "connection_fee"),
        ("49,DE,0.01,0,60/x", "csv"),
        ("4x,DE,0.01,0,60/60", "rate.prefix"),
    ],
)
def test_a_field_that_does_not_parse_names_its_line(row: str, field: str) -> None:
    refused = _refused(f"prefix,description,price,fee,increments\n4930,B,0.05,0,1/1\n{row}\n")
    assert refused.details["line"] == 3 and refused.details["field"] == field
    assert refused.message.startswith("line 3: ")


def test_the_header_names_each_column_once() -> None:
    assert _refused("prefix,price,price_per_minute\n49,0.1,0.2\n").details == {"field": "csv"}
    assert _refused("prefix,cost\n49,0.1\n").details == {"field": "csv"}
    assert _refused("").details == {"field": "csv"}
    assert _refused('prefix,price\n49,"0.1\n').details["line"] == 2  # a quote never closed
    assert _refused('prefix,price\n49,"0.1"5\n').details["line"] == 2  # a stray quote
