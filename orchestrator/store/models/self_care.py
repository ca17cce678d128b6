"""What ``/api/v1/me`` answers (data functions: orchestrator/store/self_care.py; the role
in docs/roles.md, the user's view in docs/pbx.md). No table: views of api_users, tenants,
extensions and CDRs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models.tenants import Role


class MePublic(SQLModel):
    """``GET /api/v1/me``: who the caller is."""

    user_id: StoreInt
    name: str
    role: Role
    tenant_id: StoreInt | None = Field(description="null for a system admin")
    tenant_name: str | None = None
    sip_domain: str | None = Field(default=None, description="the tenant's SIP domain")
    extension_id: StoreInt | None = Field(
        default=None, description="a self-care user's or an agent's own extension"
    )
    extension: str | None = Field(default=None, description="its number")
    extension_name: str | None = None


class MyCallPublic(SQLModel):
    """One call of the caller's own extension (``GET /api/v1/me/calls``).

    A narrower view of a CDR than ``/api/v1/cdrs``: who called whom and how it ended;
    no account, charge, recordings or the call's other legs, which are the tenant's.
    """

    id: StoreInt = Field(description="the CDR's id")
    call_id: str
    party: Literal["caller", "callee"] = Field(
        description="caller: the call came from this extension; callee: it rang this one"
    )
    direction: str = Field(description="internal, outbound or inbound")
    caller_number: str
    caller_name: str
    caller_extension: str | None
    called_number: str
    called_extension: str | None
    answered_by: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    duration_s: StoreInt
    billsec: StoreInt
    disposition: str
