"""An extension's own lists: its speed dials and its blacklist (docs/pbx.md, "Speed dial"
and "Blocking callers"; service functions: orchestrator/store/ext_features.py).

Both hold only checked values: a speed dial's ``number`` is digits an extension of the
tenant or one of its outbound routes takes (checked when written), a blacklist entry's
``number`` digits with an optional leading ``+``. An extension with a blacklist entry is
*managed* (its calls run through the ``pbx_extension`` flow, which checks the caller).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models.columns import _created

_STRICT: Any = {"extra": "forbid", "strict": True}

BlockMatch = Literal["exact", "prefix"]
BlockAction = Literal["reject", "prompt"]


class SpeedDial(SQLModel, table=True):
    __tablename__ = "speed_dials"
    __table_args__ = (sa.UniqueConstraint("extension_id", "slot"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    extension_id: StoreInt = Field(foreign_key="extensions.id", ondelete="CASCADE", index=True)
    slot: str = Field(max_length=2)
    number: str = Field(max_length=20)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class BlacklistEntry(SQLModel, table=True):
    __tablename__ = "extension_blacklist"
    __table_args__ = (sa.UniqueConstraint("extension_id", "number", "match"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    extension_id: StoreInt = Field(foreign_key="extensions.id", ondelete="CASCADE", index=True)
    number: str = Field(max_length=21)
    match: str = Field(max_length=6)
    action: str = Field(max_length=6)
    created_at: datetime = _created()


# -- the API's shapes ----------------------------------------------------------------------
class SpeedDialEntry(SQLModel):
    slot: str = Field(description="two digits, 00 to 99: dialed after the speed-dial code")
    number: str = Field(
        description="what the phone dials: an extension of the tenant or a number one of "
        "its outbound routes takes (2 to 20 digits)"
    )


class SpeedDialEntryIn(SpeedDialEntry):
    """One slot of a ``PUT .../speed-dials`` (strict: unknown fields are refused)."""

    model_config = _STRICT


class SpeedDialSet(SQLModel):
    """``PUT .../speed-dials/{slot}``: the slot's number."""

    model_config = _STRICT

    number: str = Field(max_length=20, description="2 to 20 digits")


class SpeedDialsPut(SQLModel):
    """``PUT .../speed-dials``: the whole table (slots left out are cleared)."""

    model_config = _STRICT

    entries: list[SpeedDialEntryIn] = Field(default_factory=list, description="at most 100")


class SpeedDialsPublic(SQLModel):
    extension_id: StoreInt
    tenant_id: StoreInt
    extension: str = Field(description="the extension's number")
    entries: list[SpeedDialEntry]


class BlacklistEntryIn(SQLModel):
    model_config = _STRICT

    number: str = Field(
        max_length=21,
        description="the caller's number, digits with an optional leading +, or 'anonymous' "
        "(every caller without a number: withheld, anonymous, unknown; exact only)",
    )
    match: BlockMatch = Field(
        default="exact", description="'exact': that number; 'prefix': every number it starts"
    )
    action: BlockAction = Field(
        default="reject",
        description="'reject': the call is refused (cause 21, call rejected); 'prompt': "
        "the caller hears that the number is not in service, then the call ends",
    )


class BlacklistEntryPublic(BlacklistEntryIn):
    id: StoreInt


class BlacklistPut(SQLModel):
    """``PUT .../blacklist``: the whole list (an empty list unblocks everyone)."""

    model_config = _STRICT

    entries: list[BlacklistEntryIn] = Field(default_factory=list, description="at most 200")


class BlacklistPublic(SQLModel):
    extension_id: StoreInt
    tenant_id: StoreInt
    extension: str = Field(description="the extension's number")
    managed: bool = Field(description="calls to the extension run through the orchestrator")
    entries: list[BlacklistEntryPublic]
