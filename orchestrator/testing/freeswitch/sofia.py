"""The SIP side of the fake switch as the orchestrator's configuration drives it: phones
that REGISTER with their directory password and then behave as a test says (answer after
a ring, busy, no answer, reject, key digits), ``user/<user>@<domain>`` found through the
directory as mod_dptools' user endpoint does (xml_curl ``action=user_call``), trunks as
the sofia gateways of the kit's gateway files (``<conf>/gateways/*.xml``, read at
``sofia profile <p> rescan``) reaching simulated carriers by their proxy address, and
calls arriving from a carrier at a DID.

Installed on a :class:`FakeFreeSwitch` by :func:`install` (the peer alone keeps its
simpler tables: ``add_phone`` / ``add_gateway``)::

    sip = sofia.install(fs, conf_dir=root / "default" / "conf")
    assert await sip.register("101", "t1.example", "pw", behaviour=Behaviour(keys="12#"))
    sip.carrier("127.0.0.1:5090").answer_after = 0.2      # the trunk's far end answers
    uuid = await sip.call_in("+15551000", caller="+15550001")  # from the carrier
"""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.testing.freeswitch import registrations, sip
from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.digits import receive_dtmf
from orchestrator.testing.freeswitch.events import FsEvent
from orchestrator.testing.freeswitch.phones import FarEnd, _far_end
from orchestrator.testing.freeswitch.switch import Switch

if TYPE_CHECKING:
    from orchestrator.testing.freeswitch.server import FakeFreeSwitch

__all__ = ["Behaviour", "Sofia", "install"]

_USER_CALL = ("mod_dptools.c", "user_outgoing_channel", 3710)


@dataclass
class Behaviour(FarEnd):
    """A phone's or carrier's behaviour (:class:`FarEnd`) plus keys it presses
    ``keys_after`` seconds after it answered."""

    keys: str = ""
    keys_after: float = 1.0


def answers(ring: float = 0.2) -> Behaviour:
    return Behaviour(answer_after=ring)


def busy() -> Behaviour:
    return Behaviour(refuse="USER_BUSY", ring=0.1)


def no_answer() -> Behaviour:
    return Behaviour(answer_after=None)


def rejects() -> Behaviour:
    return Behaviour(refuse="CALL_REJECTED", ring=0.1)


class Sofia:
    """The SIP world around one fake switch (see the module docstring)."""

    def __init__(
        self, fs: FakeFreeSwitch, conf_dir: Path | None = None, profile: str = "internal"
    ) -> None:
        self.fs = fs
        self.conf_dir = conf_dir
        self.profile = profile  # the SIP profile trunk calls arrive on
        # Carriers by proxy address "host:port"; nobody at an address: no answer there.
        self.carriers: dict[str, Behaviour] = {}
        # Gateway name -> proxy address, as the gateway files name them.
        self.gateways: dict[str, str] = {}
        self.passwords: dict[str, str] = {}  # user@domain -> the password registered with
        # user@domain -> the custom headers of each INVITE sent to its phone: sofia adds
        # one per sip_h_<name> variable of the leg (intercom's auto-answer headers).
        self.invites: dict[str, list[dict[str, str]]] = {}

    # -- phones -------------------------------------------------------------------
    async def register(
        self, user: str, domain: str, password: str, *, behaviour: FarEnd | None = None
    ) -> bool:
        """The phone REGISTERs (digest checked against the directory: xml_curl, then the
        static one); False when refused (401). Accepted: ``sofia::register`` fires and
        ``user/<user>@<domain>`` reaches it, behaving as ``behaviour`` (default: answers
        after a short ring)."""
        if not await sip.register_sip(self.fs, user, domain, password):
            return False
        phone = behaviour or answers()
        phone.registered = True
        self.fs.switch.phones[f"{user}@{domain}"] = phone
        self.passwords[f"{user}@{domain}"] = password
        return True

    def unregister(self, user: str, domain: str) -> None:
        """The phone's registration ends (``sofia::unregister``): calls to it fail with
        USER_NOT_REGISTERED."""
        self.fs.unregister(f"{user}@{domain}")

    async def dial_user(self, sw: Switch, rest: str, variables: dict[str, str]) -> Channel | str:
        """``user/<user>@<domain>``: the directory is asked for the user (SUBSCRIBER_ABSENT
        when it has none), its variables go on the new channel, and the registered phone
        is called (USER_NOT_REGISTERED when it is not)."""
        target = rest.split("/", 1)[1]
        user, _, domain = target.partition("@")
        request = FsEvent("REQUEST_PARAMS", calling=_USER_CALL)
        fields = [("tag_name", "domain"), ("key_name", "name"), ("key_value", domain)]
        fields += request.all_headers()
        fields += [("as_channel", "true"), ("action", "user_call")]
        fields += list(variables.items())  # the originate's variables merged in
        fields += [("key", "id"), ("user", user), ("domain", domain)]
        document = await sw.dialplan.directory(fields)
        found = _user(document, user, domain) if document is not None else None
        if found is None:
            return "SUBSCRIBER_ABSENT"
        phone = sw.phones.get(target)
        if phone is None or not phone.registered or not registrations.is_registered(sw, target):
            return "USER_NOT_REGISTERED"
        merged = {v.get("name", ""): v.get("value", "") for v in found.iter("variable")}
        merged.update(variables)
        headers = {k.removeprefix("sip_h_"): v for k, v in merged.items() if k.startswith("sip_h_")}
        self.invites.setdefault(target, []).append(headers)
        ch = _far_end(sw, f"sofia/{self.profile}/{user}@{domain}", user, phone, merged)
        self._keys(ch, phone)
        return ch

    async def refer(self, uuid: str, exten: str, *, referred_by: str = "") -> bool:
        """The phone on channel ``uuid`` blind-transfers its call: a REFER with
        ``Refer-To: <sip:<exten>@<domain>>`` (and ``Referred-By`` if given), as mod_sofia
        1.10.12 handles it (``sofia_handle_sip_i_refer``, the blind branch; the profile
        takes REFERs, fire-transfer-events off). On the REFERring channel:
        ``transfer_to``, ``transfer_destination``, ``transfer_fallback_extension`` (the
        REFER's From user), ``endpoint_disposition=BLIND_TRANSFER``; on its bridge
        partner: ``sip_refer_to`` (the whole header), ``sip_h_Referred-By``, then
        ``switch_ivr_session_transfer(partner, exten)`` routes the partner again in its
        own context (``force_transfer_context`` first). The REFERring channel's bridge
        ends; it is not hung up there: ``switch_ivr_session_transfer`` hangs the partner
        up (BLIND_TRANSFER) only out of a *signal* bridge (``signal_bridge_to``), which
        neither ``uuid_bridge`` nor the ``bridge`` app makes (switch_ivr_bridge.c: both are
        ``switch_ivr_multi_threaded_bridge``, setting ``bridge_to``), so it parks
        (``park_after_bridge``) or hangs up NORMAL_CLEARING as any channel whose bridge
        partner left (``audio_bridge_on_exchange_media``; the capture b_call_control_plain
        shows ``uuid_transfer`` of one side of a ``uuid_bridge``); the phone sends its BYE
        once NOTIFY says 200. False, and nothing moves, for a channel with no partner
        ("Cannot Blind Transfer 1 Legged calls")."""
        sw = self.fs.switch
        ch = sw.get(uuid)
        if ch is None or not ch.up:
            return False
        user, _, host = ch.name.split("/", 2)[-1].removeprefix("sip:").partition("@")
        refer_to = f"<sip:{exten}@{host.split(':')[0].split(';')[0]}>"
        # The partner as mod_sofia finds it: the channel's bridge_to, set once the bridge
        # is up (with last_bridge_to, which the tenant dialplan names the transferor by).
        partner = sw.get(ch.variables.get("bridge_to", ""))
        ch.variables["transfer_to"] = f"blind:{partner.uuid if partner else exten}"
        ch.variables["transfer_destination"] = f"blind:{exten}"
        if partner is None or not partner.up:
            ch.variables["endpoint_disposition"] = "ATTENDED_TRANSFER_ERROR"
            return False
        ch.variables["transfer_fallback_extension"] = user
        if referred_by:
            partner.variables["sip_h_Referred-By"] = referred_by
        partner.variables["sip_refer_to"] = refer_to
        ch.variables["endpoint_disposition"] = "BLIND_TRANSFER"
        context = partner.variables.get("force_transfer_context", "")
        sw.transfer(partner, exten, partner.profile.dialplan or "XML", context)
        await sw.sleep(0.05)  # 202, NOTIFY 200, then the phone's BYE
        sw.hangup(ch, "NORMAL_CLEARING")
        return True

    # -- trunks -------------------------------------------------------------------
    def carrier(self, address: str) -> Behaviour:
        """The simulated carrier at ``host:port`` (made, silent, on first use)."""
        return self.carriers.setdefault(address, Behaviour(answer_after=None))

    def load_gateways(self) -> None:
        """Read the gateway files (``<conf>/gateways/*.xml``) as ``sofia profile <p>
        rescan`` does: each ``<gateway name=...>`` with its ``proxy``."""
        self.gateways.clear()
        if self.conf_dir is None:
            return
        for path in sorted((self.conf_dir / "gateways").glob("*.xml")):
            with contextlib.suppress(ET.ParseError, OSError):
                root = ET.fromstring(path.read_text())
                for gateway in root.iter("gateway"):
                    params = {p.get("name"): p.get("value", "") for p in gateway.iter("param")}
                    self.gateways[gateway.get("name", "")] = params.get("proxy", "")

    async def dial_gateway(self, sw: Switch, rest: str, variables: dict[str, str]) -> Channel | str:
        """``sofia/gateway/<name>/<number>``: INVALID_GATEWAY for a gateway FreeSWITCH has
        not loaded; the carrier at its proxy behaves as :meth:`carrier` says."""
        parts = rest.split("/", 3)
        if len(parts) < 4 or parts[2] not in self.gateways:
            return "INVALID_GATEWAY"
        how = self.carrier(self.gateways[parts[2]])
        ch = _far_end(sw, f"sofia/gateway/{parts[2]}/{parts[3]}", parts[3], how, variables)
        self._keys(ch, how)
        return ch

    async def call_in(self, number: str, *, caller: str = "+15550001", gateway: str = "") -> str:
        """A call from a carrier (a trunk in the ACL: no digest) to the DID ``number``:
        it is routed in ``orchestrator-dids``; its uuid."""
        profile = self.profile
        variables = {
            "sofia_profile_name": profile,
            "sip_acl_authed_by": "orchestrator-trunks",
            "sip_from_host": "127.0.0.1",
            "sip_req_user": number,
        }
        if gateway:
            variables["sip_gateway"] = gateway
        return await self.fs.call_in(
            number, caller=caller, context="orchestrator-dids",
            name=f"sofia/{profile}/{caller}@127.0.0.1", variables=variables,
        )  # fmt: skip

    # -- api ----------------------------------------------------------------------
    async def sofia_api(self, sw: Switch, arg: str) -> str:
        """``sofia profile <p> rescan|killgw <name>`` read the gateway files; the rest
        as the peer answers it."""
        from orchestrator.testing.freeswitch.system import sofia as plain

        words = arg.split()
        if words[:1] == ["profile"] and len(words) >= 4 and words[2] == "killgw":
            if self.gateways.pop(words[3], None) is None:
                return f"-ERR no such gateway [{words[3]}]\n"
            return "+OK gateway marked for deletion.\n"
        answer = await plain(sw, arg)
        if words[:1] == ["profile"] and "rescan" in words:
            self.load_gateways()
        return answer

    def _keys(self, ch: Channel, how: FarEnd) -> None:
        if isinstance(how, Behaviour) and how.keys:
            task = asyncio.get_running_loop().create_task(self._press(ch, how))
            self.fs.switch.timers.add(task)
            task.add_done_callback(self.fs.switch.timers.discard)

    async def _press(self, ch: Channel, how: Behaviour) -> None:
        await ch.answered_event.wait()
        await self.fs.switch.sleep(how.keys_after)
        if ch.up:
            receive_dtmf(self.fs.switch, ch, how.keys)


async def _reloadacl(sw: Switch, arg: str) -> str:
    return "+OK acl reloaded\n"


def install(fs: FakeFreeSwitch, conf_dir: Path | None = None, profile: str = "internal") -> Sofia:
    """The SIP side on ``fs``: its ``user/`` and ``sofia/gateway/`` endpoints, and the
    ``sofia`` / ``reloadacl`` api commands, become :class:`Sofia`'s."""
    world = Sofia(fs, conf_dir, profile)
    fs.switch.endpoints["user/"] = world.dial_user
    fs.switch.endpoints["sofia/gateway/"] = world.dial_gateway
    fs.switch.api_commands["sofia"] = world.sofia_api
    fs.switch.api_commands["reloadacl"] = _reloadacl
    world.load_gateways()
    return world


def _user(document: ET.Element, user: str, domain: str) -> ET.Element | None:
    for dom in document.iter("domain"):
        if dom.get("name") != domain:
            continue
        for found in dom.iter("user"):
            if found.get("id") == user:
                return found
    return None
