"""orchestrator.bounds: StoreInt adds the store's range to a field's own bounds."""

from __future__ import annotations

import pydantic
import pytest
from pydantic import BaseModel, Field

from orchestrator.bounds import STORE_INT_MAX, STORE_INT_MIN, IsoDateTime, StoreInt


class Digits(BaseModel):
    max_digits: StoreInt = Field(default=1, ge=1, le=64)
    count: StoreInt | None = None
    at: IsoDateTime | None = None


def test_a_fields_own_bounds_stay() -> None:
    """An Interval in StoreInt replaced Field(le=64): 99 digits went through."""
    for bad in [0, 65, 99, 2**63]:
        with pytest.raises(pydantic.ValidationError):
            Digits(max_digits=bad)
    assert Digits(max_digits=64).max_digits == 64
    prop = Digits.model_json_schema()["properties"]["max_digits"]
    assert (prop["minimum"], prop["maximum"], prop["format"]) == (1, 64, "int32")


def test_the_store_range() -> None:
    assert Digits(count=STORE_INT_MAX).count == STORE_INT_MAX
    assert Digits(count=STORE_INT_MIN).count == STORE_INT_MIN
    for bad in [STORE_INT_MAX + 1, STORE_INT_MIN - 1, 2**63]:
        with pytest.raises(pydantic.ValidationError, match="from -2147483648 to 2147483647"):
            Digits(count=bad)


def test_times_are_iso_8601_only() -> None:
    assert Digits(at="2026-01-31T12:00:00Z").at is not None
    for bad in [0.5, 1700000000, "1700000000", "0.5", "soon"]:
        with pytest.raises(pydantic.ValidationError, match="ISO 8601"):
            Digits(at=bad)
