"""A conference's money: its CDR (one ``conference`` xDR per participant span, all paid
by the owner) and the prepaid authorization of its participants' time.

When a conference ends, :meth:`ConferenceBilling.close` writes one CDR, ``call_id``
``conference-<uuid>``, exactly once (the CDRs' unique ``(node, call_id)``), then hands it
to the CDR listeners, rating first: rating charges each xDR with the owner account's
product's ``conference`` tariff (:mod:`orchestrator.rating.booking`). Each participant's
own voice leg (the call that moved in, a dial-out) keeps its ordinary CDR.

While it runs, the service asks :meth:`ConferenceAuthorizer.authorize` on every join and
leave how long it may go on; a prepaid owner's money is held under the CDR's
``call_id`` until the CDR is rated::

    billing = ConferenceBilling(sessions, listeners=[rating.on_cdr, *other_listeners])
    authorizer = ConferenceAuthorizer(rating)
    left_s = await authorizer.authorize(tenant_id=1, conference_id=uuid, account=None,
                                        extension="101", participants=3, used_s=42.0)
    cdr_id = await billing.close(record)   # None: its CDR was written already
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlmodel import Session

from orchestrator.cdr import Listener
from orchestrator.cdr.finalize import seconds
from orchestrator.conferences.records import ConferenceRecord, ParticipantSpan
from orchestrator.core.errors import PaymentRequiredError, ValidationError
from orchestrator.rating.clicktocall import REFUSALS
from orchestrator.rating.service import RatingService
from orchestrator.store import ledger
from orchestrator.store.billing import account_for_extension
from orchestrator.store.cdrs import write_cdr
from orchestrator.store.models import Cdr, CdrLeg

__all__ = [
    "ConferenceAuthorizer",
    "ConferenceBilling",
    "ConferenceRecord",
    "ParticipantSpan",
    "build",
    "conference_call_id",
]

log = logging.getLogger(__name__)

ROLES = ("owner", "participant")
# A conference is one of the tenant's own services, like a call between its phones.
DIRECTION = "internal"
NORMAL_CLEARING = 16


def conference_call_id(conference_id: str) -> str:
    """The ``call_id`` of the conference's CDR, under which its money is reserved."""
    return f"conference-{conference_id}"


class ConferenceBilling:
    """Writes each finished conference's CDR once and tells ``listeners`` (the CDR
    builder's: rating first, so the others see the charges)."""

    def __init__(self, sessions: Callable[[], Session], *, listeners: list[Listener]) -> None:
        self.sessions = sessions
        self.listeners = listeners

    async def close(self, record: ConferenceRecord) -> int | None:
        """Write the conference's CDR and tell the listeners; returns its id, or None if
        it was written already (a second close writes nothing and tells no one)."""
        _check(record)
        cdr_id = await asyncio.to_thread(self._write, record)
        if cdr_id is None:
            return None
        for listener in list(self.listeners):
            try:
                result = listener(cdr_id)
                if result is not None:
                    await result
            except Exception:
                log.exception("CDR listener %r failed on conference CDR %s", listener, cdr_id)
        return cdr_id

    def _write(self, record: ConferenceRecord) -> int | None:
        with self.sessions() as session:
            payer = _payer_name(session, record)
            cdr, legs = build(record, payer)
            return write_cdr(session, cdr, legs)


def build(record: ConferenceRecord, account: str | None) -> tuple[Cdr, list[CdrLeg]]:
    """The conference's CDR and its xDRs, one per span in the order they joined; every
    xDR names ``account`` (the owner's), so the owner pays for each participant."""
    started, ended = _dt(record.started_at), _dt(record.ended_at)
    legs = []
    spans = sorted(record.spans, key=lambda s: (s.joined_at, s.left_at, s.participant_id))
    for seq, span in enumerate(spans):
        joined, left = _dt(span.joined_at), _dt(max(span.left_at, span.joined_at))
        legs.append(
            CdrLeg(
                seq=seq,
                channel_id=span.leg_id[:64],
                role=span.role,
                service="conference",
                tenant_id=record.tenant_id,
                extension=span.extension,
                number=span.number[:64],
                detail=span.participant_id[:80],
                started_at=joined,
                answered_at=joined,
                ended_at=left,
                billsec=seconds(span.joined_at, span.left_at),
                disposition="answered",
                hangup_cause=NORMAL_CLEARING,
                account=account,
            )
        )
    length = seconds(record.started_at, record.ended_at)
    cdr = Cdr(
        uuid=uuid.uuid4().hex,
        call_id=conference_call_id(record.conference_id),
        node=record.node,
        tenant_id=record.tenant_id,
        direction=DIRECTION,
        caller_number=record.owner_extension or "",
        caller_name=record.name[:80],
        caller_extension=record.owner_extension,
        called_number="",
        started_at=started,
        answered_at=started if legs else None,
        ended_at=ended,
        duration_s=length,
        billsec=length if legs else 0,
        disposition="answered" if legs else "cancelled",
        hangup_cause=NORMAL_CLEARING,
        account=account,
        recordings=list(record.recordings),
        leg_count=len(legs),
        note=f"conference {record.conference_id} {record.name}".strip()[:400],
    )
    return cdr, legs


def _payer_name(session: Session, record: ConferenceRecord) -> str | None:
    """The owner's account, as the xDRs name it: the one the conference named (kept as
    given, as click-to-call keeps its ``account``), else the owner extension's, else the
    tenant's default; None: nobody pays (the xDRs stay unrated, ``no-account``)."""
    if record.account:
        return record.account
    found = account_for_extension(session, record.tenant_id, record.owner_extension)
    return found.name if found is not None else None


def _check(record: ConferenceRecord) -> None:
    if record.ended_at < record.started_at:
        raise ValidationError("ended_at: before started_at", field="ended_at")
    for span in record.spans:
        if span.role not in ROLES:
            raise ValidationError(f"role: one of {', '.join(ROLES)}", field="role")
        if span.left_at < span.joined_at:
            raise ValidationError("left_at: before joined_at", field="left_at")


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class ConferenceAuthorizer:
    """How long a conference may go on, asked of the :class:`RatingService`: joint
    authorization of its participants' time at the owner account's conference tariff."""

    def __init__(self, rating: RatingService) -> None:
        self.rating = rating

    async def authorize(
        self,
        *,
        tenant_id: int,
        conference_id: str,
        account: str | None,
        extension: str | None,
        participants: int,
        used_s: float,
    ) -> float | None:
        """Seconds from now the conference may go on with ``participants`` members,
        ``used_s`` participant-seconds being spent already (count each span's started
        seconds whole, as its xDR will bill them); None: no limit (postpaid,
        nobody pays, no conference tariff). Raises
        :class:`~orchestrator.core.errors.PaymentRequiredError` (409
        ``payment-required``) if not even a second can be paid. A prepaid owner's money
        is reserved under the conference CDR's ``call_id`` (each answer replaces the
        previous reservation); rating the CDR releases it."""
        answer = await asyncio.to_thread(
            self.rating.authorize_conference,
            tenant_id=tenant_id,
            call_id=conference_call_id(conference_id),
            participants=participants,
            used_s=used_s,
            account=account,
            extension=extension,
        )
        log.info(
            "conference %s of tenant %s, %d participants, %.1f s used: %s (%s)",
            conference_id, tenant_id, participants, used_s, answer.answer(), answer.reason,
        )  # fmt: skip
        if answer.decision == "refuse":
            message = REFUSALS.get(
                answer.reason, f"the conference cannot be billed ({answer.reason})"
            )
            raise PaymentRequiredError(
                message.replace("this call", "this conference"),
                reason=answer.reason,
                conference_id=conference_id,
                account=account,
                account_id=answer.account_id,
            )
        if answer.decision == "limit":
            return answer.max_ms / 1000
        return None

    async def release(self, conference_id: str) -> None:
        """Drop the conference's reservation (it ends without a CDR to rate: nobody
        talked)."""
        call_id = conference_call_id(conference_id)

        def work(session: Session) -> int:
            released = ledger.release(session, call_id)
            session.commit()
            return released

        await asyncio.to_thread(ledger.with_retry, self.rating.sessions, work)
