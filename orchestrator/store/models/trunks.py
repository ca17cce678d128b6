"""SIP trunks and the outbound routes that send calls through them (data functions:
orchestrator/store/trunks.py, orchestrator/store/routes.py).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import _created


# -- SIP trunks ------------------------------------------------------------
class TrunkBase(SQLModel):
    name: str = Field(max_length=40, description="1 to 40 of a-z, 0-9, '-'; unique in the tenant")
    host: str = Field(max_length=253, description="the carrier's IPv4 address or DNS name")
    port: StoreInt = Field(default=5060, description="1 to 65535")
    transport: str = Field(default="udp", max_length=8, description="only 'udp' for now")
    username: str | None = Field(default=None, max_length=40, description="for digest auth")
    from_user: str | None = Field(default=None, max_length=40)
    from_domain: str | None = Field(default=None, max_length=253)
    caller_id_number: str | None = Field(
        default=None, max_length=16, description="caller ID of calls placed through the trunk"
    )
    enabled: bool = True


class Trunk(TrunkBase, table=True):
    __tablename__ = "trunks"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    password: str | None = Field(default=None, max_length=64)
    created_at: datetime = _created()
    updated_at: datetime = _created()

    @property
    def endpoint(self) -> str:
        return trunk_endpoint(self.tenant_id, self.name)

    @property
    def has_password(self) -> bool:
        return bool(self.password)


def trunk_endpoint(tenant_id: StoreInt, name: str) -> str:
    """The engine's endpoint (and AOR, auth) id of a tenant's trunk: ``trunk-t<id>-<name>``.

    Tenant users' ids hold an ``@``, so the two kinds never collide.
    """
    return f"trunk-t{tenant_id}-{name}"


class TrunkCreate(TrunkBase):
    tenant_id: StoreInt
    password: str | None = Field(default=None, max_length=64, description="needs a username")


class TrunkUpdate(SQLModel):
    model_config = refuses_null("name", "host", "port", "transport", "enabled")

    name: str | None = Field(default=None, max_length=40)
    host: str | None = Field(default=None, max_length=253)
    port: StoreInt | None = None
    transport: str | None = Field(default=None, max_length=8)
    username: str | None = Field(default=None, max_length=40)
    password: str | None = Field(default=None, max_length=64)
    from_user: str | None = Field(default=None, max_length=40)
    from_domain: str | None = Field(default=None, max_length=253)
    caller_id_number: str | None = Field(default=None, max_length=16)
    enabled: bool | None = None


class TrunkPublic(TrunkBase):
    """A trunk without its password; ``has_password`` tells whether one is set."""

    id: StoreInt
    tenant_id: StoreInt
    has_password: bool = False
    endpoint: str = Field(description="the engine's endpoint id, trunk-t<tenant_id>-<name>")
    created_at: datetime
    updated_at: datetime


# -- outbound routes -------------------------------------------------------
class OutboundRouteBase(SQLModel):
    name: str = Field(max_length=40, description="1 to 40 of a-z, 0-9, '-'; unique in the tenant")
    prefix: str = Field(default="", max_length=8, description="dialed first: 0 to 8 of 0-9*#")
    strip: StoreInt = Field(default=0, description="leading digits removed, at most len(prefix)")
    prepend: str = Field(default="", max_length=8, description="put in front: 0 to 8 of 0-9+")
    min_length: StoreInt = Field(default=3, description="digits after the prefix, at least")
    max_length: StoreInt = Field(default=20, description="digits after the prefix, at most (24)")
    trunk_id: StoreInt
    priority: StoreInt = Field(default=100, description="0 to 1000; lower is tried first")


class OutboundRoute(OutboundRouteBase, table=True):
    __tablename__ = "outbound_routes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    trunk_id: StoreInt = Field(foreign_key="trunks.id", index=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class OutboundRouteCreate(OutboundRouteBase):
    tenant_id: StoreInt


class OutboundRouteUpdate(SQLModel):
    model_config = refuses_null()

    name: str | None = Field(default=None, max_length=40)
    prefix: str | None = Field(default=None, max_length=8)
    strip: StoreInt | None = None
    prepend: str | None = Field(default=None, max_length=8)
    min_length: StoreInt | None = None
    max_length: StoreInt | None = None
    trunk_id: StoreInt | None = None
    priority: StoreInt | None = None


class OutboundRoutePublic(OutboundRouteBase):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime
    updated_at: datetime
