"""The FreeSWITCH engine: the ESL adapter (and its kit).

Layers, one module each: ``esl`` (wire parser, connection, client), ``translate`` (ESL
events to core events), ``dialstrings`` (targets and routing as FreeSWITCH syntax),
``dispatch`` / ``adapter`` (:class:`FreeSwitchEngine`), with ``media``, ``connections``,
``conferences``, ``supervisor``, ``reconcile`` and ``registrations`` beside it.

The adapter is imported lazily so that the kit's instance management does not pull in
the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

__all__ = ["FreeSwitchEngine"]


def __getattr__(name: str) -> Any:
    if name == "FreeSwitchEngine":
        from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

        return FreeSwitchEngine
    raise AttributeError(name)
