"""Helpers for the CDR unit tests: a SQLite store with a tenant, and scripted channel events.

Times are seconds after ``T0``; channels are named like Asterisk's (``PJSIP/101-0001``,
``Local/103@fwd-0001;1``) with endpoints ``<user>@a.example`` of tenant "A".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from orchestrator.cdr import CdrBuilder, CdrStore
from orchestrator.core import FakeEngine
from orchestrator.core.events import (
    ChannelDialed,
    ChannelEnded,
    ChannelStarted,
    ChannelStateChanged,
    Event,
)
from orchestrator.core.outcomes import ChannelKind
from orchestrator.store.db import SessionFactory, make_engine, session_factory, upgrade
from orchestrator.store.endpoints import EndpointResolver
from orchestrator.store.models import Cdr, CdrLeg, Extension, Tenant, Trunk

T0 = 1_790_000_000.0
DOMAIN = "a.example"
NODE = "node-1"


def at(t: float) -> datetime:
    return datetime.fromtimestamp(T0 + t, UTC)


@dataclass
class Db:
    sessions: SessionFactory
    tenant_id: int

    def store(self) -> CdrStore:
        return CdrStore(self.sessions, EndpointResolver(self.sessions).resolve)

    def cdrs(self) -> list[tuple[Cdr, list[CdrLeg]]]:
        with self.sessions() as s:
            rows = s.exec(select(Cdr).order_by(Cdr.id)).all()  # type: ignore[arg-type]
            return [
                (
                    r,
                    list(
                        s.exec(
                            select(CdrLeg).where(CdrLeg.cdr_id == r.id).order_by(CdrLeg.seq)  # type: ignore[arg-type]
                        ).all()
                    ),
                )
                for r in rows
            ]

    def one(self) -> tuple[Cdr, list[CdrLeg]]:
        rows = self.cdrs()
        assert len(rows) == 1, rows
        return rows[0]


@pytest.fixture
def db(tmp_path: Path) -> Db:
    url = f"sqlite:///{tmp_path / 'cdr.db'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    with sessions() as s:
        tenant = Tenant(name="A", sip_domain=DOMAIN)
        s.add(tenant)
        s.commit()
        assert tenant.id is not None
        for number in ("101", "102", "103", "201"):
            s.add(
                Extension(
                    tenant_id=tenant.id, number=number, sip_username=number, sip_password="x" * 16
                )
            )
        s.add(Trunk(tenant_id=tenant.id, name="carrier", host="192.0.2.1"))
        s.commit()
        return Db(sessions, tenant.id)


@pytest.fixture
async def fake() -> FakeEngine:
    engine = FakeEngine()
    await engine.start()
    return engine


@pytest.fixture
async def builder(db: Db, fake: FakeEngine) -> AsyncIterator[CdrBuilder]:
    b = CdrBuilder(fake, db.store(), node=NODE, grace_s=0.05, heartbeat_s=0.05)
    await b.start()
    yield b
    await b.stop()


def phone(
    channel: str, call: str, t: float, *, user: str, caller: str = "", called: str = ""
) -> ChannelStarted:
    """A SIP phone's channel (``user`` of tenant A) starting at ``t``."""
    return ChannelStarted(
        channel_id=channel,
        call_id=call,
        name=f"PJSIP/{user}-{channel}",
        endpoint=f"{user}@{DOMAIN}",
        caller_number=caller or user,
        called_number=called,
        timestamp=T0 + t,
    )


def alive_again(channel: str, call: str, t: float, *, user: str) -> ChannelStarted:
    """A phone's channel found up by the adapter's reconciliation after a restart."""
    return ChannelStarted(
        channel_id=channel,
        call_id=call,
        name=f"PJSIP/{user}-{channel}",
        endpoint=f"{user}@{DOMAIN}",
        state="up",
        timestamp=T0 + t,
    )


def local(channel: str, call: str, t: float, *, half: int, exten: str) -> ChannelStarted:
    return ChannelStarted(
        channel_id=channel,
        call_id=call,
        name=f"Local/{exten}@fwd-0001;{half}",
        kind=ChannelKind.INTERNAL,
        pair_id=f"Local/{exten}@fwd-0001",
        called_number=exten,
        timestamp=T0 + t,
    )


def dial(dialer: str, peer: str, t: float, status: str = "", call: str = "") -> ChannelDialed:
    return ChannelDialed(
        channel_id=dialer, call_id=call, peer_id=peer, status=status, timestamp=T0 + t
    )


def up(channel: str, t: float, call: str = "") -> ChannelStateChanged:
    return ChannelStateChanged(channel_id=channel, call_id=call, state="up", timestamp=T0 + t)


def end(channel: str, t: float, cause: int = 16, call: str = "") -> ChannelEnded:
    return ChannelEnded(channel_id=channel, call_id=call, cause=cause, timestamp=T0 + t)


async def play(engine: FakeEngine, builder: CdrBuilder, *events: Event) -> None:
    """Emit ``events`` in order, then wait until the builder wrote everything."""
    for event in events:
        await engine.emit(event)
    await builder.flush()
