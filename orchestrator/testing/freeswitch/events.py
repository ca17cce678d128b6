"""FreeSWITCH events as the fake peer builds and serialises them.

An :class:`FsEvent` is an ordered list of headers (names may repeat, as
``Hangup-Cause`` does in CHANNEL_HANGUP_COMPLETE) plus an optional body. It is
rendered the three ways mod_event_socket does (``switch_event_serialize``,
``switch_event_serialize_json``, ``switch_event_xmlize``): plain and xml values
URL-encoded with FreeSWITCH's unsafe set, json all strings with the body in
``"_body"`` after a string ``"Content-Length"``.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid as uuidlib
from dataclasses import dataclass, field

__all__ = ["CORE_UUID", "HOST", "FsEvent", "new_uuid", "now_us", "url_encode"]

# The host values of the captures (a sandbox), so rendered events look like them.
HOST = {
    "FreeSWITCH-Hostname": "vm",
    "FreeSWITCH-Switchname": "vm",
    "FreeSWITCH-IPv4": "192.0.2.2",
    "FreeSWITCH-IPv6": "fd00::2",
}
CORE_UUID = "c9476b02-5585-439c-8041-cf579f4e3dea"

# switch_utils.h SWITCH_URL_UNSAFE; bytes outside ' '..'~' are encoded too.
_UNSAFE = frozenset('\r\n #%&+:;<=>?@[\\]^`{|}"')

# Event-Sequence is global to the FreeSWITCH process, across every event type.
_sequence = itertools.count(1)


def new_uuid() -> str:
    """A fresh uuid in FreeSWITCH's text form."""
    return str(uuidlib.uuid4())


def now_us() -> int:
    """Microseconds since the epoch (Event-Date-Timestamp, *-Time headers)."""
    return time.time_ns() // 1000


def url_encode(value: str) -> str:
    """``switch_url_encode``: percent-encode the unsafe set and non-printables."""
    out = []
    for byte in value.encode():
        ch = chr(byte)
        if byte < 0x20 or byte > 0x7E or ch in _UNSAFE:
            out.append(f"%{byte:02X}")
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class FsEvent:
    """One event: its name, ordered headers (repeats allowed) and body."""

    name: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""
    subclass: str = ""
    calling: tuple[str, str, int] = ("switch_core.c", "switch_event_fire", 0)
    sequence: int = 0
    timestamp: int = 0
    # Headers before Event-Name (sendevent puts the client's own headers first).
    leading: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.sequence:
            self.sequence = next(_sequence)
        if not self.timestamp:
            self.timestamp = now_us()

    # -- reading -------------------------------------------------------------
    def get(self, name: str, default: str = "") -> str:
        """The first value of header ``name``."""
        for key, value in self.all_headers():
            if key == name:
                return value
        return default

    @property
    def unique_id(self) -> str:
        return self.get("Unique-ID")

    def all_headers(self) -> list[tuple[str, str]]:
        """Every header in wire order (the base headers included)."""
        ts = self.timestamp
        local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts / 1e6))
        gmt = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(ts / 1e6))
        out = list(self.leading)
        if self.subclass and not any(k == "Event-Subclass" for k, _ in out):
            out.append(("Event-Subclass", self.subclass))
        out.append(("Event-Name", self.name))
        out.append(("Core-UUID", CORE_UUID))
        out.extend(HOST.items())
        out += [
            ("Event-Date-Local", local),
            ("Event-Date-GMT", gmt),
            ("Event-Date-Timestamp", str(ts)),
            ("Event-Calling-File", self.calling[0]),
            ("Event-Calling-Function", self.calling[1]),
            ("Event-Calling-Line-Number", str(self.calling[2])),
            ("Event-Sequence", str(self.sequence)),
        ]
        out.extend(self.headers)
        return out

    # -- rendering -----------------------------------------------------------
    def plain(self) -> bytes:
        """``text/event-plain`` body: URL-encoded lines, inner Content-Length for a body."""
        lines = [f"{k}: {url_encode(v)}\n" for k, v in self.all_headers()]
        body = self.body.encode()
        if body:
            lines.append(f"Content-Length: {len(body)}\n")
            return ("".join(lines) + "\n").encode() + body
        return ("".join(lines) + "\n").encode()

    def json(self) -> bytes:
        """``text/event-json`` body: every value a string, duplicates kept, no newline."""
        parts = [
            f"{json.dumps(k, ensure_ascii=False)}:{json.dumps(v, ensure_ascii=False)}"
            for k, v in self.all_headers()
        ]
        body = self.body
        if body:
            parts.append(f'"Content-Length":"{len(body.encode())}"')
            parts.append(f'"_body":{json.dumps(body, ensure_ascii=False)}')
        return ("{" + ",".join(parts) + "}").encode()

    def xml(self) -> bytes:
        """``text/event-xml`` body, values URL-encoded."""
        rows = "".join(f"    <{k}>{url_encode(v)}</{k}>\n" for k, v in self.all_headers())
        text = f"<event>\n  <headers>\n{rows}  </headers>\n"
        body = self.body
        if body:
            text = text.replace(
                "  </headers>\n",
                f"    <Content-Length>{len(body.encode())}</Content-Length>\n  </headers>\n",
            )
            text += f"  <body>{_xml_escape(body)}</body>\n"
        return (text + "</event>\n").encode()

    def frame(self, fmt: str) -> bytes:
        """The whole frame for a subscriber: Content-Length FIRST, then Content-Type."""
        body = {"plain": self.plain, "json": self.json, "xml": self.xml}[fmt]()
        return f"Content-Length: {len(body)}\nContent-Type: text/event-{fmt}\n\n".encode() + body


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
