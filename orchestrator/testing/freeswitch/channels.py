"""The fake FreeSWITCH's channels: state, variables, caller profile, and the
channel part of every channel event (``switch_channel_event_set_data``).

Header order follows the captures: base headers, event-specific leading headers,
``Channel-State`` ... ``Answer-State`` [``Hangup-Cause``], codec, ``Caller-*``,
[``Other-Type`` + ``Other-Leg-*``], ``variable_*``, event-specific trailing headers.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from orchestrator.testing.freeswitch.events import FsEvent, now_us

__all__ = ["STATE_NUMBERS", "Channel", "Interrupted", "Message", "Profile"]

STATE_NUMBERS = {
    "CS_NEW": 0, "CS_INIT": 1, "CS_ROUTING": 2, "CS_SOFT_EXECUTE": 3, "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5, "CS_PARK": 6, "CS_CONSUME_MEDIA": 7, "CS_HIBERNATE": 8,
    "CS_RESET": 9, "CS_HANGUP": 10, "CS_REPORTING": 11, "CS_DESTROY": 12, "CS_NONE": 13,
}  # fmt: skip
# The captures show CS_INIT as 2 and CS_EXECUTE as 4: FreeSWITCH reports the
# *running* state's number of the state it is entering; copy the observed ones.
STATE_NUMBERS.update({"CS_INIT": 2, "CS_ROUTING": 2, "CS_EXECUTE": 4, "CS_SOFT_EXECUTE": 3})

_CODEC = [
    ("Channel-Read-Codec-Name", "L16"), ("Channel-Read-Codec-Rate", "8000"),
    ("Channel-Read-Codec-Bit-Rate", "128000"), ("Channel-Write-Codec-Name", "L16"),
    ("Channel-Write-Codec-Rate", "8000"), ("Channel-Write-Codec-Bit-Rate", "128000"),
]  # fmt: skip


class Interrupted(Exception):
    """The running app was interrupted (``kind``: transfer, bridge, hangup, break)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Profile:
    """A caller profile (``switch_caller_profile_event_set_data``)."""

    direction: str
    destination_number: str
    context: str
    channel_name: str
    unique_id: str
    caller_id_name: str = ""
    caller_id_number: str = "0000000000"
    callee_id_name: str = ""
    callee_id_number: str = ""
    source: str = "mod_loopback"
    dialplan: str = "XML"
    transfer_source: str = ""
    index: int = 1
    created: int = field(default_factory=now_us)
    logical_direction: str = ""
    orig_caller_id_name: str | None = None
    orig_caller_id_number: str | None = None
    ani: str | None = None
    rdnis: str = ""

    def __post_init__(self) -> None:
        if self.orig_caller_id_name is None:
            self.orig_caller_id_name = self.caller_id_name
        if self.orig_caller_id_number is None:
            self.orig_caller_id_number = self.caller_id_number
        if self.ani is None:
            self.ani = self.caller_id_number

    def clone(self, **changes: Any) -> Profile:
        """A new profile for the same channel (a transfer or a bridge makes one)."""
        return dataclasses.replace(self, index=self.index + 1, created=now_us(), **changes)

    def flip(self) -> None:
        """An answered originated leg shows the far end as its caller (cid flipped)."""
        caller = (self.caller_id_name, self.caller_id_number)
        self.caller_id_name, self.caller_id_number = self.callee_id_name, self.callee_id_number
        self.callee_id_name, self.callee_id_number = caller

    def headers(self, prefix: str, ch: Channel, *, other: bool = False) -> list[tuple[str, str]]:
        """The profile as ``<prefix>*`` headers (``Caller-`` or ``Other-Leg-``)."""
        p = prefix
        out = [
            (f"{p}Direction", self.direction),
            (f"{p}Logical-Direction", self.logical_direction or self.direction),
            (f"{p}Dialplan", self.dialplan.lower()),
        ]
        if self.caller_id_name:
            out.append((f"{p}Caller-ID-Name", self.caller_id_name))
        out.append((f"{p}Caller-ID-Number", self.caller_id_number))
        if self.orig_caller_id_name:
            out.append((f"{p}Orig-Caller-ID-Name", self.orig_caller_id_name))
        out.append((f"{p}Orig-Caller-ID-Number", self.orig_caller_id_number or ""))
        if self.callee_id_name:
            out.append((f"{p}Callee-ID-Name", self.callee_id_name))
        if self.callee_id_number:
            out.append((f"{p}Callee-ID-Number", self.callee_id_number))
        out += [
            (f"{p}ANI", self.ani or ""),
            (f"{p}Destination-Number", self.destination_number),
            (f"{p}Unique-ID", self.unique_id),
            (f"{p}Source", self.source),
        ]
        if self.transfer_source:
            out.append((f"{p}Transfer-Source", self.transfer_source))
        out.append((f"{p}Context", self.context))
        if self.rdnis:
            out.append((f"{p}RDNIS", self.rdnis))
        out.append((f"{p}Channel-Name", self.channel_name))
        if not other:
            out.append((f"{p}Profile-Index", str(self.index)))
        t = ch.times
        out += [
            (f"{p}Profile-Created-Time", str(self.created)),
            (f"{p}Channel-Created-Time", str(t["created"])),
            (f"{p}Channel-Answered-Time", str(t["answered"])),
            (f"{p}Channel-Progress-Time", str(t["progress"])),
            (f"{p}Channel-Progress-Media-Time", str(t["progress_media"])),
            (f"{p}Channel-Hangup-Time", str(t["hangup"])),
            (f"{p}Channel-Transfer-Time", str(t["transfer"])),
            (f"{p}Channel-Resurrect-Time", "0"),
            (f"{p}Channel-Bridged-Time", str(t["bridged"])),
            (f"{p}Channel-Last-Hold", str(t["last_hold"])),
            (f"{p}Channel-Hold-Accum", str(t["hold_accum"])),
            (f"{p}Screen-Bit", "true"),
            (f"{p}Privacy-Hide-Name", "false"),
            (f"{p}Privacy-Hide-Number", "false"),
        ]
        return out


@dataclass
class Message:
    """A queued ``sendmsg``/broadcast execute on a channel."""

    app: str
    arg: str
    app_uuid: str
    loops: int = 1
    # The sendmsg headers, for the PRIVATE_COMMAND event fired once it ran.
    private: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""


@dataclass
class Channel:
    """One FreeSWITCH channel (a session) of the fake switch."""

    uuid: str
    name: str
    direction: str
    profile: Profile
    variables: dict[str, str] = field(default_factory=dict)
    state: str = "CS_NEW"
    callstate: str = "DOWN"
    answered: bool = False
    early: bool = False
    hangup_cause: str = ""
    hit_dialplan: bool = False
    loopback_peer: str = ""
    bridged_to: str = ""
    other_type: str = ""
    other_profile: Profile | None = None
    held: bool = False
    # Playing media: what its loopback peer hears (as a conference member: it talks).
    speaking: bool = False
    times: dict[str, int] = field(default_factory=dict)
    messages: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    # The running app, for break/transfer/bridge interrupts.
    current_app: str = ""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    interrupts: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    answered_event: asyncio.Event = field(default_factory=asyncio.Event)
    recordings: dict[str, asyncio.Event] = field(default_factory=dict)
    in_bridge: asyncio.Event = field(default_factory=asyncio.Event)
    pending_route: tuple[str, str, str] | None = None

    def __post_init__(self) -> None:
        now = now_us()
        base = dict.fromkeys(
            (
                "answered",
                "progress",
                "progress_media",
                "hangup",
                "transfer",
                "bridged",
                "last_hold",
                "hold_accum",
            ),
            0,
        )
        base["created"] = now
        for key, value in base.items():
            self.times.setdefault(key, value)

    @property
    def up(self) -> bool:
        return not self.hangup_cause

    @property
    def call_uuid(self) -> str:
        return self.variables.get("call_uuid", self.uuid)

    def answer_state(self) -> str:
        if self.hangup_cause:
            return "hangup"
        if self.answered:
            return "answered"
        return "early" if self.early else "ringing"

    def forget_other_leg(self) -> None:
        """Drop the Other-Leg-* data of a bridge that ended (once the leg moves on)."""
        if not self.bridged_to:
            self.other_type = ""
            self.other_profile = None

    def interrupt(self, kind: str) -> None:
        """Wake the channel's running app with ``kind`` (break, transfer, bridge, hangup)."""
        self.interrupts.append(kind)
        self.wake.set()

    def basic(self) -> list[tuple[str, str]]:
        """``switch_channel_event_set_basic_data``."""
        out = [
            ("Channel-State", self.state),
            ("Channel-Call-State", self.callstate),
            ("Channel-State-Number", str(STATE_NUMBERS.get(self.state, 0))),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", self.direction),
            ("Presence-Call-Direction", self.direction),
            ("Channel-HIT-Dialplan", "true" if self.hit_dialplan else "false"),
        ]
        if "presence_id" in self.variables:
            out.append(("Channel-Presence-ID", self.variables["presence_id"]))
        out += [("Channel-Call-UUID", self.call_uuid), ("Answer-State", self.answer_state())]
        if self.hangup_cause:
            out.append(("Hangup-Cause", self.hangup_cause))
        return out

    def data(self, *, variables: bool = True, other: bool = True) -> list[tuple[str, str]]:
        """``switch_channel_event_set_data``: basic data, codec, profiles, variables."""
        out = self.basic() + _CODEC + self.profile.headers("Caller-", self)
        if other and self.other_profile is not None and self.other_type:
            out.append(("Other-Type", self.other_type))
            out += self.other_profile.headers("Other-Leg-", self, other=True)
        if variables:
            out += [(f"variable_{k}", v) for k, v in self.variables.items()]
        return out

    def event(
        self,
        name: str,
        *,
        before: list[tuple[str, str]] | None = None,
        after: list[tuple[str, str]] | None = None,
        variables: bool = True,
        other: bool = True,
        calling: tuple[str, str, int] = ("switch_channel.c", "switch_channel_perform_event", 0),
        subclass: str = "",
    ) -> FsEvent:
        """A channel event with this channel's data between ``before`` and ``after``."""
        headers = [*(before or []), *self.data(variables=variables, other=other), *(after or [])]
        return FsEvent(name, headers, calling=calling, subclass=subclass)
