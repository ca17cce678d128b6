"""Remote IVR apps: calls on an access number that a CTI client drives over the API.

An IVR application whose flow key is ``remote`` runs :func:`run_remote` (registered
in the :class:`~orchestrator.ivr.AppRegistry` by the composition root). The call

1. rings (the caller hears ringback; the call is not answered);
2. waits up to the app's ``settings["wait_s"]`` (default 10 s) for a client to take
   control, i.e. send a command on it (``answer``, ``play``, ``collect``, ``hold``);
   with nobody in control it goes to the app's fallback destination, or is hung up;
3. then stays under the client's commands until the caller hangs up, the call is
   transferred or hung up by a command, or the app's ``max_duration_s`` passes.

If the controlling client disconnects, another may take over within ``wait_s``;
otherwise the call goes to the fallback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from orchestrator.core.errors import OrchestratorError
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.errors import CallEnded

if TYPE_CHECKING:
    from orchestrator.cti.registry import ActiveCall, CallRegistry

log = logging.getLogger("orchestrator.cti")

DEFAULT_WAIT_S = 10.0
MAX_WAIT_S = 300.0


class RemoteControl:
    """Who drives one remote-app call: a client id (a WebSocket session, ``rest``) or None."""

    def __init__(self, call: ActiveCall) -> None:
        self.call = call
        self.controller: str | None = None
        self.closed = False

    def take(self, who: str) -> None:
        """The first client to act on the call gets control of it."""
        if self.controller is None and not self.closed:
            self.controller = who
            self.call.changed()

    def release(self, who: str) -> bool:
        """``who`` went away; returns whether it was in control."""
        if self.controller != who:
            return False
        self.controller = None
        self.call.changed()
        return True

    def close(self) -> None:
        self.closed = True


def wait_seconds(settings: Any) -> float:
    """The app's ``wait_s`` setting, bounded to 0.1..300 s."""
    try:
        value = float(settings.get("wait_s", DEFAULT_WAIT_S))
    except (TypeError, ValueError):
        return DEFAULT_WAIT_S
    return min(max(value, 0.1), MAX_WAIT_S)


async def run_remote(registry: CallRegistry, ivr: IvrCall) -> None:
    """The body of the ``remote`` flow for one call (see the module doc)."""
    try:
        call = registry.get(ivr.id)
    except OrchestratorError:
        ivr.log.warning("remote app call %s is not in the CTI registry", ivr.id)
        return
    control: RemoteControl = call.control
    if not ivr.answered and control.controller is None:
        await ivr.ring()
        registry.ringing(call)
    wait_s = wait_seconds(ivr.settings) * ivr.timescale
    while not control.closed:
        if control.controller is None:
            if not await call.wait_until(
                lambda: control.controller is not None or control.closed, wait_s
            ):
                await _fallback(ivr, call.fallback)
                return
        else:
            await call.wait_until(lambda: control.controller is None or control.closed, None)


async def _fallback(ivr: IvrCall, fallback: str) -> None:
    """Nobody drives the call: the app's fallback destination, or hang up."""
    ivr.log.info("remote app call %s: no client in control; fallback %s", ivr.id, fallback)
    try:
        if fallback and fallback != "hangup":
            await ivr.transfer(fallback)
            return
    except CallEnded:
        return
    except OrchestratorError as exc:
        ivr.log.warning("fallback %s of call %s failed: %s", fallback, ivr.id, exc)
    # 19, "no answer": nobody was there to take the call.
    await ivr.hangup(16 if ivr.answered else 19)
