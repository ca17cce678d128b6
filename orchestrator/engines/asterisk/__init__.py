"""The Asterisk engine: instance management and the ARI + AMI adapter.

Layers, one module each: ``ari`` (REST client, events WebSocket, wire parser),
``ami`` (panoramisk wrapper), ``translate`` (ARI JSON to core events),
``reconcile`` (catch up after a reconnect), ``adapter`` (:class:`AsteriskEngine`).
``instance`` installs and runs the engine itself.

The adapter is imported lazily so that ``instance`` (used by the CLI) does not pull
in aiohttp and panoramisk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.engines.asterisk.adapter import AsteriskEngine

__all__ = ["AsteriskEngine"]


def __getattr__(name: str) -> Any:
    if name == "AsteriskEngine":
        from orchestrator.engines.asterisk.adapter import AsteriskEngine

        return AsteriskEngine
    raise AttributeError(name)
