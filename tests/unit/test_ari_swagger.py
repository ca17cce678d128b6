"""Every request AriClient makes exists in Asterisk's Swagger (tests/data/ari) as made.

The ARI operations of the client are called with a recording ``request``; each
recorded method, path and parameter set must match an operation of the Swagger
copy fetched from Asterisk 22. A new client method without a sample here fails.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engines.asterisk.ari import AriClient

DATA = Path(__file__).resolve().parents[1] / "data" / "ari"
NOT_OPERATIONS = {"request", "get", "post", "put", "delete", "close", "run_events"}
NOT_OPERATIONS |= {"drop_events_link", "__aenter__", "__aexit__"}

SAMPLES: dict[str, tuple[Any, ...] | dict[str, Any]] = {
    "info": (),
    "application": (),
    "subscribe": ("endpoint:PJSIP",),
    "set_event_filter": ({"allowed": [{"type": "StasisStart"}]},),
    "events_flow": {"timeout": 0.01},  # sends a user event, waits (no events here)
    "list_channels": (),
    "originate": {
        "endpoint": "PJSIP/101@t1",
        "channel_id": "orch-1",
        "app_args": ("a", "b"),
        "caller_id": '"A" <1>',
        "timeout": 20,
        "variables": {"X": "1"},
    },
    "answer": ("orch-1",),
    "hangup": {"channel_id": "orch-1", "reason": "busy"},
    "play": ("orch-1", ["sound:beep", "digits:12"], "orch-p1"),
    "stop_playback": ("orch-p1",),
    "set_variable": ("orch-1", "X", "2"),
    "continue_in_dialplan": ("orch-1", "ctx", "100", 1),
    "list_bridges": (),
    "create_bridge": ("orch-b1", "mixing"),
    "add_channel": ("orch-b1", "orch-1"),
    "remove_channel": ("orch-b1", "orch-1"),
    "destroy_bridge": ("orch-b1",),
    "get_bridge": ("orch-conf-1",),
    "play_to_bridge": ("orch-conf-1", ["sound:beep"], "orch-p2"),
    "record_bridge": {
        "bridge_id": "orch-conf-1",
        "name": "conf/all",
        "fmt": "wav",
        "max_duration": 60,
        "beep": True,
        "if_exists": "overwrite",
    },
    "mute": ("orch-1", "in"),
    "unmute": ("orch-1", "out"),
    "get_channel": ("orch-1",),
    "ring": ("orch-1",),
    "send_dtmf": ("orch-1", "12#"),
    "hold": ("orch-1",),
    "unhold": ("orch-1",),
    "start_moh": ("orch-1", "default"),
    "stop_moh": ("orch-1",),
    "get_variable": ("orch-1", "CALLERID(num)"),
    "record": {
        "channel_id": "orch-1",
        "name": "t1/greeting",
        "fmt": "wav",
        "max_duration": 30,
        "max_silence": 5,
        "beep": True,
        "terminate_on": "#",
        "if_exists": "overwrite",
    },
    "stop_recording": ("t1/greeting",),
    "recording_file": ("t1/greeting",),
    "delete_recording": ("t1/greeting",),
    "snoop": {
        "channel_id": "orch-1",
        "snoop_id": "orch-s1",
        "spy": "both",
        "whisper": "out",
        "app_args": ("supervise", "s1"),
    },
}


def load_operations() -> list[dict[str, Any]]:
    resources = json.loads((DATA / "resources.json").read_text())
    ops = []
    for api in resources["apis"]:
        name = api["path"].split("/")[-1].replace(".{format}", ".json")
        for entry in json.loads((DATA / name).read_text())["apis"]:
            template = entry["path"]
            pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
            for op in entry["operations"]:
                ops.append(
                    {
                        "method": op["httpMethod"],
                        "template": template,
                        "regex": re.compile(f"^{pattern}$"),
                        "literal_segments": template.count("/") - template.count("{"),
                        "params": {p["name"]: p for p in op.get("parameters", [])},
                    }
                )
    return ops


OPERATIONS = load_operations()


def find_operation(method: str, path: str) -> dict[str, Any] | None:
    matches = [op for op in OPERATIONS if op["method"] == method and op["regex"].match(path)]
    # "/channels/create" matches "/channels/{channelId}" too: the most literal one wins.
    return max(matches, key=lambda op: op["literal_segments"], default=None)


def check_value(name: str, spec: dict[str, Any], value: Any) -> None:
    """A query value of the declared type, inside the declared list or range."""
    kind = spec.get("dataType")
    if kind == "int":
        assert isinstance(value, int) and not isinstance(value, bool), f"{name} is not an int"
    elif kind == "boolean":
        assert isinstance(value, bool) or value in ("true", "false"), f"{name} is not a boolean"
    allowed = spec.get("allowableValues") or {}
    if allowed.get("valueType") == "LIST":
        assert str(value) in allowed["values"], f"{name}={value!r} not in {allowed['values']}"
    elif allowed.get("valueType") == "RANGE":
        low, high = allowed.get("min"), allowed.get("max")
        assert low is None or value >= low, f"{name}={value!r} below {low}"
        assert high is None or value <= high, f"{name}={value!r} above {high}"


def check(method: str, path: str, params: dict[str, Any], body: Any) -> None:
    op = find_operation(method, path)
    assert op is not None, f"{method} {path} is not an ARI operation"
    declared = op["params"]
    for name, value in params.items():
        assert name in declared, f"{method} {op['template']}: no query parameter {name!r}"
        assert declared[name]["paramType"] == "query", f"{name} is not a query parameter"
        check_value(name, declared[name], value)
    # eventFilter's one body parameter ("filter") is the whole body, not a key of it.
    whole = [n for n, spec in declared.items() if spec["paramType"] == "body"] == ["filter"]
    for name in body or {}:
        assert whole or (name in declared and declared[name]["paramType"] == "body"), name
    for name, spec in declared.items():
        if spec.get("required") and spec["paramType"] in ("query", "body"):
            assert name in params or name in (body or {}) or (whole and body), f"{name} missing"


def client_operations() -> set[str]:
    return {
        name
        for name, fn in inspect.getmembers(AriClient, inspect.iscoroutinefunction)
        if name not in NOT_OPERATIONS and not name.startswith("_")
    }


def test_every_operation_has_a_sample() -> None:
    assert client_operations() == set(SAMPLES)


@pytest.mark.parametrize("operation", sorted(SAMPLES))
async def test_operation_matches_swagger(operation: str) -> None:
    client = AriClient("http://ari.invalid/ari", "u", "p", "orchestrator")
    calls: list[tuple[str, str, dict[str, Any], Any]] = []

    async def record(method: str, path: str, *, params=None, body=None, timeout=None, raw=False):  # type: ignore[no-untyped-def]
        sent = {k: v for k, v in (params or {}).items() if v is not None}
        calls.append((method, path, sent, body))
        return b"RIFF" if raw else {"channel_ids": [], "bridge_ids": [], "value": ""}

    client.request = record  # type: ignore[method-assign]
    sample = SAMPLES[operation]
    fn = getattr(client, operation)
    await (fn(**sample) if isinstance(sample, dict) else fn(*sample))
    assert calls, f"{operation} sent nothing"
    for call in calls:
        check(*call)


def test_events_websocket_matches_swagger() -> None:
    client = AriClient("http://ari.invalid/ari", "u", "p", "orchestrator")
    assert client.events_url().endswith("/events")
    check("GET", "/events", {"app": "orchestrator", "subscribeAll": "false"}, None)


def test_checker_refuses_unknown_calls() -> None:
    with pytest.raises(AssertionError):
        check("POST", "/channels/x/frobnicate", {}, None)
    with pytest.raises(AssertionError):
        check("POST", "/channels/x/play", {"media": "sound:x", "bogus": 1}, None)
    with pytest.raises(AssertionError):
        check("POST", "/channels/x/play", {}, None)  # media is required
    record = {"name": "n", "format": "wav"}
    check("POST", "/channels/x/record", {**record, "terminateOn": "none"}, None)
    with pytest.raises(AssertionError):
        check("POST", "/channels/x/record", {**record, "terminateOn": ""}, None)
    with pytest.raises(AssertionError):
        check("POST", "/channels/x/record", {**record, "maxDurationSeconds": 2.5}, None)
    with pytest.raises(AssertionError):
        check("POST", "/channels/x/record", {**record, "maxSilenceSeconds": -1}, None)
    with pytest.raises(AssertionError):
        check("POST", "/channels/x/record", {**record, "beep": "yes"}, None)
