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

import re
import secrets
import string
from typing import Any, NamedTuple

from orchestrator.core.errors import ValidationError

__all__ = [
    "Destination",
    "alias",
    "caller_id_number",
    "destination",
    "display_name",
    "e164",
    "email",
    "escape_display_name",
    "extension_number",
    "generate_password",
    "ivr_name",
    "parse_destination",
    "pricing_batch",
    "sip_domain",
    "sip_username",
    "tenant_name",
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
# Refused in names: they quote, escape or delimit in SIP headers ("\<>),
# start a comment in Asterisk .conf files (;) or open an expression in
# dialplan (${}).
_NAME_FORBIDDEN = frozenset('"\\<>;${}`')

TENANT_NAME_MAX = 80
DISPLAY_NAME_MAX = 80
PASSWORD_LENGTH = 24
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


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


class Destination(NamedTuple):
    """A parsed DID destination: ``kind`` is ``extension``, ``ivr`` or ``hangup``."""

    kind: str
    target: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


def parse_destination(value: Any, *, field: str = "destination") -> Destination:
    """Parse and validate a DID destination.

    The format is a small tagged string: ``extension:<number>``,
    ``ivr:<name>`` or ``hangup``::

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
    raise _fail(field, "must be 'extension:<number>', 'ivr:<name>' or 'hangup'", value)


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
