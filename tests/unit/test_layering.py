"""Features, flows and the API name no engine's object model (issue 11).

Import contracts (lint-imports) keep adapters out of the features' imports; this test
keeps the engines' words out of their source: bridges, snoop channels, Stasis, dial
strings, dialplan contexts and priorities, DIALSTATUS, FreeSWITCH's CS_ states, the
ARI/AMI/ESL protocols. Comments and docstrings count too: a feature that explains itself
in an engine's terms is written against that engine. What an engine does belongs in
its adapter (orchestrator/engines/*) and in the "How engines do it" notes of the seam,
which this test skips. Words that are every engine's (dialplan, channel, hold) are fine.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The feature packages, the API and the IVR flows (queues: acd/ + callcenter/ as one
# package; whichever exist are read).
PACKAGES = [
    *(
        f"orchestrator/{name}"
        for name in (
            "ivr", "cti", "cdr", "acd", "callcenter", "queues", "rating", "recordings",
            "webhooks", "provisioning", "store",
        )
    ),
    "api",
    "ivr_apps",
]  # fmt: skip

FORBIDDEN = re.compile(
    r"bridge|snoop|stasis"
    r"|\b(?:PJSIP|SIP|IAX2|Local|sofia|loopback)/"
    # "context" alone is too common a word (context managers): a dialplan's, a tenant's,
    # or one with a priority.
    r"|continue_in_dialplan|ORCH_DIAL|(?:dialplan|tenant's) contexts?|contexts? (?:and|,) priorit"
    r"|\bpriority 1\b"
    r"|(?-i:DIALSTATUS|HANGUPCAUSE|\bCS_[A-Z]+|\bARI\b|\bAMI\b|\bESL\b)",
    re.IGNORECASE,
)

# Words allowed where they are, with why (matched against the line, after the file).
ALLOWED: list[tuple[str, str, str]] = [
    # (file name, text on the line, reason)
    (
        "",
        "ChannelBridged",
        "core observation event: a channel joined a conversation (opaque conversation_id)",
    ),
    ("", "ChannelUnbridged", "core observation event, see ChannelBridged"),
    (
        "",
        'bridge_id: str = Field(default=""',
        "queue_places.bridge_id column: nothing reads or writes it; a migration may drop it",
    ),
    (
        "testing.py",
        "SIP/",
        "the FakeEngine's channel names (SIP/<extension>@<tenant>), read by the queue test "
        "harness; no engine's dial string",
    ),
]

# The seam's (and the provisioner interface's) notes on each engine, up to a blank line
# or the end of the docstring.
HOW_ENGINES = re.compile(r"How engines do it:.*?(?:\n\s*\n|\"\"\")", re.DOTALL)


def sources() -> list[Path]:
    found: list[Path] = []
    for package in PACKAGES:
        folder = ROOT / package
        if folder.is_dir():
            found.extend(sorted(folder.rglob("*.py")))
    return found


def offences(path: Path) -> list[str]:
    relative = path.relative_to(ROOT).as_posix()
    text = HOW_ENGINES.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text())
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        rest = line
        for name, allowed, _reason in ALLOWED:
            if relative.endswith(name) and allowed in rest:
                rest = rest.replace(allowed, "")
        if FORBIDDEN.search(rest):
            found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_the_packages_are_there() -> None:
    # A renamed package must not make the test pass by reading nothing.
    assert len(sources()) > 100


def test_features_name_no_engine_object_model() -> None:
    found = [line for path in sources() for line in offences(path)]
    assert found == [], "engine words in features (say it in telephony words):\n" + "\n".join(found)


def test_the_check_catches_what_it_should(tmp_path: Path) -> None:
    for word in (
        "await engine.create_bridge()",
        "# the snoop channel",
        "StasisStart",
        "PJSIP/101",
        "Local/100@t1/n",
        "context t1, priority 1",
        "DIALSTATUS",
        "CS_EXECUTE",
        "over ARI",
    ):
        assert FORBIDDEN.search(word), word
    for word in (
        "engine.connect(a, b)", "a dialplan call", "hold the caller", "priority: int",
        "track.context = e.context", "async with context:",
    ):  # fmt: skip
        assert not FORBIDDEN.search(word), word


def test_the_seam_is_small_in_telephony_words_and_says_how_engines_do_it() -> None:
    """~20-25 abstract methods; none names an engine object model (name or parameter);
    each says how Asterisk and FreeSWITCH do it (docs/architecture.md is written from it)."""
    from orchestrator.core.engine import Engine

    methods = sorted(Engine.__abstractmethods__)
    assert 20 <= len(methods) <= 25, methods
    for name in methods:
        method = getattr(Engine, name)
        words = " ".join([name, *inspect.signature(method).parameters])
        assert not FORBIDDEN.search(words.replace("_", " ")), words
        doc = inspect.getdoc(method) or ""
        note = doc.partition("How engines do it:")[2]
        assert "Asterisk" in note and "FreeSWITCH" in note, name
    # The adapters' own objects are gone from the seam.
    for gone in ("create_bridge", "add_to_bridge", "remove_from_bridge", "destroy_bridge"):
        assert not hasattr(Engine, gone), gone


def test_no_bridge_state_in_the_core() -> None:
    import orchestrator.core as core
    from orchestrator.core import events
    from orchestrator.core.call import Leg
    from orchestrator.core.fake import FakeEngine

    fake = FakeEngine()
    assert not hasattr(fake, "bridges") and not hasattr(fake, "create_bridge")
    assert "bridge_id" not in {f.name for f in dataclasses.fields(Leg)}
    assert not hasattr(core, "Bridge")
    for name in ("BridgeCreated", "BridgeDestroyed", "LegEnteredBridge", "LegLeftBridge"):
        assert not hasattr(events, name), name
