"""Phones that withhold their number: found by their digest user, shown as anonymous.

A phone that withholds its number sends ``From: "Anonymous"
<sip:anonymous@anonymous.invalid>``, so the From user (``identify_by = username``, every
phone's endpoint) names no endpoint. Asterisk 22 then (read in its sources, 22.9.0):

* answers with the *artificial* endpoint (``pjsip_distributor.c``), whose 401 challenge
  carries the global ``default_realm`` (:data:`REALM`, the instance's ``pjsip.conf``);
* takes the phone's next INVITE, whose ``Authorization`` holds its digest user and that
  realm, to the ``auth_username`` identifier (``res_pjsip_endpoint_identifier_user.c``,
  ``endpoint_identifier_order``), which asks sorcery for the endpoint
  ``<digest user>@<realm>``, then ``<digest user>`` (and domain aliases, which we have
  none of), and takes it only if its ``identify_by`` has ``auth_username``;
* authenticates against that endpoint's own auths (``res_pjsip_authenticator_digest.c``):
  an auth is verified only with an ``Authorization`` of the auth's realm.

So the realtime lookups of ``ps_endpoints`` and ``ps_auths`` for ``<user>@<REALM>`` are
answered with a *withheld* twin of the phone whose digest user is ``<user>``: an endpoint
identified by ``auth_username`` only, with the phone's own options (its tenant's context
and ``TENANT``), caller ID ``"Anonymous" <anonymous>`` with presentation prohibited (the
phone's configured caller ID would win over the From header otherwise), and an auth with
the phone's user and password in :data:`REALM`, so the one challenge Asterisk sent is the
one the phone answers. The phone's real endpoint is untouched.

Nobody is taken for another endpoint: an INVITE whose From user names endpoint X is
identified as X (``username`` comes first) and must pass X's digest; the twin is reached
only with the digest of the phone it stands for. A digest user that several tenants'
phones share (the default user is the extension number) names no twin: such a phone
cannot withhold its number (its INVITE keeps getting 401), it is never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["REALM", "Twins", "twin_ids"]

# Asterisk's default_realm (pjsip.conf [global]): the realm of its challenge to a request
# that names no endpoint.
REALM = "orchestrator"
CALLER_ID = '"Anonymous" <anonymous>'
Rows = Mapping[str, Mapping[str, Mapping[str, str]]]  # family -> object id -> row


class Twins:
    """The withheld twins over a provisioner's index (kept up to date in place): its
    phones by digest user are found at the first twin lookup after a change
    (:meth:`changed`), not per lookup, and not on every apply either."""

    def __init__(self, index: Rows) -> None:
        self._index = index
        self._phones: dict[str, list[str]] | None = None  # digest user -> endpoint ids

    def changed(self) -> None:
        """The index changed: the next lookup finds the phones again."""
        self._phones = None

    def _by_user(self) -> dict[str, list[str]]:
        if self._phones is None:
            auths = self._index.get("ps_auths", {})
            phones: dict[str, list[str]] = {}
            # A phone's endpoint names its inbound auth ("auth"); a trunk's has none (its
            # credentials are an outbound_auth), so a trunk never gets a twin.
            for oid, endpoint in self._index.get("ps_endpoints", {}).items():
                auth = auths.get(endpoint.get("auth", ""))
                if auth is not None:
                    phones.setdefault(auth.get("username", ""), []).append(oid)
            self._phones = phones
        return self._phones

    def rows(self, family: str, oid: str) -> list[dict[str, str]]:
        """The withheld twin's row of ``family`` (``ps_endpoints``/``ps_auths``) for the
        object id ``<digest user>@<REALM>``; ``[]`` when no single phone has that user."""
        user, at, realm = oid.rpartition("@")
        if not at or realm != REALM or not user or family not in ("ps_endpoints", "ps_auths"):
            return []
        phones = self._by_user().get(user, [])
        if len(phones) != 1:
            return []
        endpoint = self._index["ps_endpoints"][phones[0]]
        auth = self._index["ps_auths"][endpoint["auth"]]
        if family == "ps_auths":
            return [{**auth, "id": oid, "realm": REALM}]
        twin = {k: v for k, v in endpoint.items() if k not in ("aors", "mailboxes")}
        twin |= {
            "id": oid,
            "auth": oid,
            "identify_by": "auth_username",
            "callerid": CALLER_ID,
            "callerid_privacy": "prohib",
        }
        return [twin]


def twin_ids(users: Iterable[str]) -> list[str]:
    """The twins' object ids of these digest users (to expire from the engine's cache
    when a phone with that user changes, comes or goes)."""
    return sorted({f"{user}@{REALM}" for user in users if user})


def changed_twins(old: Rows, new: Rows, changed: Mapping[str, Iterable[str]]) -> list[str]:
    """The twins whose rows a tenant's change may have changed: those of the digest users
    of the phones whose endpoint or auth changed (before and after the change). A twin
    of a user another tenant takes too disappears (ambiguous); it is expired all the same."""
    ids = {*changed.get("endpoint", ()), *changed.get("auth", ())}
    users = set()
    for rows in (old, new):
        endpoints, auths = rows.get("ps_endpoints", {}), rows.get("ps_auths", {})
        for i in ids:
            auth = auths.get(endpoints.get(i, {}).get("auth", ""))  # a phone's, not a trunk's
            if auth is not None:
                users.add(auth.get("username", ""))
    return twin_ids(users)
