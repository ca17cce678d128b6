"""ConferenceService: conferences made of CTI calls and dial-outs, controlled by the API.

Every command takes the caller's ``scope`` (its tenant, None for a system admin: another
tenant's conference is 404) and ``by`` (an agent's API user id: only the conferences it
created; None for admins). The engine's side is :attr:`Engine.conferences`; what the
engine reports (members joining, leaving, flags, talking) is followed in
:mod:`orchestrator.conferences.tracking`, which this class extends.

Behaviour (docs/conferences.md): a conference never ends because someone hangs up, its
owner included; it ends when its last participant leaves (``empty``), on :meth:`end`,
or when the owner's money runs out (``no-money``). Its participants' legs are kept
(:meth:`Engine.keep`) while they are in it, so a restart of the orchestrator leaves them
talking and the next run takes the conference back (see ``tracking.adopt``).

Example::

    service = ConferenceService(engine, cti, ledger)
    conf = await service.create(tenant_id=1, scope=1, principal_user_id=7, call_id=call_id)
    bob = await service.add(conf["id"], scope=1, destination="103")
    await service.set_muted(conf["id"], bob["id"], True, scope=1)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from orchestrator.conferences.calls import (
    ACCOUNT,
    CALLER_ID,
    EXTENSION,
    check_call,
    check_create,
    plain_id,
    take_call,
)
from orchestrator.conferences.errors import (
    ConferenceFullError,
    ConferenceLockedError,
    ConferenceStateError,
)
from orchestrator.conferences.model import Conference, Participant
from orchestrator.conferences.tracking import Tracking
from orchestrator.core.errors import (
    LegGoneError,
    NotFoundError,
    OrchestratorError,
    ValidationError,
)
from orchestrator.core.targets import Routing
from orchestrator.cti.commands import destination as cti_destination
from orchestrator.cti.registry import ActiveCall

log = logging.getLogger("orchestrator.conferences")


class ConferenceService(Tracking):
    """See the module doc; construction and the engine's side are in Tracking."""

    # -- queries ---------------------------------------------------------------------
    async def get(self, conference_uuid: str, *, scope: int | None, by: int | None = None
                  ) -> dict[str, Any]:  # fmt: skip
        """The conference (active, or ended and in the store) with every participant."""
        conf = self._confs.get(conference_uuid) or self._ended.get(conference_uuid)
        if conf is None and self.ledger is not None and plain_id(conference_uuid):
            conf = await asyncio.to_thread(self.ledger.find, conference_uuid)
        return self._visible(conf, conference_uuid, scope, by).view()

    async def list(
        self,
        *,
        scope: int | None,
        tenant_id: int | None = None,
        state: str = "active",
        by: int | None = None,
    ) -> list[dict[str, Any]]:
        """Conferences of the caller's tenant(s), newest first; ``state`` active|ended|all."""
        if state not in ("active", "ended", "all"):
            raise ValidationError("state: active, ended or all", field="state", value=state)
        if scope is not None:
            if tenant_id is not None and tenant_id != scope:
                raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
            tenant_id = scope
        found: dict[str, Conference] = {}
        if state != "active" and self.ledger is not None:
            wanted = None if state == "all" else state
            for conf in await asyncio.to_thread(
                self.ledger.list, tenant_id=tenant_id, state=wanted
            ):
                found[conf.uuid] = conf
        if state != "ended":
            live = sorted(self._confs.values(), key=lambda c: c.started_at, reverse=True)
            for conf in live:
                found[conf.uuid] = conf  # the live object wins over its stored copy
        out = [
            c for c in found.values()
            if (tenant_id is None or c.tenant_id == tenant_id)
            and (by is None or c.created_by == by)
            and (state == "all" or c.state == state)
        ]  # fmt: skip
        out.sort(key=lambda c: c.started_at, reverse=True)
        return [c.view() for c in out]

    def tenant_of_recording(self, name: str) -> int | None:
        """The tenant of an active conference's recording ``name`` (its recordings are
        ``conference-<uuid>-<n>``), or None: how the recordings feature tracks them."""
        kind, _, rest = name.partition("-")
        conf = self._confs.get(rest.rpartition("-")[0]) if kind == "conference" else None
        return None if conf is None else conf.tenant_id

    def room_of(self, conference_uuid: str) -> int | None:
        """The conference room whose active conference ``conference_uuid`` is, or None."""
        conf = self._confs.get(conference_uuid)
        return None if conf is None else conf.room_id

    def room_conference(self, room_id: int) -> str | None:
        """The active conference of the conference room ``room_id`` (also one taken back
        after a restart), or None."""
        return next(
            (c.uuid for c in self._confs.values() if c.room_id == room_id and c.active), None
        )

    # -- creating one ----------------------------------------------------------------
    async def create(
        self,
        *,
        tenant_id: int,
        scope: int | None,
        principal_user_id: int | None,
        call_id: str | None,
        name: str = "",
        owner_extension: str | None = None,
        account: str | None = None,
        record: bool = False,
        max_participants: int = 50,
        agent_extension: str | None = None,
        room_id: int | None = None,
    ) -> dict[str, Any]:
        """A conference of the answered legs of the CTI call ``call_id`` (or empty).

        The leg of ``owner_extension`` (default: the call's first extension) is the owner.
        ``agent_extension``: the caller is an agent, whose own extension must be on the
        call and is the owner. Errors: 404 no such call; 409 ``call-state`` (not
        answered, or run by a Python flow), 409 ``payment-required``. A phone-to-phone
        dialplan call's parties are taken under control first (``Engine.take``)."""
        if scope is not None and scope != tenant_id:
            raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
        check_create(name, owner_extension, account, max_participants)
        call = self.cti.calls.get(call_id, scope) if call_id is not None else None
        if agent_extension is not None:
            if call is None or agent_extension not in call.extensions:
                raise NotFoundError(
                    f"no call of extension {agent_extension} with id {call_id}", call_id=call_id
                )
            owner_extension = agent_extension
        if call is not None:
            if call.tenant_id != tenant_id:
                raise NotFoundError(f"no active call {call_id}", call_id=call_id)
            check_call(self.cti, call)
            owner_extension = owner_extension or (call.extensions[0] if call.extensions else None)
            account = account or call.account
        if account is None and self.ledger is not None:
            # Resolved now, not at rating: the dial-outs' own CDRs carry it, so the owner
            # pays for them too (issue 13), not whoever the dial-out's CDR would name.
            account = await asyncio.to_thread(self.ledger.payer, tenant_id, owner_extension)
        conf = Conference(
            tenant_id=tenant_id,
            node=self.node,
            name=name,
            owner_extension=owner_extension,
            account=account,
            created_by=principal_user_id,
            max_participants=max_participants,
            room_id=room_id,  # a conference room's (orchestrator.conferences.rooms)
        )
        # Asked before anything moves: a refusal leaves the call as it was.
        present = sum(leg.up and not leg.gone for leg in call.legs.values()) if call else 0
        await self._authorize(conf, present=present, raising=True)
        if call is not None:
            try:
                await take_call(self.engine, conf, call)
            except OrchestratorError:
                if self.authorizer is not None:
                    await self.authorizer.release(conf.uuid)
                raise
        await self.engine.conferences.create(conf.uuid)
        self._register(conf)
        self.publish(conf, "conference_started")
        if call is not None:
            self._hand_over(conf, call)
        for p in list(conf.participants):
            await self._join(conf, p)
        if record:
            await self._record(conf)
        self._changed(conf)
        return conf.view()

    def _hand_over(self, conf: Conference, call: ActiveCall) -> None:
        self.cti.hand_over(call, f"conference:{conf.uuid}")  # releases CTI's kept legs
        # Kept at once (no await between): a remote-app flow that ends sees them kept and
        # does not hang them up; a restart leaves them up.
        self.engine.keep(p.leg_id for p in conf.participants)

    # -- participants ----------------------------------------------------------------
    async def add(
        self,
        conference_uuid: str,
        *,
        scope: int | None,
        destination: str,
        by: int | None = None,
        caller_id: str | None = None,
        muted: bool = False,
        deaf: bool = False,
        moderator: bool = False,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """Dial ``destination`` (``102``, ``extension:102``, ``+44...``, ``number:+44...``);
        it joins when it answers (``participant_joined``), or is ``failed`` with the
        reason no-answer, busy or failed. 409 ``conference-locked`` / ``conference-full``;
        402-like 409 ``payment-required`` for an external number the owner cannot pay."""
        conf = self._active(conference_uuid, scope, by)
        if caller_id is not None and not CALLER_ID.fullmatch(caller_id):
            raise ValidationError("caller_id: 2-16 digits, optionally after +", field="caller_id")
        if not 1 <= timeout <= 120:
            raise ValidationError("timeout: 1 to 120 seconds", field="timeout", value=timeout)
        self._room_for_one(conf)
        target = await self.cti.directory.resolve(str(conf.tenant_id), cti_destination(destination))
        leg_id = self.engine.new_id()
        limit = None
        if target.kind == "number" and self.cti.authorizer is not None:
            limit = await self.cti.authorizer.authorize(
                tenant_id=conf.tenant_id,
                call_id=leg_id,
                account=conf.account,
                extension=conf.owner_extension,
                numbers=[target.number],
            )
        shown = caller_id or target.caller_id or conf.owner_extension or ""
        p = Participant(
            leg_id,
            number=target.number,
            extension=target.number if target.kind == "extension" else None,
            caller_id=shown,
            via="dial_out",
            muted=muted,
            deaf=deaf,
            moderator=moderator,
        )
        conf.participants.append(p)
        self._legs[leg_id] = conf
        if limit is not None:
            self._leg_limits[leg_id] = limit
        if self.cdrs is not None:
            # Its own CDR (the engine starts it as a call), paid by the owner's account.
            self.cdrs.note(
                leg_id, role="conference-dial-out", account=conf.account,
                tenant_id=conf.tenant_id, number=target.number,
            )  # fmt: skip
        try:
            await self.engine.originate(
                target.dial,
                leg_id=leg_id,
                caller_id=shown,
                timeout=timeout,
                routing=Routing("conference", {"conference": conf.uuid}),
            )
        except OrchestratorError:
            self._failed(conf, p, "failed")
            if limit is not None and self.cti.authorizer is not None:
                await self.cti.authorizer.release(leg_id)
            raise
        self.publish(conf, "participant_invited", participant=p.view())
        self.spawn(self._ring_limit(conf, p, timeout), f"conference-ring-{leg_id}")
        self._changed(conf)
        return p.view()

    async def join_leg(
        self,
        conference_uuid: str,
        leg_id: str,
        *,
        number: str = "",
        extension: str | None = None,
        via: str = "room",
        muted: bool = False,
        deaf: bool = False,
        moderator: bool = False,
    ) -> dict[str, Any]:
        """A leg already under control joins (conference rooms); no scope: the caller is
        the feature that holds the leg."""
        conf = self._confs.get(conference_uuid)
        if conf is None:
            raise NotFoundError(f"no active conference {conference_uuid}")
        self._room_for_one(conf)
        p = Participant(leg_id, number=number, extension=extension, via=via, muted=muted,
                        deaf=deaf, moderator=moderator)  # fmt: skip
        conf.participants.append(p)
        self._legs[leg_id] = conf
        self.engine.keep([leg_id])
        await self._join(conf, p)
        self._changed(conf)
        return p.view()

    def _room_for_one(self, conf: Conference) -> None:
        if conf.locked:
            raise ConferenceLockedError(
                f"conference {conf.uuid} is locked", conference_id=conf.uuid
            )
        if len(conf.present()) >= conf.max_participants:
            raise ConferenceFullError(
                f"conference {conf.uuid} has its {conf.max_participants} participants",
                conference_id=conf.uuid,
                max_participants=conf.max_participants,
            )

    async def remove(
        self, conference_uuid: str, participant_uuid: str, *, scope: int | None,
        by: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Hang the participant's leg up (``left_reason`` removed)."""
        conf = self._active(conference_uuid, scope, by)
        p = self._participant(conf, participant_uuid)
        if not p.present:
            raise ConferenceStateError(
                f"participant {p.uuid} is not in the conference", participant_id=p.uuid
            )
        p.removing = True
        with contextlib.suppress(LegGoneError):
            await self.engine.hangup(p.leg_id)
        if p.state == "ringing":
            self._failed(conf, p, "removed")
        return p.view()

    async def set_muted(self, conference_uuid: str, participant_uuid: str, on: bool, *,
                        scope: int | None, by: int | None = None) -> dict[str, Any]:  # fmt: skip
        """The others stop (or start again) hearing the participant."""
        conf, p = self._member(conference_uuid, participant_uuid, scope, by)
        await self.engine.conferences.mute(p.leg_id, on)
        return self._flags(conf, p, muted=on)

    async def set_deaf(self, conference_uuid: str, participant_uuid: str, on: bool, *,
                       scope: int | None, by: int | None = None) -> dict[str, Any]:  # fmt: skip
        """The participant stops (or starts again) hearing the conference."""
        conf, p = self._member(conference_uuid, participant_uuid, scope, by)
        await self.engine.conferences.deafen(p.leg_id, on)
        return self._flags(conf, p, deaf=on)

    async def set_held(self, conference_uuid: str, participant_uuid: str, on: bool, *,
                       scope: int | None, by: int | None = None) -> dict[str, Any]:  # fmt: skip
        """On hold: it hears music, the others do not hear it; off: back as it was."""
        conf, p = self._member(conference_uuid, participant_uuid, scope, by)
        await self.engine.conferences.hold(p.leg_id, on)
        return self._flags(conf, p, held=on)

    async def coach(
        self, conference_uuid: str, participant_uuid: str, target_uuid: str | None, *,
        scope: int | None, by: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The participant is heard by ``target_uuid`` only (a whisper); None: by all again."""
        conf, p = self._member(conference_uuid, participant_uuid, scope, by)
        target = None
        if target_uuid is not None:
            target = self._participant(conf, target_uuid)
            if target.state != "joined" or target is p:
                raise ConferenceStateError(
                    "the coached participant must be another one in the conference",
                    participant_id=target_uuid,
                )
        await self.engine.conferences.coach(p.leg_id, target.leg_id if target is not None else None)
        return self._flags(conf, p, coaching=target.uuid if target is not None else None)

    # -- the conference --------------------------------------------------------------
    async def lock(self, conference_uuid: str, on: bool = True, *, scope: int | None,
                   by: int | None = None) -> dict[str, Any]:  # fmt: skip
        """Locked: nobody new is added (409 ``conference-locked``); unlock to add again."""
        conf = self._active(conference_uuid, scope, by)
        if conf.locked != on:
            conf.locked = on
            self.publish(conf, "conference_locked" if on else "conference_unlocked")
            self._changed(conf)
        return conf.view()

    async def record(self, conference_uuid: str, on: bool = True, *, scope: int | None,
                     by: int | None = None) -> dict[str, Any]:  # fmt: skip
        """Start (or stop) recording what the conference hears."""
        conf = self._active(conference_uuid, scope, by)
        if on and conf.recording is None:
            await self._record(conf)
        elif not on and conf.recording is not None:
            name, conf.recording = conf.recording, None
            with contextlib.suppress(NotFoundError):
                await self.engine.stop_recording(name)
            self.publish(conf, "conference_recording", recording=name, state="stopped")
        self._changed(conf)
        return conf.view()

    async def _record(self, conf: Conference) -> None:
        name = f"conference-{conf.uuid}-{len(conf.recordings) + 1}"
        await self.engine.conferences.record(conf.uuid, name)
        conf.recording = name
        conf.recordings.append(name)
        self.publish(conf, "conference_recording", recording=name, state="started")

    async def end(self, conference_uuid: str, *, scope: int | None, by: int | None = None,
                  reason: str = "ended") -> dict[str, Any]:  # fmt: skip
        """Every participant hung up; the conference ends (``conference_ended``)."""
        conf = self._active(conference_uuid, scope, by)
        await self.finish(conf, reason)
        return conf.view()

    async def transfer_owner(
        self, conference_uuid: str, *, scope: int | None, extension: str | None,
        account: str | None = None, by: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The owner becomes ``extension`` and/or ``account``; the owner at the end pays for
        the whole conference. A new extension without an account pays with its own account
        (else the tenant's default), as at creation. Refused with nothing changed (409
        ``payment-required``) when the new payer cannot pay."""
        conf = self._active(conference_uuid, scope, by)
        if extension is None and account is None:
            raise ValidationError("name the new owner's extension and/or account")
        if extension is not None and not EXTENSION.fullmatch(extension):
            raise ValidationError("extension: 2-10 digits", field="extension")
        if account is not None and not ACCOUNT.fullmatch(account):
            raise ValidationError("account: 1-64 letters, digits, _ . : -", field="account")
        if extension is not None and account is None and self.ledger is not None:
            account = await asyncio.to_thread(self.ledger.payer, conf.tenant_id, extension)
        before = conf.owner_extension, conf.account
        conf.owner_extension = extension if extension is not None else conf.owner_extension
        conf.account = account if account is not None else conf.account
        try:
            await self._authorize(conf, raising=True)
        except OrchestratorError:
            conf.owner_extension, conf.account = before
            raise
        if extension is not None:
            for p in conf.participants:
                if p.present:
                    p.role = "owner" if p.extension == extension else "participant"
        self.publish(conf, "conference_owner", extension=conf.owner_extension,
                     account=conf.account)  # fmt: skip
        self._changed(conf)
        return conf.view()

    # -- lookups ---------------------------------------------------------------------
    def _visible(self, conf: Conference | None, uuid: str, scope: int | None,
                 by: int | None) -> Conference:  # fmt: skip
        if (
            conf is None
            or (scope is not None and conf.tenant_id != scope)
            or (by is not None and conf.created_by != by)
        ):
            raise NotFoundError(f"no conference {uuid}", conference_id=uuid)
        return conf

    def _active(self, uuid: str, scope: int | None, by: int | None) -> Conference:
        conf = self._visible(self._confs.get(uuid) or self._ended.get(uuid), uuid, scope, by)
        if not conf.active or conf.uuid in self._ending:
            raise ConferenceStateError(f"conference {uuid} has ended", conference_id=uuid)
        return conf

    @staticmethod
    def _participant(conf: Conference, participant_uuid: str) -> Participant:
        p = conf.by_uuid(participant_uuid)
        if p is None:
            raise NotFoundError(
                f"no participant {participant_uuid} in conference {conf.uuid}",
                participant_id=participant_uuid,
            )
        return p

    def _member(self, uuid: str, participant_uuid: str, scope: int | None,
                by: int | None) -> tuple[Conference, Participant]:  # fmt: skip
        conf = self._active(uuid, scope, by)
        p = self._participant(conf, participant_uuid)
        if p.state != "joined":
            raise ConferenceStateError(
                f"participant {p.uuid} is {p.state}, not in the conference",
                participant_id=p.uuid,
                state=p.state,
            )
        return conf, p
