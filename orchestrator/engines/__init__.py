"""Engine adapters, and one kit per engine that the composition root picks by name.

``ORCH_ENGINE`` names the kit (:data:`orchestrator.settings.ENGINES`); each kit module is
imported only when chosen, so a service on the FakeEngine loads nothing of Asterisk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.engines.kit import EngineKit, KitDeps, LocalInstance
    from orchestrator.settings import Settings

__all__ = ["UnknownEngineError", "load_kit", "local_instance"]


class UnknownEngineError(SystemExit):
    """``ORCH_ENGINE`` names no kit: a start-up error, with the choices."""


def load_kit(deps: KitDeps) -> EngineKit:
    """Build the kit of ``deps.settings.engine``."""
    name = deps.settings.engine
    if name == "asterisk":
        from orchestrator.engines.asterisk import kit as asterisk

        return asterisk.build(deps)
    if name == "freeswitch":
        from orchestrator.engines.freeswitch import kit as freeswitch

        return freeswitch.build(deps)
    if name == "fake":
        from orchestrator.engines.fake import kit as fake

        return fake.build(deps)
    raise UnknownEngineError(f"ORCH_ENGINE={name!r}: no such engine (asterisk, freeswitch or fake)")


def local_instance(settings: Settings, name: str | None = None) -> LocalInstance | None:
    """The engine instance ``orchestrator run`` starts here, or None (the FakeEngine)."""
    if settings.engine == "asterisk":
        from orchestrator.engines.asterisk import kit as asterisk

        return asterisk.make_instance(settings, name)
    if settings.engine == "freeswitch":
        from orchestrator.engines.freeswitch import kit as freeswitch

        return freeswitch.make_instance(settings, name)
    if settings.engine == "fake":
        return None
    raise UnknownEngineError(f"ORCH_ENGINE={settings.engine!r}: no such engine")
