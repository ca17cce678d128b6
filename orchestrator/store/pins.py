"""PINs (conference rooms) as salted scrypt hashes: never stored, logged or shown in clear.

A PIN has 4 to 12 digits: at most 10^12 values, and usually 10^4. A fast unsalted hash
(as API tokens use: those are long random strings) would give every PIN back to anyone
reading the table in a second; scrypt with a random salt per PIN makes each guess cost
about 16 MB and tens of milliseconds. Example::

    stored = hash_pin("4711")       # "scrypt$16384$8$1$<salt hex>$<hash hex>"
    verify_pin("4711", stored)      # True
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from orchestrator.core.errors import ValidationError

PIN = re.compile(r"[0-9]{4,12}")
# scrypt cost: n=2^14, r=8 (16 MB), p=1, the usual interactive-login setting.
_N, _R, _P = 2**14, 8, 1
_MAXMEM = 64 * 1024 * 1024


def check_pin(value: object, *, field: str = "pin") -> str:
    """``value`` if it is 4 to 12 digits, else ValidationError (the value is not echoed)."""
    if not isinstance(value, str) or PIN.fullmatch(value) is None:
        raise ValidationError(f"{field}: must be 4 to 12 digits", field=field)
    return value


def _derive(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)


def hash_pin(pin: str) -> str:
    """The stored form of ``pin`` (checked first): ``scrypt$n$r$p$salt$hash``, hex."""
    check_pin(pin)
    salt = secrets.token_bytes(16)
    digest = _derive(pin, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str | None) -> bool:
    """True if ``pin`` is the PIN ``stored`` was made from (constant-time compare);
    False for anything malformed, a PIN of the wrong shape, or no stored PIN."""
    if stored is None or PIN.fullmatch(pin) is None:
        return False
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = _derive(pin, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got, bytes.fromhex(digest))
