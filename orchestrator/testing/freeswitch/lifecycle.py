"""Answer, progress and hangup of the fake switch's channels: what the channel and its
loopback peer report (CHANNEL_ANSWER / PROGRESS / HANGUP ... DESTROY), methods of
:class:`~.switch.Switch`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.events import now_us
from orchestrator.testing.freeswitch.names import CAUSE_NAMES, CAUSES, q850

if TYPE_CHECKING:
    from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["answer", "finish", "hangup", "mark_answered", "pre_answer"]

_STATE_CALLING = ("switch_core_state_machine.c", "switch_core_session_run", 626)


# -- answer and progress ----------------------------------------------------
def answer(sw: Switch, ch: Channel) -> None:
    """Answer ``ch``; a loopback b-leg answers its a-leg too, interleaved as in the
    captures: a ANSWER, a CALLSTATE, b ANSWER, a CALL_UPDATE (caller ID flipped), b CALLSTATE."""
    if ch.answered or not ch.up:
        return
    peer = sw.channels.get(ch.loopback_peer)
    if peer is None or ch.variables.get("loopback_leg") != "B" or peer.answered:
        mark_answered(sw, ch)
        sw.set_callstate(ch, "ACTIVE")
        ch.answered_event.set()
        return
    mark_answered(sw, peer)
    sw.set_callstate(peer, "ACTIVE")
    mark_answered(sw, ch)
    peer.variables["pre_transfer_caller_id_number"] = peer.profile.caller_id_number
    peer.profile.flip()
    peer.variables["channel_cid_flipped"] = "yes"
    sw.emit(peer, "CALL_UPDATE", before=[("Direction", "RECV")])
    sw.set_callstate(ch, "ACTIVE")
    peer.answered_event.set()
    ch.answered_event.set()


def mark_answered(sw: Switch, ch: Channel) -> None:
    """CHANNEL_ANSWER (switch_channel_perform_mark_answered)."""
    ch.answered = True
    ch.times["answered"] = now_us()
    ch.variables.setdefault("answer_epoch", str(ch.times["answered"] // 1_000_000))
    sw.emit(
        ch,
        "CHANNEL_ANSWER",
        calling=("switch_channel.c", "switch_channel_perform_mark_answered", 3974),
    )


def pre_answer(sw: Switch, ch: Channel, *, ring: bool = False) -> None:
    if ch.answered or not ch.up:
        return
    peer = sw.channels.get(ch.loopback_peer)
    targets = [ch]
    if peer is not None and ch.variables.get("loopback_leg") == "B":
        targets.insert(0, peer)
    for leg in targets:
        if ring:
            leg.times["progress"] = leg.times["progress"] or now_us()
            sw.emit(leg, "CHANNEL_PROGRESS")
            sw.set_callstate(leg, "RINGING")
        elif not leg.early:
            leg.early = True
            leg.times["progress_media"] = now_us()
            sw.emit(leg, "CHANNEL_PROGRESS_MEDIA")
            sw.set_callstate(leg, "EARLY")


# -- hangup ---------------------------------------------------------------
def hangup(sw: Switch, ch: Channel, cause: str = "NORMAL_CLEARING") -> None:
    """``switch_channel_hangup``: CHANNEL_HANGUP now, the rest from the session task."""
    if not ch.up:
        return
    if cause.isdigit():  # switch_channel_str2cause takes numbers too
        cause = CAUSE_NAMES.get(int(cause), "NORMAL_CLEARING")
    cause = cause if cause in CAUSES else "NORMAL_CLEARING"
    ch.hangup_cause = cause
    ch.times["hangup"] = now_us()
    ch.variables["hangup_cause"] = cause
    ch.variables["hangup_cause_q850"] = str(q850(cause))
    sw.emit(
        ch,
        "CHANNEL_HANGUP",
        calling=("switch_channel.c", "switch_channel_perform_hangup", 3255),
    )
    ch.interrupt("hangup")
    if ch.task is None or ch.task.done():
        finish(sw, ch)


def finish(sw: Switch, ch: Channel) -> None:
    if ch.done.is_set():
        return
    ch.done.set()
    sw.set_state(ch, "CS_HANGUP")
    sw.set_callstate(ch, "HANGUP")
    peer = sw.get(ch.loopback_peer)
    if peer is not None:
        sw.hangup(peer, ch.hangup_cause)
    sw.unbridge(ch)
    ch.state = "CS_REPORTING"
    sw.emit(ch, "CHANNEL_STATE", variables=False, calling=_STATE_CALLING)
    end = now_us()
    answered = ch.times["answered"]
    ch.variables.update(
        {
            "end_epoch": str(end // 1_000_000),
            "end_uepoch": str(end),
            "duration": str((end - ch.times["created"]) // 1_000_000),
            "billsec": str((end - answered) // 1_000_000 if answered else 0),
            "billmsec": str((end - answered) // 1000 if answered else 0),
        }
    )
    sw.emit(
        ch,
        "CHANNEL_HANGUP_COMPLETE",
        before=[("Hangup-Cause", ch.hangup_cause)],
        calling=("switch_core_state_machine.c", "switch_core_session_reporting_state", 943),
    )
    sw.emit(
        ch,
        "CHANNEL_DESTROY",
        calling=("switch_core_session.c", "switch_core_session_perform_destroy", 1731),
    )
    ch.state = "CS_DESTROY"
    sw.emit(ch, "CHANNEL_STATE", variables=False, calling=_STATE_CALLING)
    sw.channels.pop(ch.uuid, None)
