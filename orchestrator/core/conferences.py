"""Conferences on the seam: :attr:`Engine.conferences <orchestrator.core.engine.Engine>`.

Many legs talk together in one conference, named by the caller's ``conference_id``. Each
member can be muted (the others do not hear it), deaf (it hears nothing of the
conference), or held (it hears music and the others do not hear it); anyone can be told
something (:meth:`Conferences.play`) and the conference recorded. The rules of a room
(PINs, waiting for a moderator, ending when the last moderator leaves, announcements,
caps, locking) are the conference feature's, built on these primitives the same way on
every engine: ``moderator`` is carried on the events, not acted on by the engine.

Life of a conference: :meth:`~Conferences.create`, then members :meth:`~Conferences.join`
and :meth:`~Conferences.leave` (or hang up, or are connected elsewhere); it lives, empty
or not, until :meth:`~Conferences.end`. Ending it takes every member out: the members
stay up and under control, connected to nothing, and their owner decides what comes
next (hang up, play a goodbye, connect two of them). A conference never ends because a
member hung up, whoever it was.

A member can also coach another (:meth:`Conferences.coach`): only that one hears it (a
whisper), while it still hears the conference. Talk detection is always on: each
member's talking starts and stops are reported (``ConferenceMemberTalking``).

Events (:mod:`orchestrator.core.events`): ``ConferenceMemberJoined``,
``ConferenceMemberUpdated`` (mute/deaf/hold/coaching changed), ``ConferenceMemberTalking``
(started or stopped talking; a member leaving while talking is told stopped first),
``ConferenceMemberLeft`` (with why) and ``ConferenceEnded``; a playback to all reports
``PlaybackStarted``/``Finished`` and a recording ``RecordingStarted``/``Finished``, both
with ``leg_id=""``. Stop them with :meth:`Engine.stop_playback` /
:meth:`Engine.stop_recording`, fetch the file with :meth:`Engine.recording_file`, as for a
leg's.

Example::

    await engine.conferences.create("sales-42")
    for leg in (alice, peter, bob):
        await engine.conferences.join("sales-42", leg, moderator=leg == alice)
    await engine.conferences.hold(bob, True)  # Bob hears music, the others not him
    await engine.conferences.coach(alice, peter)  # only Peter hears Alice now
    await engine.conferences.play("sales-42", "prompt:beep")
    await engine.conferences.end("sales-42")  # all three stay up, connected to nothing

Across a restart of the orchestrator a conference whose members are all in
``Engine.kept_legs`` stays (the next run's :meth:`~Conferences.create` of the same id
takes it back and reports its members with ``ConferenceMemberJoined``); one with no kept
member is cleared.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from orchestrator.core.errors import ValidationError

# A conference id reaches engine names (bridge ids, conference names): kept plain.
CONFERENCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_conference_id(conference_id: str) -> str:
    """``conference_id`` if it is 1-64 letters, digits, ``_`` or ``-``; else ValidationError."""
    if CONFERENCE_ID.fullmatch(conference_id) is None:
        raise ValidationError(
            f"invalid conference id {conference_id!r}", field="conference_id", value=conference_id
        )
    return conference_id


def check_coach_target(
    conference_id: str, members: Collection[str], leg_id: str, target_leg_id: str | None
) -> None:
    """ValidationError unless ``target_leg_id`` (None: no target) is another member of the
    coach ``leg_id``'s conference, whose member legs are ``members``."""
    if target_leg_id is None:
        return
    if target_leg_id == leg_id:
        raise ValidationError("a member cannot coach itself", leg_id=leg_id)
    if target_leg_id not in members:
        raise ValidationError(
            f"leg {target_leg_id} is not a member of conference {conference_id}",
            field="target_leg_id", value=target_leg_id, conference_id=conference_id,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ConferenceMember:
    """A member as the engine holds it now (see :meth:`Conferences.members`)."""

    leg_id: str
    muted: bool = False
    deaf: bool = False
    held: bool = False
    moderator: bool = False
    coaching: str | None = None  # the member it coaches (only that one hears it)
    talking: bool = False


class Conferences(abc.ABC):
    """The conferences of one engine (see the module docstring)."""

    @abc.abstractmethod
    async def create(self, conference_id: str) -> None:
        """Make the conference ``conference_id`` (no member yet). Creating one that exists
        changes nothing (after a restart: takes it back with its kept members).

        Errors: :class:`~orchestrator.core.errors.ValidationError` for an invalid id.

        How engines do it: Asterisk: a mixing bridge the adapter names after the
        conference (``<prefix>conf-<id>``, apart from the bridges of ``connect``), owned
        and swept by the adapter; FreeSWITCH: mod_conference makes a conference when its
        first member enters (``conference <name>@<profile>`` run on the leg), so the
        adapter only notes the name until then.
        """

    @abc.abstractmethod
    async def join(
        self,
        conference_id: str,
        leg_id: str,
        *,
        muted: bool = False,
        deaf: bool = False,
        moderator: bool = False,
    ) -> None:
        """The answered leg joins the conference with these flags; returns once it hears
        it (``ConferenceMemberJoined`` then). The leg first leaves whatever it was connected
        to (its former peer gets ``LegDisconnected``) or the conference it was in.

        Errors: :class:`~orchestrator.core.errors.NotFoundError` for no such conference,
        :class:`~orchestrator.core.errors.LegGoneError` when the leg is gone.

        How engines do it: Asterisk: ARI ``POST /bridges/{id}/addChannel``, then the
        channel's ``mute`` (below) for the flags; FreeSWITCH: ``uuid_transfer <uuid>
        conference:<name>@<profile>+flags{mute|deaf|moderator} inline``, the member id
        read from the ``add-member`` conference::maintenance event.
        """

    @abc.abstractmethod
    async def leave(self, leg_id: str) -> None:
        """The leg leaves its conference and stays up, connected to nothing
        (``ConferenceMemberLeft`` with reason ``left``). A leg in no conference: nothing.

        How engines do it: Asterisk: ARI ``POST /bridges/{id}/removeChannel`` (its mute
        undone); FreeSWITCH: ``uuid_transfer <uuid> park inline`` (``del-member`` event),
        or ``conference <name> kick <member>`` with the leg set to park after it.
        """

    @abc.abstractmethod
    async def mute(self, leg_id: str, on: bool = True) -> None:
        """The others stop (or start again) hearing the member; it still hears them.
        ``ConferenceMemberUpdated`` follows.

        Errors: :class:`~orchestrator.core.errors.NotFoundError` for a leg in no conference.

        How engines do it: Asterisk: ARI ``POST /channels/{id}/mute?direction=in`` (what the
        channel sends is dropped) / ``DELETE`` to undo; FreeSWITCH: ``conference <name>
        mute|unmute <member>`` (``mute-member`` / ``unmute-member`` events).
        """

    @abc.abstractmethod
    async def deafen(self, leg_id: str, on: bool = True) -> None:
        """The member stops (or starts again) hearing the conference, prompts played to all
        included; the others still hear it. ``ConferenceMemberUpdated`` follows.

        Errors: :class:`~orchestrator.core.errors.NotFoundError` for a leg in no conference.

        How engines do it: Asterisk: ARI ``POST /channels/{id}/mute?direction=out`` (what is
        sent to the channel is dropped) / ``DELETE``; FreeSWITCH: ``conference <name>
        deaf|undeaf <member>`` (``deaf-member`` / ``undeaf-member`` events).
        """

    @abc.abstractmethod
    async def hold(self, leg_id: str, on: bool = True, *, music: str = "") -> None:
        """Put the member on hold: it hears music (class ``music``, ``""`` the engine's
        default) and not the conference, and the others do not hear it; ``on=False``
        brings it back with its mute and deaf flags as they were. It stays a member all
        along (no left/joined events); ``ConferenceMemberUpdated`` follows.

        Errors: :class:`~orchestrator.core.errors.NotFoundError` for a leg in no conference.

        How engines do it: Asterisk: the channel leaves the mixing bridge for music on hold
        on its own (ARI ``POST /channels/{id}/moh``), and comes back into the bridge
        after ``DELETE .../moh``; FreeSWITCH: ``conference <name> hold <member>
        [<music>]`` / ``unhold`` (a held member hears the music, is muted and deaf).
        """

    @abc.abstractmethod
    async def coach(self, leg_id: str, target_leg_id: str | None) -> None:
        """The member ``leg_id`` (the coach) is heard by the member ``target_leg_id`` only
        (a whisper the others do not hear) and still hears the whole conference; ``None``
        ends coaching (heard by all again, unless muted). Coaching another member moves
        the whisper there. Mute, deaf and hold act on a coach as on any member. Coaching
        ends (``coaching=None``) when its target leaves the conference.
        ``ConferenceMemberUpdated`` (``coaching``) follows.

        Errors: :class:`~orchestrator.core.errors.NotFoundError` for a coach in no
        conference, :class:`~orchestrator.core.errors.ValidationError` for a target that is
        the coach or not a member of the same conference.

        How engines do it: Asterisk: the coach's channel leaves the mixing bridge for a
        bridge of its own with a snoop on the target (``spy=both``: it hears what the
        target hears and says; ``whisper=out``: the target hears it), as supervision
        does, and comes back into the mixing bridge when coaching ends; it stays a member
        all along. FreeSWITCH: ``conference <name> relate <coach> <other> nospeak`` for
        every other member (and each later joiner), ``relate <coach> <other> clear`` to end.
        """

    @abc.abstractmethod
    async def play(
        self, conference_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> str:
        """Play ``media`` (as :meth:`Engine.play`) to every member that is not deaf or
        held; returns the playback id (``PlaybackStarted`` / ``Finished`` with
        ``leg_id=""``; :meth:`Engine.stop_playback` stops it).

        Errors: :class:`~orchestrator.core.errors.NotFoundError` for no such conference.

        How engines do it: Asterisk: ARI ``POST /bridges/{id}/play``; FreeSWITCH:
        ``conference <name> play <file>`` (``play-file`` / ``play-file-done`` events).
        """

    @abc.abstractmethod
    async def record(
        self, conference_id: str, name: str, *, fmt: str = "wav", max_duration: float = 0,
        beep: bool = False,
    ) -> str:  # fmt: skip
        """Record what the conference hears (all members mixed) into the stored recording
        ``name``; returns it. ``RecordingStarted`` / ``Finished`` (``leg_id=""``) report
        it; :meth:`Engine.stop_recording` ends it, and so does :meth:`end`;
        :meth:`Engine.recording_file` fetches it.

        Errors: :class:`~orchestrator.core.errors.NotFoundError` for no such conference,
        :class:`~orchestrator.core.errors.CallError` when the engine refuses.

        How engines do it: Asterisk: ARI ``POST /bridges/{id}/record`` (a live recording
        like a channel's); FreeSWITCH: ``conference <name> record <path>`` /
        ``norecord`` (``start-recording`` / ``stop-recording`` events).
        """

    @abc.abstractmethod
    async def end(self, conference_id: str) -> None:
        """End the conference: every member leaves it (``ConferenceMemberLeft`` with
        reason ``ended``) and stays up, connected to nothing, then ``ConferenceEnded``; a
        recording of it ends (its ``RecordingFinished`` may come after ``ConferenceEnded``).
        An unknown or ended conference: nothing.

        How engines do it: Asterisk: ARI ``DELETE /bridges/{id}`` (the channels stay in
        the Stasis application); FreeSWITCH: ``uuid_transfer`` of each member to ``park``,
        then the conference goes with its last member (``conference-destroy`` event).
        """

    @abc.abstractmethod
    def members(self, conference_id: str) -> list[ConferenceMember]:
        """The members now as the adapter knows them from the engine's events (``[]`` for
        an unknown conference); no request sent.

        Talk detection (``ConferenceMemberTalking``; ``ConferenceMember.talking`` now) is
        always on. How engines do it: Asterisk: the ``TALK_DETECT(set)`` channel function
        set on each member as it joins, ARI ``ChannelTalkingStarted`` /
        ``ChannelTalkingFinished``; FreeSWITCH: conference::maintenance ``start-talking``
        / ``stop-talking``.
        """

    @abc.abstractmethod
    def conference_of(self, leg_id: str) -> str | None:
        """The conference the leg is a member of, or None; no request sent."""
