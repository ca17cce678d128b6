"""The conferences and participants in the store (synchronous: run it in a thread).

The service writes a conference whole (its row and every participant's) after each
change, serialised by the service, so the store always holds a state the service had;
:meth:`ConferenceLedger.load_active` gives a new run the conferences of its node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.conferences.model import Conference, Participant
from orchestrator.store.billing import account_for_extension
from orchestrator.store.models import Conference as ConferenceRow
from orchestrator.store.models import ConferenceParticipant as ParticipantRow

log = logging.getLogger("orchestrator.conferences")


def _moment(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


class ConferenceLedger:
    """See the module doc. ``node`` names the engine node of this service."""

    def __init__(self, sessions: Callable[[], Session], *, node: str = "") -> None:
        self.sessions = sessions
        self.node = node

    def save(self, conf: Conference, *, seen_at: float | None = None) -> dict[str, int]:
        """Write the conference (a copy the caller no longer changes) and its
        participants; returns the row ids by uuid (the conference's and each one's)."""
        with self.sessions() as session:
            try:
                return self._save(session, conf, seen_at)
            except sa.exc.IntegrityError:  # its tenant was deleted meanwhile: not kept
                session.rollback()
                log.warning("conference %s of a deleted tenant not stored", conf.uuid)
                return {}

    def _save(self, session: Session, conf: Conference, seen_at: float | None) -> dict[str, int]:
        row = session.get(ConferenceRow, conf.row_id) if conf.row_id is not None else None
        if row is None:
            row = ConferenceRow(uuid=conf.uuid, tenant_id=conf.tenant_id, node=conf.node)
        row.name, row.account = conf.name, conf.account
        row.owner_extension = conf.owner_extension
        row.created_by, row.room_id, row.state = conf.created_by, conf.room_id, conf.state
        row.locked, row.max_participants = conf.locked, conf.max_participants
        row.recording, row.end_reason = conf.recording, conf.end_reason
        row.started_at = _moment(conf.started_at) or row.started_at
        row.ended_at = _moment(conf.ended_at)
        row.seen_at = _moment(seen_at or datetime.now(UTC).timestamp()) or row.seen_at
        session.add(row)
        session.flush()
        assert row.id is not None
        ids = {conf.uuid: row.id}
        for p in conf.participants:
            prow = session.get(ParticipantRow, p.row_id) if p.row_id is not None else None
            if prow is None:
                prow = ParticipantRow(conference_id=row.id, uuid=p.uuid, leg_id=p.leg_id)
            _fill(prow, p)
            session.add(prow)
            session.flush()
            assert prow.id is not None
            ids[p.uuid] = prow.id
        session.commit()
        return ids

    def touch(self, conferences: list[Conference], at: float) -> None:
        """Note that these conferences were alive at ``at`` (see ConferenceRow.seen_at)."""
        ids = [c.row_id for c in conferences if c.row_id is not None]
        if not ids:
            return
        with self.sessions() as session:
            for row in session.exec(select(ConferenceRow).where(col(ConferenceRow.id).in_(ids))):
                row.seen_at = _moment(at) or row.seen_at
                session.add(row)
            session.commit()

    def load_active(self) -> list[tuple[Conference, float]]:
        """The active conferences of this node, each with when it was last seen alive."""
        with self.sessions() as session:
            rows = session.exec(
                select(ConferenceRow).where(
                    ConferenceRow.node == self.node, ConferenceRow.state == "active"
                )
            ).all()
            return [(_conference(session, row), row.seen_at.timestamp()) for row in rows]

    def payer(self, tenant_id: int, extension: str | None) -> str | None:
        """The account that pays for ``extension`` (its own, else the tenant's default):
        a conference's payer when none is named, as click-to-call's caller pays."""
        with self.sessions() as session:
            found = account_for_extension(session, tenant_id, extension)
            return found.name if found is not None else None

    def find(self, conference_uuid: str) -> Conference | None:
        with self.sessions() as session:
            row = session.exec(
                select(ConferenceRow).where(ConferenceRow.uuid == conference_uuid)
            ).first()
            return _conference(session, row) if row is not None else None

    def list(
        self, *, tenant_id: int | None, state: str | None, limit: int = 200
    ) -> list[Conference]:
        """Newest first; ``state`` None for all."""
        with self.sessions() as session:
            query = select(ConferenceRow)
            if tenant_id is not None:
                query = query.where(ConferenceRow.tenant_id == tenant_id)
            if state is not None:
                query = query.where(ConferenceRow.state == state)
            query = query.order_by(col(ConferenceRow.id).desc()).limit(limit)
            return [_conference(session, row) for row in session.exec(query).all()]


def _fill(prow: ParticipantRow, p: Participant) -> None:
    prow.role, prow.number, prow.extension = p.role, p.number[:32], p.extension
    prow.caller_id, prow.via, prow.state = p.caller_id[:32], p.via, p.state
    prow.muted, prow.deaf, prow.held, prow.moderator = p.muted, p.deaf, p.held, p.moderator
    prow.coaching = p.coaching
    prow.invited_at = _moment(p.invited_at) or prow.invited_at
    prow.joined_at, prow.left_at = _moment(p.joined_at), _moment(p.left_at)
    prow.left_reason = p.left_reason


def _conference(session: Session, row: ConferenceRow) -> Conference:
    conf = Conference(
        tenant_id=row.tenant_id,
        node=row.node,
        name=row.name,
        owner_extension=row.owner_extension,
        account=row.account,
        created_by=row.created_by,
        room_id=row.room_id,
        state="ended" if row.state == "ended" else "active",
        locked=row.locked,
        max_participants=row.max_participants,
        recording=row.recording,
        started_at=row.started_at.timestamp(),
        ended_at=_ts(row.ended_at),
        end_reason=row.end_reason,
        uuid=row.uuid,
        row_id=row.id,
    )
    prows = session.exec(
        select(ParticipantRow)
        .where(ParticipantRow.conference_id == row.id)
        .order_by(col(ParticipantRow.id))
    ).all()
    for prow in prows:
        conf.participants.append(
            Participant(
                leg_id=prow.leg_id,
                number=prow.number,
                extension=prow.extension,
                caller_id=prow.caller_id,
                role=prow.role,
                via=prow.via,
                state=prow.state,  # type: ignore[arg-type]
                muted=prow.muted,
                deaf=prow.deaf,
                held=prow.held,
                moderator=prow.moderator,
                coaching=prow.coaching,
                invited_at=prow.invited_at.timestamp(),
                joined_at=_ts(prow.joined_at),
                left_at=_ts(prow.left_at),
                left_reason=prow.left_reason,
                uuid=prow.uuid,
                row_id=prow.id,
            )
        )
    return conf
