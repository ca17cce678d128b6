"""Strict validators for everything a caller dials or an admin types.

Values checked here end up in dialplan, SIP headers and engine configuration
files, where characters such as ``,``, ``)``, ``;``, ``&``, ``${`` or a newline
change the meaning of the surrounding text (dialplan injection, Asterisk
AST-2010-002). So each validator accepts a small, explicit alphabet (ASCII
only, matched with ``re.fullmatch`` so a trailing newline never slips through)
and raises :class:`~orchestrator.core.errors.ValidationError` with a ``field``
detail otherwise. Each returns the (possibly normalised) value to store.

Example::

    number = extension_number("101")          # "101"
    domain = sip_domain("Acme.Example")       # "acme.example"
    extension_number("101&PJSIP/evil")        # raises ValidationError(field="number")
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import secrets
import string
from typing import Any, NamedTuple

from orchestrator.core.errors import ValidationError

__all__ = [
    "Destination",
    "alias",
    "bounded_int",
    "caller_id_number",
    "description",
    "destination",
    "dial_prefix",
    "dial_prepend",
    "dialed_number",
    "display_name",
    "e164",
    "email",
    "escape_display_name",
    "extension_number",
    "generate_password",
    "ivr_app_key",
    "ivr_fallback",
    "ivr_name",
    "ivr_settings",
    "parse_destination",
    "pricing_batch",
    "schema_pattern",
    "sip_domain",
    "sip_host",
    "sip_username",
    "slug",
    "tenant_name",
    "trunk_password",
]

_EXTENSION = re.compile(r"[0-9]{2,10}")
# The first character is alphanumeric because Asterisk reads an extension that
# starts with "_" as a pattern, where "." and "!" are wildcards.
_SIP_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_ALIAS = re.compile(r"[A-Za-z0-9+][A-Za-z0-9._+-]{0,63}@[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}")
_PRICING_BATCH = re.compile(r"[A-Za-z0-9 _.-]{1,40}")
_IVR_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_CALLER_ID_NUMBER = re.compile(r"\+?[0-9]{2,15}")
_IVR_APP_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_SETTINGS_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SLUG = re.compile(r"[a-z0-9-]{1,40}")
# No quote, backslash, ';', '$', '{' or '}', ',' or space: the password goes into a
# SIP object field, where ',' separates list items and ';' starts a comment.
_TRUNK_PASSWORD = re.compile(r"[A-Za-z0-9!#%*+\-./:=?@^_~]{1,64}")
# In Asterisk patterns '*' and '#' are literal digits; 'X', 'N', '.', '!' and '[' are not.
_DIAL_PREFIX = re.compile(r"[0-9*#]{0,8}")
_DIAL_PREPEND = re.compile(r"[0-9+]{0,8}")
_DIALED_NUMBER = re.compile(r"[0-9*#+]{1,40}")
# Refused in names: they quote, escape or delimit in SIP headers ("\<>),
# start a comment in Asterisk .conf files (;) or open an expression in
# dialplan (${}).
_SCHEMA_PATTERNS = {
    "extension_number": _EXTENSION,
    "e164": _E164,
    "pricing_batch": _PRICING_BATCH,
}
_NAME_FORBIDDEN = frozenset('"\\<>;${}`')

TENANT_NAME_MAX = 80
DISPLAY_NAME_MAX = 80
DESCRIPTION_MAX = 200
IVR_SETTINGS_MAX_BYTES = 4096
IVR_SETTING_VALUE_MAX = 1024
PASSWORD_LENGTH = 24
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def schema_pattern(validator: str) -> dict[str, Any]:
    """A model field's ``schema_extra`` that shows a validator's pattern in the OpenAPI
    document; the validator still checks (and words the refusal), as for every writer.

    Example: ``number: str = Field(max_length=10, schema_extra=schema_pattern("e164"))``.
    """
    regex = _SCHEMA_PATTERNS[validator]
    return {"json_schema_extra": {"pattern": f"^{regex.pattern}$"}}


def _fail(field: str, message: str, value: Any) -> ValidationError:
    # The offending value is echoed back with repr() so control characters stay visible.
    return ValidationError(f"{field}: {message}", field=field, value=repr(value)[:120])


def _require_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _fail(field, "must be a string", value)
    return value


def _match(pattern: re.Pattern[str], value: Any, field: str, message: str) -> str:
    text = _require_str(value, field)
    if not text.isascii() or pattern.fullmatch(text) is None:
        raise _fail(field, message, value)
    return text


def extension_number(value: Any, *, field: str = "number") -> str:
    """An internal extension number: 2 to 10 ASCII digits, e.g. ``"101"``."""
    return _match(_EXTENSION, value, field, "must be 2 to 10 digits")


def sip_username(value: Any, *, field: str = "sip_username") -> str:
    """A SIP user name: a letter or digit, then up to 39 of ``A-Za-z0-9_.-``."""
    return _match(
        _SIP_USERNAME,
        value,
        field,
        "must start with a letter or digit, then up to 39 letters, digits, '_', '.' or '-'",
    )


def sip_domain(value: Any, *, field: str = "sip_domain") -> str:
    """A tenant's SIP domain: a DNS name with at least one dot, returned lower-case.

    Labels are ``a-z0-9-`` (no leading/trailing ``-``), at most 63 characters,
    253 in all; an all-numeric last label (an IP address) is refused.
    """
    text = _require_str(value, field)
    message = "must be a lower-case DNS name with at least one dot, e.g. 'a.example'"
    # isascii() first: str.lower() maps some non-ASCII letters (the Kelvin sign) to ASCII.
    if not text.isascii() or len(text) > 253:
        raise _fail(field, message, value)
    text = text.lower()
    labels = text.split(".")
    if len(labels) < 2 or any(_DNS_LABEL.fullmatch(label) is None for label in labels):
        raise _fail(field, message, value)
    if labels[-1].isdigit():
        raise _fail(field, "must be a DNS name, not an IP address", value)
    return text


def e164(value: Any, *, field: str = "number") -> str:
    """A public number in E.164 form: ``+``, then 8 to 15 digits, the first 1-9."""
    return _match(_E164, value, field, "must be E.164: '+' then 8 to 15 digits, e.g. +12065552453")


def alias(value: Any, *, field: str = "alias") -> str:
    """An extension alias such as ``12065552453@pstn``: ``user@label``.

    The user part is letters, digits and ``._+-`` (not starting with ``.``,
    ``_`` or ``-``), the label is a lower-case DNS label.
    """
    return _match(
        _ALIAS,
        value,
        field,
        "must be 'user@label': letters, digits or '._+-', then '@' and a lower-case label",
    )


def tenant_name(value: Any, *, field: str = "name") -> str:
    """A tenant's name: free text of 1 to 80 printable characters, trimmed."""
    text = _require_str(value, field).strip(" ")
    if not text or len(text) > TENANT_NAME_MAX:
        raise _fail(field, f"must be 1 to {TENANT_NAME_MAX} characters", value)
    if not text.isprintable():
        raise _fail(field, "must not contain control characters", value)
    return text


def display_name(value: Any, *, field: str = "name") -> str:
    """A person's or extension's name shown as caller ID: at most 80 characters.

    Printable text without ``" \\ < > ; $ { }`` or backticks; may be empty.
    """
    text = _require_str(value, field).strip(" ")
    if len(text) > DISPLAY_NAME_MAX:
        raise _fail(field, f"must be at most {DISPLAY_NAME_MAX} characters", value)
    if not text.isprintable():
        raise _fail(field, "must not contain control characters", value)
    bad = sorted(set(text) & _NAME_FORBIDDEN)
    if bad:
        raise _fail(field, f"must not contain {' '.join(bad)}", value)
    return text


def escape_display_name(value: str) -> str:
    """Make any text safe between the quotes of ``"Name" <101>`` (SIP or Asterisk callerid).

    Meant for names that did not pass :func:`display_name` (e.g. a name a SIP
    trunk sent): control characters and ``< > ; $ { }`` are dropped, ``\\`` and
    ``"`` are backslash-escaped (RFC 3261 quoted-pair) and the result is cut to
    80 characters. The caller adds the surrounding quotes::

        f'"{escape_display_name(name)}" <{number}>'
    """
    kept = "".join(ch for ch in value if ch.isprintable() and ch not in "<>;${}`")
    kept = kept.strip()[:DISPLAY_NAME_MAX]
    return kept.replace("\\", "\\\\").replace('"', '\\"')


def email(value: Any, *, field: str = "email") -> str:
    """An e-mail address ``local@domain``; the domain is returned lower-case."""
    text = _require_str(value, field)
    message = "must be an e-mail address such as 'ann@a.example'"
    local, at, domain = text.rpartition("@")
    if not at or len(text) > 254 or not local.isascii() or not _EMAIL_LOCAL.fullmatch(local):
        raise _fail(field, message, value)
    try:
        domain = sip_domain(domain, field=field)
    except ValidationError:
        raise _fail(field, message, value) from None
    return f"{local}@{domain}"


def pricing_batch(value: Any, *, field: str = "pricing_batch") -> str:
    """A DID pricing batch label: 1 to 40 of letters, digits, space, ``_.-``."""
    return _match(
        _PRICING_BATCH, value, field, "must be 1 to 40 letters, digits, spaces, '_', '.' or '-'"
    )


def ivr_name(value: Any, *, field: str = "ivr") -> str:
    """An IVR's name: a lower-case letter or digit, then up to 39 of ``a-z0-9_-``."""
    return _match(_IVR_NAME, value, field, "must be 1 to 40 of a-z, 0-9, '_' or '-'")


def caller_id_number(value: Any, *, field: str = "caller_id_number") -> str:
    """A caller ID number: an optional ``+`` then 2 to 15 digits."""
    return _match(_CALLER_ID_NUMBER, value, field, "must be an optional '+' then 2 to 15 digits")


def bounded_int(value: Any, low: int, high: int, *, field: str) -> int:
    """An integer from ``low`` to ``high`` (a bool is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(field, f"must be an integer from {low} to {high}", value)
    return value


def description(value: Any, *, field: str = "description") -> str:
    """Free text for people (never rendered into engine configuration): up to 200
    printable characters, trimmed; may be empty."""
    text = _require_str(value, field).strip(" ")
    if len(text) > DESCRIPTION_MAX or not text.isprintable():
        raise _fail(field, f"must be at most {DESCRIPTION_MAX} printable characters", value)
    return text


def slug(value: Any, *, field: str = "name") -> str:
    """A short object name used in engine object ids: 1 to 40 of ``a-z0-9-``."""
    return _match(_SLUG, value, field, "must be 1 to 40 of a-z, 0-9 or '-'")


def sip_host(value: Any, *, field: str = "host") -> str:
    """A SIP peer's host: an IPv4 address (dotted quad) or a DNS name, returned lower-case.

    A DNS name may have a single label (``carrier``); a name that looks numeric
    but is no IPv4 address (``10.0.0``) is refused.
    """
    text = _require_str(value, field)
    message = "must be an IPv4 address or a DNS name, e.g. 192.0.2.10 or sip.carrier.example"
    if not text.isascii() or not 0 < len(text) <= 253:
        raise _fail(field, message, value)
    text = text.lower()
    labels = text.split(".")
    if all(label.isdigit() for label in labels):
        try:
            # Leading zeros are refused by ipaddress (010 could mean octal elsewhere).
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise _fail(field, message, value) from None
    if any(_DNS_LABEL.fullmatch(label) is None for label in labels) or labels[-1].isdigit():
        raise _fail(field, message, value)
    return text


def trunk_password(value: Any, *, field: str = "password") -> str:
    """A carrier's digest password: 1 to 64 of letters, digits and ``!#%*+-./:=?@^_~``."""
    return _match(
        _TRUNK_PASSWORD, value, field, "must be 1 to 64 letters, digits or !#%*+-./:=?@^_~"
    )


def dial_prefix(value: Any, *, field: str = "prefix") -> str:
    """What a user dials first to pick an outbound route: 0 to 8 of ``0-9*#``."""
    return _match(_DIAL_PREFIX, value, field, "must be 0 to 8 of 0-9, '*' or '#'")


def dial_prepend(value: Any, *, field: str = "prepend") -> str:
    """Digits put before the number sent to a trunk: 0 to 8 of ``0-9+``."""
    return _match(_DIAL_PREPEND, value, field, "must be 0 to 8 of 0-9 or '+'")


def dialed_number(value: Any, *, field: str = "number") -> str:
    """A number as a user dials it: 1 to 40 of ``0-9*#+``."""
    return _match(_DIALED_NUMBER, value, field, "must be 1 to 40 of 0-9, '*', '#' or '+'")


def ivr_app_key(value: Any, *, field: str = "app") -> str:
    """The key of an IVR flow in Python: a letter, then up to 63 of ``a-z0-9_``."""
    return _match(
        _IVR_APP_KEY, value, field, "must be a lower-case letter, then up to 63 of a-z, 0-9, '_'"
    )


def ivr_fallback(value: Any, *, field: str = "fallback") -> Destination:
    """Where a failing IVR flow sends the caller: ``extension:<n>`` or ``hangup``.

    Never another IVR: a chain of failing flows could loop.
    """
    target = parse_destination(value, field=field)
    if target.kind not in ("extension", "hangup"):
        raise _fail(field, "must be 'extension:<number>' or 'hangup'", value)
    return target


def ivr_settings(value: Any, *, field: str = "settings") -> dict[str, str | int | float]:
    """An IVR app's settings: a flat JSON object of strings and numbers, at most 4 KB.

    Keys are identifiers (``[A-Za-z_][A-Za-z0-9_]{0,63}``); strings are printable
    and at most 1024 characters; numbers are finite; no booleans, nulls or nesting.
    """
    if not isinstance(value, dict):
        raise _fail(field, "must be a JSON object", value)
    out: dict[str, str | int | float] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.isascii() or not _SETTINGS_KEY.fullmatch(key):
            raise _fail(field, "keys must be identifiers of up to 64 characters", key)
        if isinstance(item, str):
            if len(item) > IVR_SETTING_VALUE_MAX or not item.isprintable():
                raise _fail(
                    field,
                    f"{key}: a string must be at most {IVR_SETTING_VALUE_MAX} printable characters",
                    item,
                )
        elif isinstance(item, bool) or not isinstance(item, int | float):
            raise _fail(field, f"{key}: must be a string or a number", item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise _fail(field, f"{key}: must be a finite number", item)
        out[key] = item
    size = len(json.dumps(out, separators=(",", ":")).encode())
    if size > IVR_SETTINGS_MAX_BYTES:
        raise _fail(field, f"must be at most {IVR_SETTINGS_MAX_BYTES} bytes as JSON", size)
    return out


class Destination(NamedTuple):
    """A parsed DID destination: ``kind`` is ``extension``, ``ivr``, ``ring_group``,
    ``schedule`` or ``hangup``."""

    kind: str
    target: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


def parse_destination(value: Any, *, field: str = "destination") -> Destination:
    """Parse and validate a DID destination.

    The format is a small tagged string: ``extension:<number>``,
    ``ivr:<name>``, ``ring_group:<number>`` (a ring group's number), ``schedule:<name>``
    (office hours, docs/pbx.md) or ``hangup``::

        parse_destination("extension:101")  # Destination("extension", "101")
    """
    text = _require_str(value, field)
    kind, sep, target = text.partition(":")
    if kind == "hangup" and not sep:
        return Destination("hangup")
    if kind == "extension" and sep:
        return Destination("extension", extension_number(target, field=field))
    if kind == "ivr" and sep:
        return Destination("ivr", ivr_name(target, field=field))
    if kind == "ring_group" and sep:
        return Destination("ring_group", extension_number(target, field=field))
    if kind == "schedule" and sep:
        return Destination("schedule", ivr_name(target, field=field))
    raise _fail(
        field,
        "must be 'extension:<number>', 'ivr:<name>', 'ring_group:<number>', 'schedule:<name>' "
        "or 'hangup'",
        value,
    )


def destination(value: Any, *, field: str = "destination") -> str:
    """Validate a DID destination (see :func:`parse_destination`) and return it as text."""
    return str(parse_destination(value, field=field))


def generate_password() -> str:
    """A strong secret: 24 letters and digits from :mod:`secrets` (about 143 bits).

    Letters and digits only, so it needs no quoting in any configuration file;
    it always mixes lower case, upper case and digits, as some phones demand.
    """
    while True:
        password = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        if (
            any(c.islower() for c in password)
            and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
        ):
            return password
