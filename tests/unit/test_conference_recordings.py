"""A conference's recording (a room's with ``record``, or one started through the API)
is tracked by the recordings feature like a call's: a row for the conference's tenant
when it starts, ``local`` (due for upload to S3) when it is done, and linked to the
conference's CDR by its name."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from orchestrator.conferences import ConferenceLedger, ConferenceService
from orchestrator.core import FakeEngine
from orchestrator.cti import CtiService
from orchestrator.ivr import StaticDirectory
from orchestrator.recordings.service import RecordingService
from orchestrator.store import recordings as store
from orchestrator.store.db import SessionFactory, make_engine, session_factory, upgrade
from orchestrator.store.models import Cdr, Recording, RecordingState, Tenant


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[SessionFactory]:
    url = f"sqlite:///{tmp_path / 'rec.db'}"
    upgrade(url)
    sql = make_engine(url)
    factory = session_factory(sql)
    with factory() as session:
        session.add(Tenant(name="A", sip_domain="a.example"))
        session.add(Tenant(name="B", sip_domain="b.example"))
        session.commit()
    yield factory
    sql.dispose()


async def test_a_conference_recording_is_tracked_and_linked(sessions: SessionFactory) -> None:
    engine = FakeEngine()
    await engine.start()
    cti = CtiService(engine, StaticDirectory(engine))
    service = ConferenceService(engine, cti, ConferenceLedger(sessions, node="n1"), node="n1")
    recordings = RecordingService(engine, sessions, node="n1")
    recordings.name_lookups.append(service.tenant_of_recording)
    await service.start()
    await recordings.start()
    try:
        conf = await service.create(tenant_id=2, scope=None, principal_user_id=None,
                                    call_id=None, record=True, room_id=1)  # fmt: skip
        name = conf["recording"]
        assert name is not None and service.tenant_of_recording(name) == 2
        assert service.tenant_of_recording("conference-nope-1") is None
        await service.end(conf["id"], scope=None)
        await recordings.flush()
        with sessions() as session:
            row = session.exec(select(Recording).where(Recording.name == name)).one()
            assert (row.tenant_id, row.leg_id, row.state) == (2, "", RecordingState.LOCAL)
            now = datetime.now(UTC)
            cdr = Cdr(uuid="c" * 32, call_id=f"conference-{conf['id']}", tenant_id=2,
                      direction="internal", started_at=now, ended_at=now, duration_s=0,
                      billsec=0, disposition="answered", hangup_cause=16, node="n1",
                      recordings=[name])  # fmt: skip
            session.add(cdr)
            session.commit()
            assert cdr.id is not None
            assert store.link_cdr(session, cdr.id) == 1
            session.refresh(row)
            assert (row.cdr_id, row.call_id) == (cdr.id, f"conference-{conf['id']}")
    finally:
        await recordings.stop()
        await service.stop()
