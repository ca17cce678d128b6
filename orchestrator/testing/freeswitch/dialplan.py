"""Dialplan lookups as mod_dialplan_xml does them, with mod_xml_curl in front.

The static dialplan is FreeSWITCH XML text (``<include>`` or ``<document>`` of
``<context name>`` / ``<extension name continue>`` / ``<condition field expression
break>`` with ``<action>`` / ``<anti-action>``); ``$1``.. are the captures of the
condition's regex, ``${var}`` is expanded when the app runs. With ``xml_curl_url``
the lookup is first POSTed there as mod_xml_curl does; a 404, a ``not found``
result, a body that is not XML or no answer within ``xml_curl_timeout`` falls back
to the static dialplan silently (as FreeSWITCH does).
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import aiohttp

from orchestrator.testing.freeswitch.events import FsEvent, url_encode

if TYPE_CHECKING:
    from orchestrator.testing.freeswitch.channels import Channel
    from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["Dialplan", "inline_steps"]

Steps = list[tuple[str, str]]

_PROFILE_FIELDS = {
    "destination_number": "destination_number", "caller_id_number": "caller_id_number",
    "caller_id_name": "caller_id_name", "context": "context", "ani": "caller_id_number",
    "uuid": "unique_id", "source": "source", "chan_name": "channel_name", "dialplan": "dialplan",
}  # fmt: skip


def inline_steps(dest: str) -> Steps:
    """The ``inline`` dialplan: ``app:arg,app2:arg2`` (a bare ``park`` too)."""
    steps = []
    for item in dest.split(","):
        app, _, arg = item.strip().partition(":")
        if app:
            steps.append((app, arg))
    return steps


class Dialplan:
    """Static XML plus an optional mod_xml_curl gateway (``directory`` lookups too)."""

    def __init__(
        self, xml: str = "", *, xml_curl_url: str | None = None, timeout: float = 2.0
    ) -> None:
        self.xml = xml
        self.xml_curl_url = xml_curl_url
        self.timeout = timeout
        self.requests: list[dict[str, str]] = []  # what was POSTed (tests read it)
        self.static_directory = ""  # FreeSWITCH directory XML used when xml_curl has nothing

    def set_static(self, xml: str) -> None:
        self.xml = xml

    async def lookup(
        self, sw: Switch, ch: Channel, dest: str, dialplan: str, context: str
    ) -> Steps | None:
        """The apps to run for ``dest`` in ``context`` (None: no route)."""
        if dialplan.lower() == "inline":
            return inline_steps(dest)
        if self.xml_curl_url:
            fields = self._dialplan_fields(sw, ch)
            document = await self.fetch(fields)
            if document is not None:
                found = _match_document(document, ch, context)
                if found is not None:
                    return found
        root = _parse(self.xml) if self.xml.strip() else None
        if root is None:
            return None
        return _match_document(root, ch, context)

    # -- mod_xml_curl -----------------------------------------------------------
    def _dialplan_fields(self, sw: Switch, ch: Channel) -> list[tuple[str, str]]:
        request = FsEvent(
            "REQUEST_PARAMS", calling=("mod_dialplan_xml.c", "dialplan_xml_locate", 610)
        )
        fields = [
            ("hostname", "vm"),
            ("section", "dialplan"),
            ("tag_name", ""),
            ("key_name", ""),
            ("key_value", ""),
        ]
        fields += request.all_headers() + ch.data()
        fields += ch.profile.headers("Hunt-", ch)
        return fields

    async def directory(self, fields: list[tuple[str, str]]) -> ET.Element | None:
        """A directory lookup (``fields`` after hostname/section): the xml_curl document,
        else the static directory (None when there is neither)."""
        if self.xml_curl_url:
            document = await self.fetch([("hostname", "vm"), ("section", "directory"), *fields])
            if document is not None:
                return document
        return _parse(self.static_directory) if self.static_directory.strip() else None

    async def fetch(self, fields: list[tuple[str, str]]) -> ET.Element | None:
        """POST ``fields`` to the gateway; the document, or None to fall back."""
        assert self.xml_curl_url is not None
        self.requests.append(dict(fields))
        body = "&".join(f"{url_encode(k)}={url_encode(v)}" for k, v in fields)
        data = body.encode()
        headers = {  # libcurl's, in its order (no Accept-Encoding, no Expect)
            "User-Agent": "freeswitch-xml/1.0",
            "Accept": "*/*",
            "Content-Length": str(len(data)),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with (
                # a session per lookup: a new TCP connection each time, as mod_xml_curl
                aiohttp.ClientSession(
                    timeout=timeout, skip_auto_headers=("Accept-Encoding",)
                ) as http,
                http.post(self.xml_curl_url, data=data, headers=headers) as resp,
            ):
                if resp.status != 200:
                    return None
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError):
            return None
        root = _parse(text)
        if root is None:
            return None
        result = root.find(".//section[@name='result']/result")
        if result is not None and result.get("status") == "not found":
            return None
        return root


def _parse(text: str) -> ET.Element | None:
    try:
        return ET.fromstring(text)
    except ET.ParseError:
        return None


def _match_document(root: ET.Element, ch: Channel, context: str) -> Steps | None:
    contexts = [root] if root.tag == "context" else list(root.iter("context"))
    for ctx in contexts:
        if ctx.get("name") == context:
            return _match_context(ctx, ch)
    return None


def _field_value(ch: Channel, field: str) -> str:
    if field.startswith("${") and field.endswith("}"):
        return ch.variables.get(field[2:-1], "")
    attr = _PROFILE_FIELDS.get(field)
    if attr is not None:
        return str(getattr(ch.profile, attr))
    return ch.variables.get(field, "")


# A regex capture in an action's data, as switch_perform_substitution reads it: every
# digit after the "$" ("$1000" is capture 1000, empty), or "${<digits>}".
CAPTURE = re.compile(r"\$(?:\{(\d+)\}|(\d+))")


def _group(groups: tuple[str, ...], m: re.Match[str]) -> str:
    index = int(m.group(1) or m.group(2))
    return groups[index] if index < len(groups) else ""


def _match_context(ctx: ET.Element, ch: Channel) -> Steps | None:
    steps: Steps = []
    matched = False
    for ext in ctx.iter("extension"):
        ext_steps: Steps = []
        hit = False
        for cond in ext.findall("condition"):
            field, expr = cond.get("field"), cond.get("expression")
            groups: tuple[str, ...] = ()
            ok = True
            if field is not None and expr is not None:
                m = re.search(expr, _field_value(ch, field))
                ok = m is not None
                if m is not None:
                    groups = (m.group(0), *(g or "" for g in m.groups()))
            tag = "action" if ok else "anti-action"
            for act in cond.findall(tag):
                data = act.get("data", "")
                data = CAPTURE.sub(functools.partial(_group, groups), data)
                app = act.get("application", "")
                if act.get("inline") == "true" and app == "set":
                    # inline actions run while hunting, so later conditions see them
                    name, _, value = data.partition("=")
                    ch.variables[name] = value
                    continue
                ext_steps.append((app, data))
            if ok:
                hit = True
            elif cond.get("break", "on-false") in ("on-false", "always"):
                break
            if ok and cond.get("break") == "on-true":
                break
        if hit or ext_steps:
            matched = True
            steps += ext_steps
            if ext.get("continue") != "true":
                break
    return steps if matched else None
