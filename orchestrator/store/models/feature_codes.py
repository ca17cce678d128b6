"""Feature codes per tenant: only what a tenant changed (data functions:
orchestrator/store/feature_codes.py; the catalogue and defaults: orchestrator/pbx/codes.py).

A row overrides one action's code (``code``; NULL keeps the default) or turns it off
(``enabled`` false); an action without a row has its default code, on. The API's view
(:class:`FeatureCodePublic`) is always the whole table, defaults included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models.columns import _created


class FeatureCode(SQLModel, table=True):
    __tablename__ = "feature_codes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "action"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    action: str = Field(max_length=40)
    code: str | None = Field(default=None, max_length=7)
    enabled: bool = True
    updated_at: datetime = _created()


class FeatureCodePublic(SQLModel):
    action: str = Field(description="what the code does (docs/pbx.md, Feature codes)")
    code: str = Field(description="what the tenant's phones dial")
    default: str = Field(description="the code when the tenant has not changed it")
    enabled: bool = Field(description="false: dialing the code is an invalid number")
    argument: str = Field(
        description="none: the code alone; digits: the code then 1-20 digits (*97102); "
        "optional: either"
    )
    description: str


class FeatureCodeTable(SQLModel):
    tenant_id: StoreInt
    codes: list[FeatureCodePublic]


def _strict() -> Any:
    # An unknown field (a mistyped "code") is refused rather than ignored.
    return ConfigDict(strict=True, extra="forbid")


class FeatureCodesUpdate(SQLModel):
    """Changes to a tenant's codes; actions not named keep theirs."""

    model_config = _strict()

    codes: dict[str, str | None] = Field(
        default_factory=dict,
        max_length=64,
        description='action -> its new code ("*72"), or null: back to the default',
    )
    enabled: dict[str, bool] = Field(
        default_factory=dict,
        max_length=64,
        description="action -> false turns its code off, true on again",
    )
