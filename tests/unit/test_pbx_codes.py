"""Feature codes, pure: the catalogue, code syntax, the collision check, dialed-string matching."""

from __future__ import annotations

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.pbx.codes import (
    ACTIONS,
    CATALOGUE,
    Match,
    Number,
    check_action,
    check_code,
    collisions,
    match,
)

DEFAULTS = {a.name: a.default for a in CATALOGUE}


def test_the_catalogue_is_broadsoft_like_and_collision_free() -> None:
    assert len(ACTIONS) == len(CATALOGUE)  # names unique
    assert DEFAULTS["forward_all_on"] == "*72" and DEFAULTS["forward_busy_off"] == "*91"
    assert DEFAULTS["forward_no_answer_on"] == "*92" and DEFAULTS["forward_no_answer_off"] == "*93"
    # The agents' codes moved off BroadSoft's forwarding codes.
    assert [DEFAULTS[a] for a in ("agent_login", "agent_logout", "agent_pause")] == [
        "*61",
        "*62",
        "*63",
    ]
    assert collisions(DEFAULTS) == []
    for action in CATALOGUE:
        assert check_code(action.default) == action.default
        assert action.argument in {"none", "digits", "optional"}


@pytest.mark.parametrize("code", ["*7", "#7", "**", "*#*", "***1234", "#1", "*9999", "##12"])
def test_good_codes(code: str) -> None:
    assert check_code(code) == code


@pytest.mark.parametrize(
    "code",
    ["*", "#", "72", "*72a", "*12345", "****1", "*7*", "*7#", " *72", "*72\n", "*٧٢", "", 72, None],
)
def test_bad_codes_are_refused_naming_the_field(code: object) -> None:
    with pytest.raises(ValidationError) as err:
        check_code(code, field="codes.dnd_on")
    assert err.value.details["field"] == "codes.dnd_on"
    assert "feature code" in str(err.value)


def test_unknown_actions_are_refused() -> None:
    assert check_action("dnd_on").default == "*78"
    for bad in ("dnd", "DND_ON", "", None, 3):
        with pytest.raises(ValidationError) as err:
            check_action(bad, field="codes.x")
        assert "dnd_on" in err.value.details["known"]


def test_codes_equal_or_prefix_of_each_other_collide() -> None:
    found = collisions({**DEFAULTS, "agent_login": "*72"})
    assert [(c.action, c.other.name, c.how) for c in found] == [
        ("agent_login", "forward_all_on", "equal")
    ]
    assert "agent_login" in found[0].message and "forward_all_on" in found[0].message
    # *8 would take every call to *800 (and *800 is a code of its own).
    found = collisions({"group_pickup": "*8", "paging": "*800"})
    assert [(c.code, c.other.value, c.how) for c in found] == [("*8", "*800", "prefix_of")]
    assert found[0].details() == {
        "action": "group_pickup", "code": "*8", "how": "prefix_of",
        "other_kind": "feature_code", "other": "*800", "other_name": "paging",
    }  # fmt: skip
    # Not a prefix: a shared start is fine.
    assert collisions({"dnd_on": "*78", "dnd_off": "*79", "paging": "*70"}) == []


def test_codes_against_the_tenants_numbers() -> None:
    route = Number("outbound_route", "*7", "star-routes")
    found = collisions({"dnd_on": "*78", "voicemail": "*57"}, [route])
    assert [(c.action, c.how) for c in found] == [("dnd_on", "has_prefix")]
    assert "outbound route star-routes (*7)" in found[0].message
    longer = Number("outbound_route", "*5712", "x")
    assert [c.how for c in collisions({"voicemail": "*57"}, [longer])] == ["prefix_of"]
    same = Number("conference_room", "*57", "board")
    assert [c.how for c in collisions({"voicemail": "*57"}, [same])] == ["equal"]
    # A route without a prefix takes digits only; digits never collide with a code.
    assert (
        collisions(DEFAULTS, [Number("outbound_route", "", "all"), Number("did", "+15550100")])
        == []
    )


def test_matching_a_dialed_string() -> None:
    codes = {"dnd_on": "*78", "directed_pickup": "*97", "forward_all_on": "*72",
             "retrieve": "#8", "agent_login": "*61"}  # fmt: skip
    assert match(codes, "*78") == Match("dnd_on", "*78")
    assert match(codes, "*61") == Match("agent_login", "*61")
    # Digits after a code that takes them are its argument.
    assert match(codes, "*97102") == Match("directed_pickup", "*97", "102")
    assert match(codes, "*72+") is None
    assert match(codes, "*7215550100") == Match("forward_all_on", "*72", "15550100")
    assert match(codes, "*72") == Match("forward_all_on", "*72")  # optional: asked later
    assert match(codes, "#8") == Match("retrieve", "#8") and match(codes, "#81") == Match(
        "retrieve", "#8", "1"
    )
    # A code that takes digits dialed without them, digits after one that takes none,
    # an unknown code, a '*' in the argument, too many digits: no action.
    for dialed in ("*97", "*781", "*99", "*97*1", "*97" + "1" * 21, "", "*", "97102"):
        assert match(codes, dialed) is None, dialed
    assert match(codes, "*97" + "1" * 20) == Match("directed_pickup", "*97", "1" * 20)
    # A code turned off (not in the table) matches nothing.
    assert match({k: v for k, v in codes.items() if k != "dnd_on"}, "*78") is None
