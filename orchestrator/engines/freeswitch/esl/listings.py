"""Parsers of the api outputs the adapter reads back (all shapes seen in the captures).

* ``show channels as json`` / ``show calls as json``: ``{"row_count":N,"rows":[...]}``
  with every value a string, or ``{"row_count": 0}\\n`` (a space, a newline, no rows)
  when there are none -> :func:`parse_channels`, :func:`parse_calls`;
* ``show channels`` / ``show registrations`` (CSV: a header line, rows, a blank line,
  ``N total.``) -> :func:`parse_csv`, :func:`parse_show_registrations`;
* ``sofia status profile <p> reg``: ``Name:<tab>value`` blocks between ``=`` rules ->
  :func:`parse_sofia_registrations`;
* ``conference [<name>] json_list``: a JSON array (``[]`` for none) ->
  :func:`parse_conferences`;
* ``uuid_dump <uuid> [json]``: the channel as a CHANNEL_DATA event -> :func:`parse_uuid_dump`.

Errors (``-ERR ...``) are the connection's to translate (``EslConnection.api`` raises
before a parser sees them); a parser given something else raises
:class:`EslProtocolError`.

Example::

    channels = parse_channels(await esl.api("show channels as json"))
    parked = [c.uuid for c in channels if c.application == "park"]
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.engines.freeswitch.esl.wire import EslEvent, EslProtocolError, Frame, parse_event


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise EslProtocolError(f"{what}: not JSON: {text[:80]!r}") from None


def parse_rows(text: str) -> list[dict[str, str]]:
    """The rows of a ``show ... as json`` output (``[]`` for ``{"row_count": 0}``)."""
    data = _json(text, "show as json")
    if not isinstance(data, dict) or not isinstance(data.get("row_count"), int):
        raise EslProtocolError(f"show as json: no row_count in {text[:80]!r}")
    rows = data.get("rows", [])
    if not isinstance(rows, list) or len(rows) != data["row_count"]:
        raise EslProtocolError(f"show as json: {data['row_count']} rows announced")
    return [{str(k): "" if v is None else str(v) for k, v in row.items()} for row in rows]


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """One row of ``show channels as json``; ``fields`` has every column."""

    uuid: str
    name: str
    direction: str
    state: str
    callstate: str
    call_uuid: str
    dest: str
    context: str
    application: str
    application_data: str
    cid_name: str
    cid_num: str
    created_epoch: int
    fields: Mapping[str, str] = field(repr=False)


def parse_channels(text: str) -> list[ChannelRow]:
    """``show channels as json``: every channel FreeSWITCH has, with its current app."""
    return [
        ChannelRow(
            uuid=row.get("uuid", ""),
            name=row.get("name", ""),
            direction=row.get("direction", ""),
            state=row.get("state", ""),
            callstate=row.get("callstate", ""),
            call_uuid=row.get("call_uuid", ""),
            dest=row.get("dest", ""),
            context=row.get("context", ""),
            application=row.get("application", ""),
            application_data=row.get("application_data", ""),
            cid_name=row.get("cid_name", ""),
            cid_num=row.get("cid_num", ""),
            created_epoch=_int(row.get("created_epoch", "")),
            fields=row,
        )
        for row in parse_rows(text)
    ]


@dataclass(frozen=True, slots=True)
class CallRow:
    """One row of ``show calls as json``: a channel and, when bridged, its peer (``b_``)."""

    uuid: str
    name: str
    call_uuid: str
    callstate: str
    b_uuid: str
    b_name: str
    fields: Mapping[str, str] = field(repr=False)

    @property
    def legs(self) -> tuple[str, ...]:
        return (self.uuid, self.b_uuid) if self.b_uuid else (self.uuid,)


def parse_calls(text: str) -> list[CallRow]:
    """``show calls as json``: one row per call (a lone channel, or a bridged pair)."""
    return [
        CallRow(
            uuid=row.get("uuid", ""),
            name=row.get("name", ""),
            call_uuid=row.get("call_uuid", ""),
            callstate=row.get("callstate", ""),
            b_uuid=row.get("b_uuid", ""),
            b_name=row.get("b_name", ""),
            fields=row,
        )
        for row in parse_rows(text)
    ]


_TOTAL = re.compile(r"^(\d+) total\.$")


def parse_csv(text: str) -> list[dict[str, str]]:
    """A ``show ...`` CSV output: header line, rows, a blank line, ``N total.``.

    FreeSWITCH does not quote: a row with more commas than columns keeps the surplus
    in its last column. The row count must match the ``N total.`` line.
    """
    lines = text.split("\n")
    total = next((m for line in lines if (m := _TOTAL.match(line))), None)
    if total is None:
        raise EslProtocolError(f"show: no 'N total.' line in {text[:80]!r}")
    count = int(total[1])
    if count == 0:
        return []
    header = lines[0].split(",")
    rows: list[dict[str, str]] = []
    for line in lines[1:]:
        if not line or _TOTAL.match(line):
            break
        values = line.split(",", len(header) - 1)
        values += [""] * (len(header) - len(values))
        rows.append(dict(zip(header, values, strict=True)))
    if len(rows) != count:
        raise EslProtocolError(f"show: {count} total announced, {len(rows)} rows read")
    return rows


@dataclass(frozen=True, slots=True)
class Registration:
    """One contact registered on a SIP profile (``show registrations``)."""

    user: str
    realm: str
    call_id: str
    url: str
    expires: int
    network_ip: str
    network_port: int
    network_proto: str
    fields: Mapping[str, str] = field(repr=False)

    @property
    def aor(self) -> str:
        return f"{self.user}@{self.realm}"


def parse_show_registrations(text: str) -> list[Registration]:
    """``show registrations``; ``expires`` is the epoch second the registration ends."""
    return [
        Registration(
            user=row.get("reg_user", ""),
            realm=row.get("realm", ""),
            call_id=row.get("token", ""),
            url=row.get("url", ""),
            expires=_int(row.get("expires", "")),
            network_ip=row.get("network_ip", ""),
            network_port=_int(row.get("network_port", "")),
            network_proto=row.get("network_proto", ""),
            fields=row,
        )
        for row in parse_csv(text)
    ]


@dataclass(frozen=True, slots=True)
class SofiaRegistration:
    """One block of ``sofia status profile <p> reg``; ``fields`` has every line."""

    call_id: str
    user: str
    contact: str
    agent: str
    status: str
    ping_status: str
    ip: str
    port: int
    auth_user: str
    auth_realm: str
    expires_in: int
    fields: Mapping[str, str] = field(repr=False)


_SOFIA_TOTAL = re.compile(r"^Total items returned: (\d+)$", re.M)
_EXPSECS = re.compile(r"EXPSECS\((-?\d+)\)")


def parse_sofia_registrations(text: str) -> list[SofiaRegistration]:
    """``sofia status profile <p> reg``; ``expires_in``: the seconds left (EXPSECS)."""
    if "Registrations:" not in text:
        raise EslProtocolError(f"sofia status reg: no 'Registrations:' in {text[:80]!r}")
    total = _SOFIA_TOTAL.search(text)
    if total is None:
        raise EslProtocolError("sofia status reg: no 'Total items returned' line")
    body = text[text.index("Registrations:") : total.start()]
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in body.split("\n")[1:]:
        if not line.strip() or line.startswith("="):
            if current:
                blocks.append(current)
                current = {}
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise EslProtocolError(f"sofia status reg: not a 'Name: value' line: {line!r}")
        current[name.strip()] = value.strip()
    if current:
        blocks.append(current)
    if len(blocks) != int(total[1]):
        raise EslProtocolError(f"sofia status reg: {total[1]} announced, {len(blocks)} read")
    out: list[SofiaRegistration] = []
    for block in blocks:
        expsecs = _EXPSECS.search(block.get("Status", ""))
        out.append(
            SofiaRegistration(
                call_id=block.get("Call-ID", ""),
                user=block.get("User", ""),
                contact=block.get("Contact", ""),
                agent=block.get("Agent", ""),
                status=block.get("Status", ""),
                ping_status=block.get("Ping-Status", ""),
                ip=block.get("IP", ""),
                port=_int(block.get("Port", "")),
                auth_user=block.get("Auth-User", ""),
                auth_realm=block.get("Auth-Realm", ""),
                expires_in=int(expsecs[1]) if expsecs else 0,
                fields=block,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class ConferenceMember:
    id: int
    uuid: str
    caller_id_name: str
    caller_id_number: str
    can_hear: bool
    can_speak: bool
    talking: bool
    has_floor: bool
    is_moderator: bool
    hold: bool


@dataclass(frozen=True, slots=True)
class Conference:
    name: str
    uuid: str
    member_count: int
    locked: bool
    running: bool
    members: tuple[ConferenceMember, ...]


def parse_conferences(text: str) -> list[Conference]:
    """``conference json_list`` / ``conference <name> json_list`` (``[]``: none)."""
    data = _json(text, "conference json_list")
    if not isinstance(data, list):
        raise EslProtocolError("conference json_list: not an array")
    conferences: list[Conference] = []
    try:
        for conf in data:
            members = []
            for m in conf.get("members", []):
                flags = m.get("flags", {})
                members.append(
                    ConferenceMember(
                        id=int(m["id"]),
                        uuid=str(m.get("uuid", "")),
                        caller_id_name=str(m.get("caller_id_name", "")),
                        caller_id_number=str(m.get("caller_id_number", "")),
                        can_hear=bool(flags.get("can_hear", False)),
                        can_speak=bool(flags.get("can_speak", False)),
                        talking=bool(flags.get("talking", False)),
                        has_floor=bool(flags.get("has_floor", False)),
                        is_moderator=bool(flags.get("is_moderator", False)),
                        hold=bool(flags.get("hold", False)),
                    )
                )
            conferences.append(
                Conference(
                    name=str(conf["conference_name"]),
                    uuid=str(conf.get("conference_uuid", "")),
                    member_count=int(conf.get("member_count", len(members))),
                    locked=bool(conf.get("locked", False)),
                    running=bool(conf.get("running", False)),
                    members=tuple(members),
                )
            )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise EslProtocolError(f"conference json_list: unexpected shape: {exc!r}") from None
    return conferences


def parse_uuid_dump(text: str) -> EslEvent:
    """``uuid_dump <uuid>`` (plain, URL-encoded) or ``uuid_dump <uuid> json``: the channel
    as a CHANNEL_DATA event (``.variable("orch_route")``, ``.get("Channel-State")``)."""
    kind = "text/event-json" if text.lstrip().startswith("{") else "text/event-plain"
    return parse_event(Frame({"Content-Type": kind}, text.encode()))
