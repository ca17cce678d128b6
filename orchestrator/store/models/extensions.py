"""Extensions (the SIP endpoints of a tenant's users) and their aliases (data functions:
orchestrator/store/crud.py, orchestrator/store/endpoints.py, orchestrator/store/redirects.py).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import _created
from orchestrator.validation import schema_pattern


# -- extensions ------------------------------------------------------------
class ExtensionBase(SQLModel):
    number: str = Field(
        max_length=10,
        description="2 to 10 digits, unique within the tenant",
        schema_extra=schema_pattern("extension_number"),
    )
    name: str = Field(default="", max_length=80, description="the extension's name")
    first_name: str = Field(default="", max_length=80)
    last_name: str = Field(default="", max_length=80)
    email: str | None = Field(default=None, max_length=254)
    caller_id_name: str = Field(default="", max_length=80)
    caller_id_number: str = Field(default="", max_length=16)
    enabled: bool = True


class Extension(ExtensionBase, table=True):
    __tablename__ = "extensions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number"),
        sa.UniqueConstraint("tenant_id", "sip_username"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    sip_username: str = Field(max_length=40)
    sip_password: str = Field(max_length=64)
    # A standing redirect (agent busy/away): calls to the extension go there instead.
    redirect_to: str | None = Field(default=None, max_length=32)
    redirect_reason: str = Field(default="", max_length=40)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class ExtensionCreate(ExtensionBase):
    sip_username: str | None = Field(
        default=None, max_length=40, description="defaults to the extension number"
    )


class ExtensionUpdate(SQLModel):
    model_config = refuses_null(
        "number", "sip_username", "name", "first_name", "last_name", "caller_id_name", "enabled"
    )

    number: str | None = Field(
        default=None, max_length=10, schema_extra=schema_pattern("extension_number")
    )
    name: str | None = Field(default=None, max_length=80)
    first_name: str | None = Field(default=None, max_length=80)
    last_name: str | None = Field(default=None, max_length=80)
    email: str | None = Field(default=None, max_length=254)
    caller_id_name: str | None = Field(default=None, max_length=80)
    caller_id_number: str | None = Field(default=None, max_length=16)
    sip_username: str | None = Field(default=None, max_length=40)
    enabled: bool | None = None


class ExtensionPublic(ExtensionBase):
    id: StoreInt
    tenant_id: StoreInt
    sip_username: str
    redirect_to: str | None = Field(
        default=None,
        description="standing redirect: 'extension:<number>' or 'number:<digits>'; null: none",
    )
    redirect_reason: str = ""
    created_at: datetime
    updated_at: datetime


class ExtensionRedirect(SQLModel):
    """``PUT .../extensions/{id}/redirect``: where the extension's calls go instead."""

    to: str = Field(
        max_length=40,
        description="'102' / 'extension:102' (same tenant) or a number an outbound route "
        "matches ('0044207946000', 'number:...')",
    )
    reason: str = Field(default="", max_length=40, description="busy, away, dnd or a short text")


class ExtensionCreated(ExtensionPublic):
    """Returned once, by the create call: the only list-free view with the password."""

    sip_password: str


class SipCredentials(SQLModel):
    extension_id: StoreInt
    sip_username: str
    sip_password: str
    sip_domain: str


# -- aliases ---------------------------------------------------------------
class AliasBase(SQLModel):
    alias: str = Field(max_length=100, description="e.g. 12065552453@pstn; unique overall")
    extension_id: StoreInt


class Alias(AliasBase, table=True):
    __tablename__ = "aliases"
    __table_args__ = (sa.UniqueConstraint("alias"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    extension_id: StoreInt = Field(foreign_key="extensions.id", ondelete="CASCADE", index=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    created_at: datetime = _created()


class AliasCreate(AliasBase):
    pass


class AliasUpdate(SQLModel):
    model_config = refuses_null("alias", "extension_id")

    alias: str | None = Field(default=None, max_length=100)
    extension_id: StoreInt | None = None


class AliasPublic(AliasBase):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime
