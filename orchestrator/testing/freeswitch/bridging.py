"""Bridges and transfers of the fake switch (``uuid_bridge``, ``uuid_transfer``,
``park_after_bridge``), methods of :class:`~.switch.Switch`."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from orchestrator.testing.freeswitch.channels import Channel, Interrupted
from orchestrator.testing.freeswitch.events import new_uuid, now_us

if TYPE_CHECKING:
    from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["after_bridge", "bridge", "bridged", "transfer", "unbridge"]

_EXEC = ("switch_core_session.c", "switch_core_session_exec", 2919)


# -- bridges --------------------------------------------------------------
async def bridge(sw: Switch, a: Channel, b: Channel, *, by_app: bool = False) -> None:
    """``uuid_bridge a b``: both leave what they ran, then talk (``a`` is the A side).
    ``by_app``: the ``bridge`` app running on ``a`` (it stays in its app; ``b`` is the
    leg it just dialled)."""
    for leg in (a, b):
        unbridge(sw, leg)
    before = {a.uuid: b.profile, b.uuid: a.profile}  # Other-Leg-* shows the pre-bridge profile
    for leg, other, kind in ((a, b, "originatee"), (b, a, "originator")):
        leg.bridged_to = other.uuid
        leg.other_type = kind
        leg.other_profile = before[leg.uuid]
        leg.in_bridge.clear()
        if by_app:
            continue
        # uuid_bridge moves the leg into a new caller profile (Transfer-Source uuid_br:<other>).
        leg.profile = leg.profile.clone(
            transfer_source=f"{now_us() // 1_000_000}:{new_uuid()}:uuid_br:{other.uuid}",
            caller_id_name=leg.profile.orig_caller_id_name or "",
            caller_id_number=leg.profile.orig_caller_id_number or "",
            callee_id_name="",
            callee_id_number=other.profile.orig_caller_id_number or "",
        )
        leg.interrupt("bridge")
    if by_app:
        sw.start(b, [])  # the dialled leg's session goes straight into the bridge

    # Let both sessions leave their app (CHANNEL_UNPARK, EXECUTE_COMPLETE) first.
    for leg in (a, b):
        if leg.task is not None and not leg.task.done() and leg.task is not asyncio.current_task():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leg.in_bridge.wait(), 5.0)
    if not (a.up and b.up and a.bridged_to == b.uuid):
        return
    now = now_us()
    b.variables["call_uuid"] = a.uuid
    for leg in (a, b):
        leg.times["bridged"] = now
        # As switch_ivr_multi_threaded_bridge, once CHANNEL_BRIDGE is fired: bridge_to
        # (what mod_sofia's REFER finds the partner by) with last_bridge_to.
        leg.variables.update(
            {
                "bridge_to": leg.bridged_to,
                "last_bridge_to": leg.bridged_to,
                "bridge_channel": sw.channels[leg.bridged_to].name,
                "bridge_uuid": leg.bridged_to,
            }
        )
    if not by_app:
        for leg in (a, b):
            app = [("Application", "uuid_bridge"), ("Application-Data", leg.bridged_to)]
            sw.emit(leg, "CHANNEL_EXECUTE", after=app, calling=_EXEC)
        sw.set_state(b, "CS_CONSUME_MEDIA")
    ids = [("Bridge-A-Unique-ID", a.uuid), ("Bridge-B-Unique-ID", b.uuid)]
    sw.emit(
        a,
        "CHANNEL_BRIDGE",
        before=ids,
        calling=("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1689),
    )
    if not by_app:
        sw.set_state(b, "CS_EXCHANGE_MEDIA")


def unbridge(sw: Switch, ch: Channel) -> None:
    """End ``ch``'s bridge: CHANNEL_UNBRIDGE on the A side; the partner goes on
    (parked with ``park_after_bridge``, else hung up NORMAL_CLEARING)."""
    other = sw.channels.get(ch.bridged_to)
    if not ch.bridged_to:
        return
    a, b = (ch, other) if ch.other_type == "originatee" else (other, ch)
    ch.bridged_to = ""
    ch.variables.pop("bridge_to", None)
    if other is None:
        return
    other.bridged_to = ""
    other.variables.pop("bridge_to", None)
    ids = [
        ("Bridge-A-Unique-ID", a.uuid if a else ""),
        ("Bridge-B-Unique-ID", b.uuid if b else ""),
    ]
    if a is not None:
        sw.emit(
            a,
            "CHANNEL_UNBRIDGE",
            before=ids,
            other=False,
            calling=("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1756),
        )
    if other.up and other.pending_route is None:
        # (A partner being transferred too, uuid_transfer -both, leaves for its new
        # extension: it is not parked or hung up as an abandoned partner.)
        other.interrupt("unbridge")


# -- transfer -------------------------------------------------------------
def transfer(sw: Switch, ch: Channel, dest: str, dialplan: str = "XML", context: str = "") -> None:
    """``switch_ivr_session_transfer``: a new caller profile, routed again."""
    context = context or ch.profile.context
    history = f"{now_us() // 1_000_000}:{new_uuid()}:bl_xfer:{dest}/{context}/{dialplan}"
    ch.variables["transfer_history"] = history
    ch.variables["transfer_source"] = history
    profile = ch.profile.clone(
        destination_number=dest,
        context=context,
        dialplan=dialplan,
        transfer_source=history,
        rdnis=ch.profile.destination_number,
    )
    ch.profile = profile
    ch.pending_route = (dest, dialplan, context)
    ch.interrupt("transfer")


async def bridged(sw: Switch, ch: Channel) -> list[tuple[str, str]] | None:
    """Stay in the bridge, running queued apps, until it ends."""
    if not ch.in_bridge.is_set() and ch.up:
        for state in ("CS_HIBERNATE", "CS_RESET", "CS_SOFT_EXECUTE"):  # uuid_bridge's hops
            sw.set_state(ch, state)
    ch.in_bridge.set()
    while True:
        try:
            await sw.run_messages(ch)
            await sw.wait(ch, None, wake=frozenset({"message"}))
        except Interrupted as exc:
            if exc.kind == "unbridge":
                return after_bridge(sw, ch)
            if exc.kind == "transfer":
                unbridge(sw, ch)
                return []
            if exc.kind == "bridge":  # bridged again, to another leg
                ch.in_bridge.set()
                continue
            raise


def after_bridge(sw: Switch, ch: Channel) -> list[tuple[str, str]] | None:
    if ch.pending_route is not None:
        return []
    if ch.variables.get("park_after_bridge") == "true":
        return [("park", "")]
    sw.hangup(ch, "NORMAL_CLEARING")
    raise Interrupted("hangup")
