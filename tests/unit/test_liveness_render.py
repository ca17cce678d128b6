"""Dead phones and the catch-all in the rendered configuration (no engine).

The real-engine side (a phone killed mid-call is cleared; odd dialed strings get 404)
is tests/engine/test_dead_phones.py.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import jinja2
import pytest
from pydantic import ValidationError as SettingsError

from orchestrator.core.errors import ValidationError
from orchestrator.engines.asterisk.provisioning.render import Liveness, Renderer
from orchestrator.provisioning.data import TenantConfig
from orchestrator.settings import Settings
from tests.unit.test_trunk_render import TEMPLATES, config, route, trunk


def tenant() -> TenantConfig:
    return config([trunk(username="acct", password="Secret123456")], [route(prefix="9")])


def test_phones_and_trunks_get_the_default_timeouts() -> None:
    r = Renderer(TEMPLATES).render(tenant())
    for oid in ("101@a.example", "trunk-t1-carrier"):
        endpoint = r.sip["ps_endpoints"][oid]
        assert endpoint["rtp_timeout"] == "60", oid
        assert endpoint["rtp_timeout_hold"] == "120", oid
        assert endpoint["timers"] == "yes", oid
        assert endpoint["timers_min_se"] == "90", oid
        assert endpoint["timers_sess_expires"] == "180", oid
        assert r.sip["ps_aors"][oid]["qualify_frequency"] == "60", oid


def test_settings_reach_the_sip_objects_and_the_version() -> None:
    short = Liveness(rtp_timeout=5, rtp_timeout_hold=9, session_expires=90, qualify=0)
    r = Renderer(TEMPLATES, liveness=short).render(tenant())
    endpoint = r.sip["ps_endpoints"]["101@a.example"]
    assert (endpoint["rtp_timeout"], endpoint["rtp_timeout_hold"]) == ("5", "9")
    assert endpoint["timers_sess_expires"] == "90"
    assert r.sip["ps_aors"]["trunk-t1-carrier"]["qualify_frequency"] == "0"
    # Other timeouts are another configuration: re-applied, not taken for unchanged.
    assert r.version != Renderer(TEMPLATES).render(tenant()).version


@pytest.mark.parametrize(
    "field,value",
    [
        ("rtp_timeout", 1),
        ("rtp_timeout", 3601),
        ("rtp_timeout_hold", 0),
        ("session_expires", 89),
        ("qualify", -1),
        ("qualify", True),
        ("rtp_timeout", 5.5),
    ],
)
def test_liveness_refuses_out_of_range(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        Liveness(**{field: value})


@pytest.mark.parametrize(
    "name,value",
    [
        ("ORCH_SIP_RTP_TIMEOUT_S", "1"),
        ("ORCH_SIP_RTP_TIMEOUT_HOLD_S", "abc"),
        ("ORCH_SIP_SESSION_EXPIRES_S", "30"),
        ("ORCH_SIP_QUALIFY_S", "-5"),
    ],
)
def test_settings_refuse_bad_timeouts(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name.removeprefix("ORCH_").lower()):
        Settings(engine="fake")


def test_settings_read_the_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_SIP_RTP_TIMEOUT_S", "30")
    monkeypatch.setenv("ORCH_SIP_QUALIFY_S", "0")
    settings = Settings(engine="fake")
    assert (settings.sip_rtp_timeout_s, settings.sip_qualify_s) == (30, 0)
    assert (settings.sip_rtp_timeout_hold_s, settings.sip_session_expires_s) == (120, 180)


# -- what a caller dials ------------------------------------------------------

_EXTEN = re.compile(r"^exten => (\S+?),")
# The only places the dialed string may appear where a pattern lets any character
# through: as the string FILTER keeps the allowed characters of, and measured.
_HARMLESS = (
    "${FILTER(0-9*#+,${EXTEN})}",
    "${FILTER(0-9*#,${EXTEN})}",  # a feature code
    "${LEN(${EXTEN})}",
    # orchestrator-take: the extension is an ARI application's name (Engine.take).
    "${FILTER(-_a-zA-Z0-9,${EXTEN})}",
)


def _blocks(dialplan: str) -> list[tuple[str, list[str]]]:
    """(pattern, its lines) for every extension of the dialplan."""
    blocks: list[tuple[str, list[str]]] = []
    for line in dialplan.splitlines():
        if m := _EXTEN.match(line):
            blocks.append((m.group(1), [line]))
        elif line.startswith(" same =>") and blocks:
            blocks[-1][1].append(line)
    return blocks


def _assert_wildcards_filter(dialplan: str) -> None:
    """AST-2010-002: a pattern with ``.`` or ``!`` matches commas and parentheses too.

    Patterns of digits (``X``) and literal numbers are safe; a wildcard one may hand the
    dialed string only to FILTER/LEN, and go on with what FILTER kept.
    """
    wildcards = [(p, lines) for p, lines in _blocks(dialplan) if "!" in p or "." in p]
    assert wildcards, dialplan
    for pattern, lines in wildcards:
        for line in lines:
            rest = line
            for harmless in _HARMLESS:
                rest = rest.replace(harmless, "")
            assert "EXTEN" not in rest, (pattern, line)


def test_the_base_dialplan_filters_what_was_dialed_too() -> None:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES / "base"), undefined=jinja2.StrictUndefined
    )
    base = env.get_template("extensions.conf.j2").render(
        ari_app="orchestrator", realtime_url="http://127.0.0.1:8000/x"
    )
    _assert_wildcards_filter(base)
    stasis = next(lines for p, lines in _blocks(base) if p == "_X.")
    assert " same => n,Stasis(orchestrator,${ORCH_DIALED})" in stasis, stasis


@pytest.mark.parametrize("billing", ["", "prepaid"])
def test_no_wildcard_pattern_passes_the_dialed_string_on(billing: str) -> None:
    r = Renderer(TEMPLATES).render(replace(tenant(), billing=billing))
    _assert_wildcards_filter(r.dialplan)
    catch_all = next(lines for p, lines in _blocks(r.dialplan) if p == "_[0-9*#+]!")
    assert any("Goto(orchestrator-route,dial,1)" in line for line in catch_all), catch_all
    assert any("Goto(t1-unknown,invalid,1)" in line for line in catch_all), catch_all


def test_the_lookups_answer_is_filtered_and_checked_whole() -> None:
    """The orchestrator's answer reaches Dial/Stasis only after FILTER kept all of it
    and each part passed its own FILTER whole (AST-2010-002, as for ${EXTEN})."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES / "base"), undefined=jinja2.StrictUndefined
    )
    base = env.get_template("extensions.conf.j2").render(
        ari_app="orchestrator", realtime_url="http://127.0.0.1:8000/x"
    )
    route = base.split("[orchestrator-route]\n", 1)[1].split("\n[", 1)[0]
    blocks = dict(_blocks(route))
    answer = blocks["answer"]
    assert (
        answer[0] == "exten => answer,1,Set(ORCH_ROUTE=${FILTER(-+#*./0-9@A-Z_a-z,${ORCH_ANSWER})})"
    )
    assert "${LEN(${ORCH_ROUTE})} != ${LEN(${ORCH_ANSWER})}]?failed,1)" in answer[1]
    # The raw answer is used nowhere else.
    for name, lines in blocks.items():
        for line in lines:
            if name not in ("dial", "did", "answer"):
                assert "ORCH_ANSWER" not in line, line
    assert blocks["failed"] == ["exten => failed,1,Hangup(41)"]
    # The number the call goes on at, and a flow's tenant, are checked before the Goto.
    assert any("${FILTER(0-9*#+,${ORCH_AT})}" in line for line in answer)
    assert any("${FILTER(0-9,${ORCH_A})}" in line for line in answer)
    for name in ("refuse", "code"):
        assert "?failed,1)" in blocks[name][0] and "${FILTER(" in blocks[name][0], name
    # Every context that dials checks its parts first.
    for context in ("orchestrator-ring", "orchestrator-named", "orchestrator-out"):
        body = base.split(f"[{context}]\n", 1)[1].split("\n[", 1)[0]
        first = body.splitlines()[0]
        assert "?orchestrator-route,failed,1)" in first and "${FILTER(" in first, context
