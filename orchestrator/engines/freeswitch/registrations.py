"""SIP users' registrations as FreeSWITCH lists them (``show registrations``).

``sofia::register`` / ``sofia::unregister`` / ``sofia::expire`` events report every
change (translate.py); :func:`endpoint_states` answers ``Engine.endpoint_states`` from
the CSV of ``show registrations`` (``reg_user,realm,token,url,expires,...`` then a blank
line and ``<N> total.``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence


def registered(listing: str) -> set[str]:
    """The ``<user>@<realm>`` of every registration in ``show registrations``' output."""
    lines = [line for line in listing.splitlines() if line and not line.endswith(" total.")]
    if not lines or not lines[0].startswith("reg_user,"):
        return set()
    found: set[str] = set()
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        user, realm = row.get("reg_user") or "", row.get("realm") or ""
        if user and realm:
            found.add(f"{user}@{realm}")
    return found


def endpoint_states(listing: str, endpoints: Sequence[str]) -> dict[str, str]:
    """``online`` for the endpoints registered, ``offline`` for the others."""
    now = registered(listing)
    return {endpoint: "online" if endpoint in now else "offline" for endpoint in endpoints}
