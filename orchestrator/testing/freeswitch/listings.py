"""Listings of the fake FreeSWITCH: ``show channels|calls|bridged_calls [as json]``
and ``uuid_dump [json]``, with the columns and shapes of the captures."""

from __future__ import annotations

import json
import time

from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.events import now_us, url_encode
from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["show", "uuid_dump"]


def _cols(text: str) -> list[str]:
    return text.split()


def _channel(sw: Switch, uuid: str) -> Channel | None:
    return sw.get(uuid.strip())


async def uuid_dump(sw: Switch, arg: str) -> str:
    parts = arg.split()
    ch = _channel(sw, parts[0]) if parts else None
    if ch is None:
        return "-ERR No such channel!\n"
    event = ch.event("CHANNEL_DATA", calling=("mod_commands.c", "uuid_dump_function", 5226))
    if len(parts) > 1 and parts[1] == "json":
        return event.json().decode()
    return "".join(f"{k}: {url_encode(v)}\n" for k, v in event.all_headers())


_CHANNEL_KEYS = _cols(
    "uuid direction created created_epoch name state cid_name cid_num ip_addr dest "
    "application application_data dialplan context read_codec read_rate read_bit_rate "
    "write_codec write_rate write_bit_rate secure hostname presence_id presence_data "
    "accountcode callstate callee_name callee_num callee_direction call_uuid "
    "sent_callee_name sent_callee_num initial_cid_name initial_cid_num initial_ip_addr "
    "initial_dest initial_dialplan initial_context "
)
_CALL_KEYS = _cols(
    "uuid direction created created_epoch name state cid_name cid_num ip_addr dest "
    "presence_id presence_data accountcode callstate callee_name callee_num "
    "callee_direction call_uuid hostname sent_callee_name sent_callee_num "
)
_B_KEYS = _cols(
    "uuid direction created created_epoch name state cid_name cid_num ip_addr dest "
    "presence_id presence_data accountcode callstate callee_name callee_num "
    "callee_direction sent_callee_name sent_callee_num "
)


def _row(ch: Channel) -> dict[str, str]:
    """A row of mod_commands' channels table (the captures' columns)."""
    created = ch.times["created"]
    p = ch.profile
    values = {
        "uuid": ch.uuid,
        "direction": ch.direction,
        "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created / 1e6)),
        "created_epoch": str(created // 1_000_000),
        "name": ch.name,
        "state": ch.state,
        "cid_name": p.caller_id_name,
        "cid_num": p.caller_id_number,
        "dest": p.destination_number,
        "application": ch.current_app,
        "application_data": ch.variables.get("current_application_data", "")
        if ch.current_app
        else "",
        "dialplan": p.dialplan,
        "context": p.context,
        "read_codec": "L16",
        "read_rate": "8000",
        "read_bit_rate": "128000",
        "write_codec": "L16",
        "write_rate": "8000",
        "write_bit_rate": "128000",
        "hostname": "vm",
        "presence_id": ch.variables.get("presence_id", ""),
        "callstate": ch.callstate,
        "callee_num": p.callee_id_number,
        "call_uuid": ch.call_uuid,
        "initial_cid_num": p.caller_id_number,
        "initial_dest": p.destination_number,
        "initial_dialplan": p.dialplan.lower(),
        "initial_context": p.context,
    }
    return values


async def show(sw: Switch, arg: str) -> str:
    """``show channels|calls|bridged_calls [as json]``."""
    parts = arg.split()
    what = parts[0] if parts else ""
    as_json = parts[-2:] == ["as", "json"]
    if what not in ("channels", "calls", "bridged_calls"):
        return "-USAGE: show channels|calls|bridged_calls [as json]\n"
    # FreeSWITCH's channels table lags new channels (~200 ms seen on 1.10.12): a knob
    seen_after = now_us() - int(sw.show_channels_lag * 1_000_000)
    live = [ch for ch in sw.channels.values() if ch.up and ch.times["created"] <= seen_after]
    rows: list[dict[str, str]] = []
    if what == "channels":
        rows = [{k: _row(ch).get(k, "") for k in _CHANNEL_KEYS} for ch in live]
    else:
        seen: set[str] = set()
        for ch in live:
            if ch.uuid in seen or (what == "bridged_calls" and not ch.bridged_to):
                continue
            seen.update({ch.uuid, ch.bridged_to})
            base = _row(ch)
            row = {k: base.get(k, "") for k in _CALL_KEYS}
            other = sw.get(ch.bridged_to)
            b = _row(other) if other is not None else {}
            row.update({f"b_{k}": b.get(k, "") for k in _B_KEYS})
            row["call_created_epoch"] = b.get("created_epoch", "")
            rows.append(row)
    if as_json:
        if not rows:
            return '{"row_count": 0}\n'
        return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":")) + "\n"
    if not rows:
        return "\n0 total.\n"
    lines = [",".join(rows[0])] + [",".join(r.values()) for r in rows]
    return "\n".join(lines) + f"\n\n{len(rows)} total.\n"
