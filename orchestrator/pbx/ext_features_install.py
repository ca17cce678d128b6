"""Wiring of an extension's own lists: the speed-dial feature codes (``*74``, ``*0``).

The blacklist needs no wiring of its own: the ``pbx_extension`` flow reads it with the
extension (:class:`~orchestrator.pbx.lines.StoreLines`), and an extension with one is
managed (:func:`~orchestrator.store.models.call_settings.managed_owners`).
"""

from __future__ import annotations

from orchestrator.components import Deps
from orchestrator.pbx.dispatch import FeatureHandlers
from orchestrator.pbx.speed_dial import SpeedDials, speed_dial_handlers


def install(deps: Deps, handlers: FeatureHandlers) -> SpeedDials:
    """Register the speed-dial handlers on the feature-code dispatcher."""
    dials = SpeedDials(deps.sessions)
    handlers.update(speed_dial_handlers(dials))
    return dials
