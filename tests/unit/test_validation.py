"""The validators refuse everything that could change dialplan or SIP syntax."""

from __future__ import annotations

import pytest

from orchestrator import validation as v
from orchestrator.core.errors import ValidationError

# Characters that end, chain or open something in dialplan, SIP or .conf files.
HOSTILE = [
    "101;",
    "101\n",
    "101\nexten => s,1,System(rm -rf /)",
    "101&PJSIP/evil",
    "${SHELL(id)}",
    "101)",
    '101"',
    "\uff11\uff10\uff11",  # full-width digits: isdigit() says yes, the dialplan says no
    "\u0661\u0660\u0661",
    "101\r",
    "101\x00",
    "",
    " 101",
]


def _refused(check: object, value: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        check(value)  # type: ignore[operator]
    assert info.value.details["field"]
    assert info.value.message
    return info.value


@pytest.mark.parametrize("value", [*HOSTILE, "1", "12345678901", "10a", None, 101])
def test_extension_number_refuses(value: object) -> None:
    err = _refused(v.extension_number, value)
    assert err.details["field"] == "number"
    assert err.error_id == "invalid-input"


@pytest.mark.parametrize("value", ["10", "101", "0000", "1234567890"])
def test_extension_number_accepts(value: str) -> None:
    assert v.extension_number(value) == value


def test_field_name_is_reported() -> None:
    with pytest.raises(ValidationError) as info:
        v.extension_number("x", field="destination")
    assert info.value.details["field"] == "destination"
    assert info.value.message.startswith("destination:")


@pytest.mark.parametrize(
    "value", [*HOSTILE, "_101", ".101", "-a", "a" * 41, "a b", "a@b", "a/b", "ä"]
)
def test_sip_username_refuses(value: str) -> None:
    _refused(v.sip_username, value)


@pytest.mark.parametrize("value", ["101", "alice", "a.b-c_d", "A" * 40])
def test_sip_username_accepts(value: str) -> None:
    assert v.sip_username(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "example",
        "a..example",
        ".a.example",
        "a.example.",
        "-a.example",
        "a-.example",
        "a_b.example",
        "a.example;transport=tcp",
        "a.example\n",
        "a.example&b",
        "10.0.0.1",
        "\u212a.example",  # Kelvin sign: lower() would make it an ASCII "k"
        "bücher.example",
        ("a" * 63 + ".") * 4 + "ab",
        "a" * 64 + ".example",
        "",
    ],
)
def test_sip_domain_refuses(value: str) -> None:
    _refused(v.sip_domain, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a.example", "a.example"), ("Acme-1.Example", "acme-1.example"), ("x.y.z.io", "x.y.z.io")],
)
def test_sip_domain_accepts_and_lowercases(value: str, expected: str) -> None:
    assert v.sip_domain(value) == expected


@pytest.mark.parametrize(
    "value", [*HOSTILE, "12065552453", "+0123456789", "+1234567", "+1234567890123456", "+1 206"]
)
def test_e164_refuses(value: str) -> None:
    _refused(v.e164, value)


@pytest.mark.parametrize("value", ["+12065552453", "+4930123456", "+12345678"])
def test_e164_accepts(value: str) -> None:
    assert v.e164(value) == value


@pytest.mark.parametrize(
    "value",
    [*HOSTILE, "12065552453", "@pstn", "a@", "_x@pstn", "a@PSTN", "a@b.c", "a b@pstn", "a@pstn\n"],
)
def test_alias_refuses(value: str) -> None:
    _refused(v.alias, value)


@pytest.mark.parametrize("value", ["12065552453@pstn", "+1206@pstn", "john.doe@sip-1", "a_b-c@x"])
def test_alias_accepts(value: str) -> None:
    assert v.alias(value) == value


@pytest.mark.parametrize("value", ["", "   ", "a\nb", "a\tb", "a\x1bb", "x" * 81, "a\u2028b"])
def test_tenant_name_refuses(value: str) -> None:
    _refused(v.tenant_name, value)


def test_tenant_name_accepts_free_text() -> None:
    assert v.tenant_name(" Acme & Co; (Zürich) ") == "Acme & Co; (Zürich)"


@pytest.mark.parametrize(
    "value",
    ['Bob "B"', "a\nb", "<sip:x@y>", "${CALLERID(num)}", "a;b", "a\\b", "x" * 81, "a\x00"],
)
def test_display_name_refuses(value: str) -> None:
    _refused(v.display_name, value)


@pytest.mark.parametrize("value", ["", "Alice Smith", "O'Brien, Seán (sales)", "Zoë & Co"])
def test_display_name_accepts(value: str) -> None:
    assert v.display_name(value) == value


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("Alice", "Alice"),
        ('Bob "The Boss"', 'Bob \\"The Boss\\"'),
        ("back\\slash", "back\\\\slash"),
        ('x" <sip:evil@x>;tag=1', 'x\\" sip:evil@xtag=1'),
        ("line\r\nVia: evil", "lineVia: evil"),
        ("${SHELL(id)}", "SHELL(id)"),
        ("x" * 100, "x" * 80),
    ],
)
def test_escape_display_name(raw: str, escaped: str) -> None:
    result = v.escape_display_name(raw)
    assert result == escaped
    # Every quote left is escaped, so the quoted string cannot be closed early.
    assert '"' not in result.replace('\\"', "").replace("\\\\", "")


@pytest.mark.parametrize(
    "value",
    ["", "a", "a@", "@a.example", "a@example", "a b@a.example", "a@a.example\n", "a;b@c.de"],
)
def test_email_refuses(value: str) -> None:
    _refused(v.email, value)


def test_email_accepts_and_lowercases_domain() -> None:
    assert v.email("Ann.Lee+pbx@A.Example") == "Ann.Lee+pbx@a.example"


@pytest.mark.parametrize("value", ["", "a" * 41, "a;b", "a\nb", "a/b", "ä", "${x}"])
def test_pricing_batch_refuses(value: str) -> None:
    _refused(v.pricing_batch, value)


@pytest.mark.parametrize("value", ["seattle-2024", "Batch 7", "a.b_c"])
def test_pricing_batch_accepts(value: str) -> None:
    assert v.pricing_batch(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "extension",
        "extension:",
        "extension:1",
        "extension:101&PJSIP/x",
        "extension:101)",
        "ivr:",
        "ivr:Main",
        "ivr:main;x",
        "hangup:",
        "hangup:now",
        "voicemail:101",
        "EXTENSION:101",
        "extension:101\n",
    ],
)
def test_destination_refuses(value: str) -> None:
    err = _refused(v.destination, value)
    assert err.details["field"] == "destination"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("extension:101", v.Destination("extension", "101")),
        ("ivr:main-menu", v.Destination("ivr", "main-menu")),
        ("hangup", v.Destination("hangup")),
    ],
)
def test_destination_accepts(value: str, parsed: v.Destination) -> None:
    assert v.parse_destination(value) == parsed
    assert v.destination(value) == value


def test_generate_password_is_strong_and_config_safe() -> None:
    passwords = {v.generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) == 24
        assert password.isascii() and password.isalnum()
        assert any(c.isdigit() for c in password)
        assert any(c.isupper() for c in password)
        assert any(c.islower() for c in password)
