"""The Asterisk kit: ``ORCH_ENGINE=asterisk`` (the default), settings ``ORCH_ASTERISK__*``.

What it wires: the ARI + AMI adapter; the provisioner that writes each tenant's
dialplan file into the instance's ``tenants/`` folder and serves SIP users through
``res_config_curl`` (its realtime routes are the HTTP calls Asterisk makes back); the
AMI side (reload, cache expiry, console commands) as the provisioner's
:class:`~orchestrator.provisioning.base.EngineConfig`; and the local instance that
``orchestrator run`` and ``orchestrator engine ...`` start and stop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

from orchestrator.engines.asterisk.instance import AsteriskInstance

__all__ = ["AsteriskInstance", "build", "config_dir", "make_instance", "templates_dir"]
from orchestrator.engines.asterisk.provisioning.apply import AsteriskProvisioner
from orchestrator.engines.asterisk.provisioning.lookup import dial_router
from orchestrator.engines.asterisk.provisioning.realtime import PREFIX, realtime_router
from orchestrator.engines.asterisk.provisioning.render import Liveness, Renderer
from orchestrator.engines.kit import EngineKit, KitDeps
from orchestrator.provisioning.base import EngineConfig
from orchestrator.settings import Settings


def templates_dir() -> Path:
    """The dialplan templates: ORCH_TEMPLATES_DIR, else the repository's."""
    env = os.environ.get("ORCH_TEMPLATES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "dialplan_templates" / "asterisk"


def make_instance(settings: Settings, name: str | None = None) -> AsteriskInstance:
    """The instance ``settings`` name (or ``name``), under ``ORCH_ASTERISK__ROOT``."""
    group = settings.asterisk
    return AsteriskInstance(
        root=group.root,
        name=name or group.instance,
        templates_dir=templates_dir(),
        realtime_url_base=f"http://127.0.0.1:{settings.api_port}{PREFIX}",
        ari_app=group.ari_app,
    )


def config_dir(settings: Settings) -> Path:
    """Where tenants' configuration is written: the instance's, else the state dir's."""
    return settings.asterisk.config_dir or settings.state_dir / "engine-config"


def build(deps: KitDeps) -> EngineKit:
    settings = deps.settings
    group = settings.asterisk
    engine = deps.engine
    if engine is None:
        from orchestrator.engines.asterisk.adapter import AsteriskEngine

        if not group.ari_url:
            raise SystemExit("no Asterisk credentials: run `orchestrator engine start` first")
        engine = AsteriskEngine(
            ari_url=group.ari_url,
            ari_user=group.ari_user,
            ari_password=group.ari_password,
            app=group.ari_app,
            ami_host=group.ami_host,
            ami_port=group.ami_port,
            ami_user=group.ami_user,
            ami_password=group.ami_password,
            # Agents' phones: an unregistered phone is not offered queue calls.
            endpoint_events=True,
            journal_dir=group.journal_dir,
        )
    # The adapter has the AMI side; an engine passed in by a test must have it too.
    config = cast(EngineConfig, engine)
    provisioner = AsteriskProvisioner(
        engine=config,
        config_dir=config_dir(settings),
        renderer=Renderer(
            templates_dir(),
            ari_app=group.ari_app,
            ring_timeout=settings.ring_timeout_s,
            liveness=Liveness(
                rtp_timeout=settings.sip_rtp_timeout_s,
                rtp_timeout_hold=settings.sip_rtp_timeout_hold_s,
                session_expires=settings.sip_session_expires_s,
                qualify=settings.sip_qualify_s,
            ),
        ),
        load_tenant=deps.load_tenant,
        load_all=deps.load_all,
        owner=settings.service_id,
        authorizer=deps.authorizer,
    )
    return EngineKit(
        name="asterisk",
        node=group.instance,
        engine=engine,
        provisioner=provisioner,
        config=config,
        routers=[
            realtime_router(lambda: provisioner, lambda: settings.realtime_secret),
            dial_router(lambda: provisioner.routes, lambda: settings.realtime_secret, PREFIX),
        ],
        settings=group,
    )
