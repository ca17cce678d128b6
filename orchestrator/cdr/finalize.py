"""Turn a finished :class:`~orchestrator.cdr.tracker.OpenCall` into a CDR and its xDRs.

Parties are the channels that are not the engine's plumbing (loopback channel halves
are folded: a party dialed through a loopback channel, Asterisk's Local, counts as dialed
by whoever dialed the loopback).
Roles, unless a feature noted one (click-to-call ``click-to-call-a``/``-b``, IVR dials):

- ``caller``: the first party nobody (no party) dialed;
- ``transferred``: a party reached after an earlier callee had answered (blind transfer);
- ``forwarded``: a party reached after the earlier callees had all ended unanswered
  (forward on busy / no answer), or an extension other than the one the caller dialed
  (a standing redirect);
- ``callee``: any other dialed party (including parallel ringing).

Each party is one xDR (service ``voice``, ``forwarded`` or ``click_to_call``); each
service span is one more (an IVR app: role and service ``ivr``, the app in ``detail``).
Tenant and extension come from the endpoint resolver. See docs/cdrs.md.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from orchestrator.cdr.disposition import (
    DIAL_STATUS,
    NORMAL_CAUSES,
    Direction,
    Disposition,
    decide,
    default_cause,
    disposition_for_cause,
)
from orchestrator.cdr.tracker import ChannelTrack, OpenCall
from orchestrator.core.outcomes import HangupCause
from orchestrator.store.endpoints import EndpointOwner
from orchestrator.store.models import Cdr, CdrLeg

Resolve = Callable[[str], EndpointOwner | None]


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def maybe_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def seconds(start: float | None, end: float | None) -> int:
    """Whole seconds from ``start`` to ``end``, a started second counting as one."""
    if start is None or end is None or end <= start:
        return 0
    # Milliseconds first, so float noise (5.0000001 s) does not add a second.
    return math.ceil(round((end - start) * 1000) / 1000)


def _origin(track: ChannelTrack, call: OpenCall) -> ChannelTrack | None:
    """The party that (through any loopback channels) dialed ``track``, or None."""
    seen: set[str] = set()
    current: ChannelTrack | None = track
    while current is not None and current.id not in seen:
        seen.add(current.id)
        dialer = call.channels.get(current.dialed_by or "")
        if dialer is None and current is not track and current.loopback_pair:
            # One half of a loopback channel runs the dialplan; the other one was dialed.
            dialer = next(
                (
                    c
                    for c in call.channels.values()
                    if c.loopback_pair == current.loopback_pair and c.id != current.id
                ),
                None,
            )
            if dialer is not None and dialer.id not in seen:
                current = dialer
                continue
            return None
        if dialer is None:
            return None
        if not dialer.plumbing:
            return dialer
        current = dialer
    return None


def _roles(call: OpenCall, owners: dict[str, EndpointOwner | None]) -> dict[str, str]:
    parties = sorted((c for c in call.channels.values() if not c.plumbing), key=lambda c: c.seq)
    roles: dict[str, str] = {}
    caller: ChannelTrack | None = None
    callees: list[ChannelTrack] = []
    for track in parties:
        origin = _origin(track, call)
        if origin is None and caller is None and track.dialed_by is None:
            caller = track
            roles[track.id] = track.role or "caller"
            continue
        if track.role:
            roles[track.id] = track.role
            callees.append(track)
            continue
        earlier = sorted(callees, key=lambda c: c.started)
        after_unanswered = bool(earlier) and all(
            c.ended is not None and c.ended <= track.started for c in earlier
        )
        role = "callee"
        if any(c.answered is not None and c.answered <= track.started for c in earlier):
            role = "transferred"
        elif after_unanswered or (caller is not None and _redirected(caller, track, owners)):
            role = "forwarded"
        roles[track.id] = role
        callees.append(track)
    return roles


def _redirected(
    caller: ChannelTrack, callee: ChannelTrack, owners: dict[str, EndpointOwner | None]
) -> bool:
    """The caller dialed one of its tenant's extensions and another one was reached."""
    a, b = owners.get(caller.endpoint), owners.get(callee.endpoint)
    dialed = caller.called_number
    return (
        a is not None
        and b is not None
        and a.kind == b.kind == "extension"
        and a.tenant_id == b.tenant_id
        and dialed.isdigit()
        and dialed != b.name
        and dialed != a.name
    )


def _party_name(owner: EndpointOwner | None, track: ChannelTrack) -> str:
    """An extension's number; the number a trunk leg was sent to, else the trunk's name;
    an unknown party's number."""
    if owner is None:
        return track.called_number or track.caller_number
    if owner.kind == "extension":
        return owner.name
    return track.called_number if track.called_number.lstrip("+").isdigit() else owner.name


def _first_number(callees: list[ChannelTrack]) -> str:
    """What was called, when the caller's channel does not say (a click-to-call's leg A
    was originated): the first callee's number."""
    return next((c.called_number for c in callees if c.called_number), "")


def _dial_cause(statuses: list[str]) -> int | None:
    for status in reversed(statuses):
        known = DIAL_STATUS.get(status)
        if known is not None and known[0] is not Disposition.ANSWERED:
            return int(known[1])
    return None


def _extension(owner: EndpointOwner | None) -> str | None:
    return owner.name if owner is not None and owner.kind == "extension" else None


def _leg_disposition(track: ChannelTrack, call_disposition: Disposition, caller: bool) -> str:
    if track.answered is not None:
        return Disposition.ANSWERED
    if caller:
        return call_disposition
    known = DIAL_STATUS.get(track.dial_status)
    if known is not None and known[0] is not Disposition.ANSWERED:
        return known[0]
    return disposition_for_cause(track.cause or 0)


# How close to the first party's end another party's abnormal end counts as the same one.
_SAME_END_S = 2.0


def _abnormal_end(ended: list[ChannelTrack]) -> int | None:
    """The abnormal cause an answered party ended with, right as the call ended.

    Dial() hangs up the callee (16) before the caller's own channel is gone, so when
    the engine cleared the caller's channel (a phone that vanished: no RTP, 44) the
    callee still ends first, "normally"; the caller's cause is why the call ended.
    """
    first = ended[0].ended if ended else None
    for track in ended:
        if (
            first is not None
            and track.ended is not None
            and track.ended - first <= _SAME_END_S
            and track.answered is not None
            and track.cause
            and track.cause not in NORMAL_CAUSES
        ):
            return track.cause
    return None


def build(call: OpenCall, *, node: str, resolve: Resolve) -> tuple[Cdr, list[CdrLeg]]:
    """The CDR row and its xDR rows for the finished ``call`` (not yet added to a session)."""
    parties = sorted((c for c in call.channels.values() if not c.plumbing), key=lambda c: c.seq)
    owners = {c.endpoint: resolve(c.endpoint) for c in parties if c.endpoint}
    roles = _roles(call, owners)
    first = min(call.channels.values(), key=lambda c: c.seq)
    caller = next((c for c in parties if roles.get(c.id) in ("caller", "click-to-call-a")), None)
    callees = [c for c in parties if c is not caller]

    answers = [c.answered for c in parties if c.answered is not None]
    answer = min(answers) if answers else None
    end = max((c.ended for c in call.channels.values() if c.ended is not None), default=None)
    end = end if end is not None else call.last_seen
    ended = sorted((c for c in parties if c.ended is not None), key=lambda c: c.ended or 0)
    first_cause = next((c.cause for c in ended if c.cause), None)
    disposition = decide(answer is not None, call.dial_statuses, first_cause)
    cause = first_cause or default_cause(disposition)
    normal = cause == HangupCause.NORMAL_CLEARING
    if answer is None and normal and disposition is not Disposition.CANCELLED:
        # "Normal clearing" of an unanswered call says nothing (Asterisk hangs up a
        # callee that rang out with 16): the dial outcome's cause is the real one.
        cause = _dial_cause(call.dial_statuses) or default_cause(disposition)
    elif answer is not None and normal:
        cause = _abnormal_end(ended) or cause

    def owner(track: ChannelTrack | None) -> EndpointOwner | None:
        return owners.get(track.endpoint) if track is not None else None

    caller_owner = owner(caller)
    kinds = {o.kind for o in (owner(c) for c in parties) if o is not None}
    span_tenants = [s.tenant_id for s in call.spans if s.tenant_id is not None]
    note_tenants = [c.tenant_id for c in parties if c.tenant_id is not None]
    callee_tenants = [o.tenant_id for o in (owner(c) for c in callees) if o is not None]
    tenant_candidates = (
        [caller_owner.tenant_id]
        if caller_owner is not None
        else [*note_tenants, *span_tenants, *callee_tenants]
    )
    tenant_id = tenant_candidates[0] if tenant_candidates else None
    callee_kinds = {o.kind for o in (owner(c) for c in callees) if o is not None}
    if caller is not None and caller.role.startswith("click-to-call"):
        # The orchestrator placed both legs: outbound when one of them leaves by a trunk.
        inbound = False
        callee_kinds |= kinds
    elif caller is not None:
        # A trunk, or a party no tenant owns (anonymous), called in.
        inbound = caller_owner is None or caller_owner.kind == "trunk"
    else:
        inbound = False  # originated from the engine itself (console, Local channel)
    if inbound:
        direction = Direction.INBOUND
    else:
        direction = Direction.OUTBOUND if "trunk" in callee_kinds else Direction.INTERNAL

    called_ext = next(
        (o.name for o in (owner(c) for c in callees) if o is not None and o.kind == "extension"),
        None,
    )
    answered_by = next(
        (
            _party_name(owner(c), c)
            for c in sorted(callees, key=lambda c: c.answered or 0)
            if c.answered is not None
        ),
        None,
    )
    head = caller or first
    # The orchestrator placed a click-to-call's leg A too: the number it was sent to
    # (noted by CTI) is the caller's, and leg B's is what was called.
    placed = caller is not None and caller.role == "click-to-call-a"
    if placed and head.called_number:
        caller_number, called_number = head.called_number, _first_number(callees)
    else:
        caller_number = head.caller_number
        called_number = head.called_number or _first_number(callees) or first.called_number
    cdr = Cdr(
        uuid=uuid.uuid4().hex,
        node=node,
        call_id=call.key,
        tenant_id=tenant_id,
        direction=str(direction),
        caller_number=(caller_number or "")[:64],
        caller_name=(head.caller_name or "")[:80],
        caller_extension=_extension(caller_owner),
        called_number=(called_number or "")[:64],
        called_extension=called_ext,
        answered_by=(answered_by or None) and str(answered_by)[:64],
        started_at=to_datetime(call.started),
        answered_at=maybe_datetime(answer),
        ended_at=to_datetime(end),
        duration_s=seconds(call.started, end),
        billsec=seconds(answer, end),
        disposition=str(disposition),
        hangup_cause=cause,
        account=call.account,
        recordings=list(call.recordings),
        leg_count=0,
        note="; ".join(call.notes)[:400] or None,
    )
    legs: list[CdrLeg] = []
    for track in parties:
        role = roles.get(track.id, "callee")
        o = owner(track)
        service = track.service or ("forwarded" if role == "forwarded" else "voice")
        is_caller = track is caller
        # Who called: their own number; a party called (or a placed leg A): its number.
        own = track.caller_number if is_caller and not placed else track.called_number
        legs.append(
            CdrLeg(
                seq=len(legs),
                channel_id=track.id,
                role=role,
                service=service,
                endpoint=track.endpoint[:120],
                tenant_id=o.tenant_id if o else track.tenant_id,
                extension=o.name if o and o.kind == "extension" else None,
                trunk=o.name if o and o.kind == "trunk" else None,
                number=own[:64] or (o.name if o else ""),
                detail=track.detail[:80] or None,
                started_at=to_datetime(track.started),
                answered_at=maybe_datetime(track.answered),
                ended_at=to_datetime(track.ended if track.ended is not None else end),
                billsec=seconds(track.answered, track.ended if track.ended is not None else end),
                disposition=_leg_disposition(track, disposition, is_caller),
                hangup_cause=track.cause or None,
                account=track.account or call.account,
            )
        )
    for span in call.spans:
        host = call.channels.get(span.channel_id)
        span_end = span.ended or (host.ended if host else None) or end
        legs.append(
            CdrLeg(
                seq=len(legs),
                channel_id=span.channel_id,
                role=span.role,
                service=span.service,
                endpoint="",
                tenant_id=span.tenant_id if span.tenant_id is not None else tenant_id,
                number=(host.called_number if host else "")[:64],
                extension=span.extension[:10] or None,
                detail=span.detail[:80] or None,
                started_at=to_datetime(span.started),
                answered_at=maybe_datetime(span.answered),
                ended_at=to_datetime(span_end),
                billsec=seconds(span.answered, span_end),
                disposition=Disposition.ANSWERED if span.answered else disposition,
                account=span.account or call.account,
            )
        )
    cdr.leg_count = len(legs)
    return cdr, legs
