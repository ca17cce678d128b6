"""The FreeSWITCH kit: ``ORCH_ENGINE=freeswitch``, settings ``ORCH_FREESWITCH__*``.

What it wires: the ESL adapter (:class:`~orchestrator.engines.freeswitch.adapter.
FreeSwitchEngine`, also the provisioner's :class:`EngineConfig`: ``xml_flush_cache``);
the provisioner whose index answers mod_xml_curl's lookups (tenants' SIP users and
dialplan: :mod:`.provisioning`), with its HTTP routes and the front door that answers
those lookups on the API's port ahead of uvicorn; and the local instance that
``orchestrator run`` and ``orchestrator engine ...`` configure, start and stop when
FreeSWITCH runs on this machine (:mod:`.instance`). A remote FreeSWITCH is named by
``ORCH_FREESWITCH__ESL_HOST`` and ``ORCH_FREESWITCH__ESL_PASSWORD`` (docs/freeswitch.md).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from orchestrator.engines.freeswitch.instance import (
    FreeSwitchInstance,
    InstanceError,
    Layout,
    esl_request,
)
from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.freeswitch.provisioning.render import Renderer
from orchestrator.engines.freeswitch.provisioning.xml_curl import PREFIX, xml_curl_router
from orchestrator.engines.freeswitch.provisioning.xml_curl_listener import XmlCurlListener
from orchestrator.engines.kit import EngineKit, KitDeps, KitServer
from orchestrator.provisioning.base import EngineConfig
from orchestrator.settings import FreeSwitchSettings, Settings

log = logging.getLogger(__name__)

__all__ = [
    "FreeSwitchInstance",
    "build",
    "configurable_instance",
    "is_remote",
    "make_instance",
    "remote_status",
    "templates_dir",
]


def templates_dir() -> Path:
    """The configuration templates: ORCH_FREESWITCH_TEMPLATES_DIR, else freeswitch_conf/."""
    env = os.environ.get("ORCH_FREESWITCH_TEMPLATES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "freeswitch_conf"


def is_remote(group: FreeSwitchSettings) -> bool:
    """A FreeSWITCH elsewhere: another host, or a password given rather than generated."""
    return group.remote


def remote_status(group: FreeSwitchSettings) -> dict[str, object]:
    """``orchestrator engine status`` of a remote FreeSWITCH: its ``api status``."""
    result: dict[str, object] = {
        "engine": "freeswitch",
        "remote": f"{group.esl_host}:{group.esl_port}",
    }
    try:
        text = esl_request(group.esl_host, group.esl_port, group.esl_password, "status")
    except (OSError, InstanceError) as exc:
        return result | {"running": False, "error": str(exc) or type(exc).__name__}
    return result | {"running": True, "status": text.strip().splitlines()[:2]}


def xml_curl_url(settings: Settings) -> str:
    """Where FreeSWITCH POSTs its lookups (without the secret)."""
    group = settings.freeswitch
    port = group.xml_curl_port or settings.api_port
    base = group.xml_curl_url or f"http://127.0.0.1:{port}"
    return base.rstrip("/") + PREFIX


def layout(settings: Settings) -> Layout:
    group = settings.freeswitch
    return Layout(
        sip_profile=group.sip_profile,
        sip_ip=group.sip_ip,
        sip_port=group.sip_port,
        esl_port=group.esl_port,
        rtp_start=group.rtp_start,
        rtp_end=group.rtp_end,
        trunk_cidrs=tuple(group.trunk_cidrs),
        conference_profile=group.conference_profile,
        xml_curl_timeout=group.xml_curl_timeout_s,
        rtp_timeout=settings.sip_rtp_timeout_s,
        rtp_timeout_hold=settings.sip_rtp_timeout_hold_s,
        session_expires=settings.sip_session_expires_s,
    )


def make_instance(settings: Settings, name: str | None = None) -> FreeSwitchInstance | None:
    """The local instance (``name`` or ORCH_FREESWITCH__INSTANCE); None for a remote one."""
    group = settings.freeswitch
    if name is None and is_remote(group):
        return None
    return configurable_instance(settings, name)


def configurable_instance(settings: Settings, name: str | None = None) -> FreeSwitchInstance:
    """The instance whose files ``orchestrator engine configure`` writes (remote too)."""
    group = settings.freeswitch
    return FreeSwitchInstance(
        root=group.root,
        name=name or group.instance,
        templates_dir=templates_dir(),
        xml_curl_url_base=xml_curl_url(settings),
        layout=layout(settings),
        binary=group.binary,
    )


def build(deps: KitDeps) -> EngineKit:
    settings = deps.settings
    group = settings.freeswitch
    engine = deps.engine
    if engine is None:
        if not group.esl_password:
            raise SystemExit(
                "no FreeSWITCH ESL password: run `orchestrator engine configure` (a local "
                "instance) or set ORCH_FREESWITCH__ESL_PASSWORD (a remote one)"
            )
        from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

        engine = FreeSwitchEngine(
            host=group.esl_host,
            port=group.esl_port,
            password=group.esl_password,
            # A local instance records into its own folder (both sides read it there).
            recordings_dir=group.recordings_dir
            or (None if is_remote(group) else group.instance_dir / "recordings"),
            conference_profile=group.conference_profile,
            sip_profile=group.sip_profile,
        )
    # The adapter has the configuration side; an engine passed in by a test may not.
    config: EngineConfig | None = (
        engine if hasattr(engine, "invalidate_sip_objects") else None  # type: ignore[assignment]
    )
    provisioner = FreeSwitchProvisioner(
        engine=config,
        renderer=Renderer(templates_dir(), ring_timeout=settings.ring_timeout_s),
        load_tenant=deps.load_tenant,
        load_all=deps.load_all,
        # The trunks' gateways are files: only a FreeSWITCH reading this machine's gets them.
        gateways_dir=None if is_remote(group) else group.instance_dir / "conf" / "gateways",
        sip_profile=group.sip_profile,
        owner=settings.service_id,
    )
    if not group.xml_curl_secret:
        log.warning(
            "no ORCH_FREESWITCH__XML_CURL_SECRET: every xml_curl lookup is refused, so "
            "FreeSWITCH uses its static files and no phone registers"
        )
    router = xml_curl_router(
        lambda: provisioner, lambda: settings.freeswitch.xml_curl_secret, deps.authorizer
    )
    # The lookups come thousands a second, each on a new connection: answered on the
    # API's port before uvicorn parses them (the front door), and on a port of their own
    # too when one is set.
    lookups = XmlCurlListener(
        group.xml_curl_host,
        group.xml_curl_port,
        lambda: provisioner,
        lambda: settings.freeswitch.xml_curl_secret,
        deps.authorizer,
    )
    servers: list[KitServer] = [lookups] if group.xml_curl_port else []
    return EngineKit(
        name="freeswitch",
        node=f"freeswitch-{group.instance}",
        engine=engine,
        provisioner=provisioner,
        config=config,
        routers=[router],
        settings=group,
        servers=servers,
        front_door=lookups,
    )
