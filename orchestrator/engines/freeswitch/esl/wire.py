"""The Event Socket wire format: frames in, events out, commands encoded.

Facts this follows (all in the real captures, tests/data/freeswitch-esl/):

* a server frame is a header block ended by ``\\n\\n``, then exactly ``Content-Length``
  body bytes when that header is there, with no terminator; ``command/reply`` and
  ``auth/request`` have no ``Content-Length``; event frames put it *first*, so headers
  are looked up by name, never by position; ``api/response`` bodies may lack a final
  ``\\n``;
* the outbound ``connect`` reply is one header block (channel data, then
  ``Content-Type: command/reply``) whose values are URL-encoded;
* ``text/event-plain`` bodies are ``Name: value`` lines with URL-encoded values, then
  ``\\n`` and, for events with a body (BACKGROUND_JOB, CUSTOM), the body itself;
  ``text/event-json`` is one object of strings with the body in ``"_body"``;
  ``text/event-xml`` is ``<event><headers><Name>urlencoded</Name>...``;
* header names repeat inside one event (``Hangup-Cause`` twice in
  CHANNEL_HANGUP_COMPLETE): the *first* value is kept, whatever the format, so plain,
  json and xml subscriptions see the same event;
* FreeSWITCH splits a command's lines on ``\\r`` as well as ``\\n`` and silently skips
  an empty command: :func:`encode_command` refuses both, so a value can neither inject
  a second command nor leave a request without its reply.

Example::

    parser = FrameParser()
    for frame in parser.feed(data):
        if frame.content_type.startswith("text/event-"):
            event = parse_event(frame)
            print(event.name, event.uuid, event.get("Hangup-Cause"))
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

# A header block that never ends, or a body announced bigger than this, is a broken
# peer, not an event worth buffering (FreeSWITCH's own command limit is 10 MiB).
MAX_HEADER_BLOCK = 1 << 20
MAX_CONTENT_LENGTH = 64 << 20


class EslProtocolError(ValueError):
    """Bytes that are not an ESL frame, or an event body that cannot be read.

    Raised by :meth:`FrameParser.feed`, ``frames`` holds the whole frames that came
    before the bad one in the same feed (a reply the caller still waits for).
    """

    frames: tuple[Frame, ...] = ()


@dataclass(frozen=True, slots=True)
class Frame:
    """One server frame: headers as on the wire (first occurrence wins) and the body."""

    headers: dict[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").split("\n"):
        name, colon, value = line.partition(":")
        if not colon or not name:
            raise EslProtocolError(f"not a header line: {line[:80]!r}")
        headers.setdefault(name, value.lstrip(" "))
    return headers


class FrameParser:
    """Incremental frame splitter: feed it bytes as they come, split anywhere."""

    def __init__(self) -> None:
        self._buf = bytearray()
        # Where to resume looking for the end of the header block (bytes already seen).
        self._scan = 0
        # The header block of a frame whose body is still incomplete.
        self._pending: tuple[dict[str, str], int] | None = None

    @property
    def buffered(self) -> int:
        """Bytes received that are not a whole frame yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes, in order; the rest is kept for the next feed."""
        self._buf += data
        frames: list[Frame] = []
        try:
            self._split(frames)
        except EslProtocolError as exc:
            exc.frames = tuple(frames)
            raise
        return frames

    def _split(self, frames: list[Frame]) -> None:
        buf = self._buf
        start = 0
        while True:
            if self._pending is None:
                # FreeSWITCH skips blank lines before a frame; so do we.
                while start < len(buf) and buf[start] == 0x0A:
                    start += 1
                end = buf.find(b"\n\n", max(start, self._scan))
                if end < 0:
                    self._scan = max(start, len(buf) - 1)
                    if len(buf) - start > MAX_HEADER_BLOCK:
                        raise EslProtocolError("header block without an end")
                    break
                headers = _parse_headers(bytes(buf[start:end]))
                start = end + 2
                self._scan = start
                length = _content_length(headers)
                if length == 0:
                    frames.append(Frame(headers))
                    continue
                self._pending = (headers, length)
            headers, length = self._pending
            if len(buf) - start < length:
                break
            frames.append(Frame(headers, bytes(buf[start : start + length])))
            start += length
            self._scan = start
            self._pending = None
        del buf[:start]
        self._scan -= start


def _content_length(headers: Mapping[str, str]) -> int:
    raw = headers.get("Content-Length")
    if raw is None:
        return 0
    try:
        length = int(raw)
    except ValueError:
        raise EslProtocolError(f"bad Content-Length {raw!r}") from None
    if not 0 <= length <= MAX_CONTENT_LENGTH:
        raise EslProtocolError(f"Content-Length out of range: {length}")
    return length


@dataclass(frozen=True, slots=True)
class EslEvent:
    """One event, decoded: the same whatever the subscription format was.

    ``headers`` values are decoded (no URL escapes); a repeated name keeps its first
    value. ``body`` is the event's own body (BACKGROUND_JOB's API output, a CUSTOM
    event's text), ``""`` when it has none.
    """

    name: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: str = ""

    @property
    def subclass(self) -> str:
        """``Event-Subclass`` of a CUSTOM event (``conference::maintenance``)."""
        return self.headers.get("Event-Subclass", "")

    @property
    def uuid(self) -> str:
        """The channel's ``Unique-ID`` (``""`` for events of no channel)."""
        return self.headers.get("Unique-ID", "")

    @property
    def sequence(self) -> int:
        """``Event-Sequence``: process-wide, increasing per channel only (0 if absent)."""
        try:
            return int(self.headers.get("Event-Sequence", "0"))
        except ValueError:
            return 0

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def variable(self, name: str, default: str = "") -> str:
        """A channel variable as the event carries it (``variable_<name>``)."""
        return self.headers.get("variable_" + name, default)


def _plain_headers(text: str) -> tuple[dict[str, str], str]:
    """``Name: urlencoded`` lines, a blank line, then the body (if any)."""
    block, _sep, body = text.partition("\n\n")
    headers: dict[str, str] = {}
    for line in block.split("\n"):
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name:
            raise EslProtocolError(f"not an event header line: {line[:80]!r}")
        if name not in headers:
            value = value.lstrip(" ")
            headers[name] = unquote(value) if "%" in value else value
    return headers, body


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        # A repeated key (Hangup-Cause in CHANNEL_HANGUP_COMPLETE): keep the first value,
        # at the key's first place (dict() of the reversed pairs has each key's first).
        out.update(dict(reversed(pairs)))
    return out


def _json_headers(text: str) -> tuple[dict[str, str], str]:
    try:
        data = json.loads(text, object_pairs_hook=_first_wins)
    except ValueError as exc:
        raise EslProtocolError(f"event-json body is not JSON: {exc}") from None
    return _json_result(data)


def _json_result(data: Any) -> tuple[dict[str, str], str]:
    if not isinstance(data, dict):
        raise EslProtocolError("event-json body is not an object")
    body = data.pop("_body", "")
    if type(body) is not str:
        body = json.dumps(body)
    _as_strings(data)
    return data, body


def _as_strings(data: dict[str, Any]) -> None:
    """Make every value a string in place: a multi-valued header (an array such as
    variable_transfer_history) becomes its JSON text; the keys keep their order."""
    try:
        "".join(data.values())  # a TypeError when a value is not a string: C-fast check
    except TypeError:
        for key, value in [kv for kv in data.items() if type(kv[1]) is not str]:
            data[key] = json.dumps(value)  # an existing key: its place is kept


# Headers FreeSWITCH repeats in one event (seen in the captures): Hangup-Cause in
# CHANNEL_HANGUP_COMPLETE, the conference's in conference::maintenance, CODEC's codec.
REPEATED = tuple(
    (f'"{name}":'.encode(), name)
    for name in (
        "Hangup-Cause", "Conference-Name", "Conference-Domain", "Conference-Size",
        "Conference-Ghosts", "Conference-Profile-Name", "Conference-Unique-ID",
        "Channel-Write-Codec-Name", "Channel-Write-Codec-Rate",
    )
)  # fmt: skip


def _string_end(raw: bytes, start: int) -> int:
    """The index after the JSON string opening at ``start`` (its closing quote's + 1)."""
    pos = start + 1
    while (quote := raw.find(b'"', pos)) >= 0:
        back = quote
        while raw[back - 1] == 0x5C:  # backslashes before it: an even count ends the string
            back -= 1
        if (quote - back) % 2 == 0:
            return quote + 1
        pos = quote + 1
    return -1


def _first_values(raw: bytes, data: dict[str, Any]) -> bool:
    """Give ``data`` (orjson's parse of ``raw``: a repeated key's *last* value) the first
    values of the :data:`REPEATED` headers; True only when that is proven to be the
    first-wins parse of ``raw``.

    The proof: no object but the outer one (no ``{`` where a value could start), each
    repeated name found exactly twice as a key with a string value, and ``raw`` without
    the second pairs being byte for byte the canonical text of the repaired ``data``
    (so nothing else is repeated and nothing else differs).
    """
    brace = raw.find(b"{", 1)
    while brace >= 0:  # an object starts after ":", "[" or "," (no spaces: see the end)
        if raw[brace - 1] in b":[,":
            return False
        brace = raw.find(b"{", brace + 1)
    cuts: list[tuple[int, int]] = []
    for needle, name in REPEATED:
        if name not in data:
            continue
        first = raw.find(needle)
        second = raw.find(needle, first + 1)
        if second < 0:
            continue
        if raw[first - 1] not in b",{" or raw[second - 1] != 0x2C:  # a key's place
            return False
        if raw.find(needle, second + 1) >= 0:
            return False
        value = first + len(needle)
        later = second + len(needle)
        if raw[value] != 0x22 or raw[later] != 0x22:  # both strings
            return False
        value_end, later_end = _string_end(raw, value), _string_end(raw, later)
        if value_end < 0 or later_end < 0:
            return False
        data[name] = orjson.loads(raw[value:value_end])
        cuts.append((second - 1, later_end))  # the comma before the pair, the pair
    if not cuts:
        return False
    cuts.sort()
    parts, pos = [], 0
    for start, end in cuts:
        parts.append(raw[pos:start])
        pos = end
    parts.append(raw[pos:])
    return orjson.dumps(data) == b"".join(parts)


def _json_headers_fast(raw: bytes) -> tuple[dict[str, str], str] | None:
    """The same as :func:`_json_headers`, in a quarter of the time, or None.

    orjson keeps the *last* value of a repeated key, so its result is taken only when
    serialising it again gives back ``raw`` byte for byte: then ``raw`` is that object's
    canonical text, which has no repeated key (FreeSWITCH writes JSON as orjson does:
    no spaces, the same escapes, UTF-8 as is), or when :func:`_first_values` can prove
    its repair of the headers FreeSWITCH is known to repeat. Anything else (invalid
    UTF-8, another layout, another repeated key) goes the slow, first-wins way.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict:
        return None
    if orjson.dumps(data) != raw and not _first_values(raw, data):
        return None
    body = data.pop("_body", "")
    if type(body) is not str:
        body = json.dumps(body)
    _as_strings(data)
    return data, body


def _xml_headers(text: str) -> tuple[dict[str, str], str]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise EslProtocolError(f"event-xml body is not XML: {exc}") from None
    headers: dict[str, str] = {}
    for element in root.iterfind("headers/*"):
        headers.setdefault(element.tag, unquote(element.text or ""))
    body_element = root.find("body")
    body = body_element.text or "" if body_element is not None else ""
    return headers, body


def parse_event(frame: Frame) -> EslEvent:
    """Decode an event frame (``text/event-plain``, ``-json``, ``-xml``).

    The outbound socket's ``connect`` reply (a ``command/reply`` whose headers are the
    URL-encoded channel data, ``Event-Name: CHANNEL_DATA``) decodes too.
    """
    kind = frame.content_type
    if kind == "text/event-json":
        decoded = _json_headers_fast(frame.body)
        headers, body = decoded or _json_headers(frame.body.decode("utf-8", "replace"))
    elif kind == "text/event-plain":
        headers, body = _plain_headers(frame.body.decode("utf-8", "replace"))
    elif kind == "text/event-xml":
        headers, body = _xml_headers(frame.body.decode("utf-8", "replace"))
    elif kind == "command/reply" and "Event-Name" in frame.headers:
        headers = {k: unquote(v) for k, v in frame.headers.items()}
        body = ""
    else:
        raise EslProtocolError(f"not an event frame: Content-Type {kind!r}")
    name = headers.get("Event-Name")
    if not name:
        raise EslProtocolError("an event without Event-Name")
    return EslEvent(name, headers, body)


def _check_line(text: str, what: str) -> None:
    if "\n" in text or "\r" in text:
        raise EslProtocolError(f"line break in the {what}: {text[:80]!r}")


def encode_command(
    command: str, headers: Mapping[str, str] | None = None, body: str | None = None
) -> bytes:
    """The bytes of one command: its line, ``Name: value`` lines, a blank line, the body.

    With a ``body``, ``content-type: text/plain`` and ``content-length`` are added unless
    given (a given length must be the body's). Raises :class:`EslProtocolError` for a
    line break in the command or a header, an empty command (FreeSWITCH would skip it
    without a reply) or a header name FreeSWITCH would read differently::

        >>> encode_command("bgapi status", {"Job-UUID": "j1"})
        b'bgapi status\\nJob-UUID: j1\\n\\n'
    """
    _check_line(command, "command")
    if not command.strip():
        raise EslProtocolError("an empty command gets no reply")
    lines = [command]
    given: set[str] = set()
    payload = body.encode() if body is not None else b""
    for name, value in (headers or {}).items():
        _check_line(name, "header name")
        _check_line(value, "header value")
        if not name or ":" in name or name != name.strip():
            raise EslProtocolError(f"bad header name {name!r}")
        lowered = name.lower()
        if lowered == "content-length" and (body is None or value.strip() != str(len(payload))):
            raise EslProtocolError(f"content-length {value!r} is not the body's length")
        given.add(lowered)
        lines.append(f"{name}: {value}")
    if body is not None:
        if "content-type" not in given:
            lines.append("content-type: text/plain")
        if "content-length" not in given:
            lines.append(f"content-length: {len(payload)}")
    return ("\n".join(lines) + "\n\n").encode() + payload
