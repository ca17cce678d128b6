"""The endpoint → (tenant, extension | trunk) resolver used by observation features."""

from __future__ import annotations

from sqlmodel import Session

from orchestrator.store.db import SessionFactory
from orchestrator.store.endpoints import EndpointOwner, EndpointResolver
from orchestrator.store.models import Extension, Tenant, Trunk


def test_resolves_extensions_and_trunks(db_sessions: SessionFactory) -> None:
    sessions = db_sessions
    with sessions() as session:
        assert isinstance(session, Session)
        tenant = Tenant(name="acme", sip_domain="acme.example")
        session.add(tenant)
        session.commit()
        assert tenant.id is not None
        session.add(
            Extension(tenant_id=tenant.id, number="101", sip_username="alice", sip_password="x")
        )
        session.add(Trunk(tenant_id=tenant.id, name="carrier", host="192.0.2.1"))
        session.commit()
        tid = tenant.id
    owners = EndpointResolver(sessions)
    assert owners.resolve("alice@acme.example") == EndpointOwner(tid, "extension", "101")
    assert owners.resolve(f"trunk-t{tid}-carrier") == EndpointOwner(tid, "trunk", "carrier")
    assert owners.resolve("bob@acme.example") is None
    assert owners.resolve(f"trunk-t{tid}-other") is None
    assert owners.resolve("") is None
    assert owners.resolve("nodomain") is None
