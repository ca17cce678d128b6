"""Message waiting on Asterisk: an unsolicited NOTIFY ``message-summary`` (RFC 3842) sent
with AMI ``PJSIPNotify`` to the endpoint's registered contacts.

Why not Asterisk's own MWI (``mailboxes=`` on the endpoint, the state set through ARI
``PUT /mailboxes/{name}``): ARI's mailboxes need ``res_mwi_external`` and
``res_ari_mailboxes``, which Debian's Asterisk does not build (they conflict with
``app_voicemail`` in menuselect; checked on 22.10: neither module is in the package,
only ``rest-api/mailboxes.json``). Without them ``mailboxes=`` would do harm: with no
state published, ``res_pjsip_mwi`` sends its own NOTIFY ``Messages-Waiting: no`` at every
registration and refresh, switching the light off. So the state is the orchestrator's
(``orchestrator/pbx/mwi.py`` re-sends it after registrations and reconnects) and this
module only delivers it, plus one thing ``res_pjsip_mwi`` would have done: a phone
refreshing a registration it already had (a reboot keeps its contact) gets the last
counts again; the adapter reports no ``EndpointStateChanged`` for a refresh.

The AMI action (``Variable`` lines are the NOTIFY's headers, ``Content`` lines its body,
joined with CRLF; a last empty one ends the body with CRLF)::

    Action: PJSIPNotify
    Endpoint: 101@a.example
    Variable: Event=message-summary
    Variable: Subscription-State=active
    Variable: Content-Type=application/simple-message-summary
    Variable: Content=Messages-Waiting: yes
    Variable: Content=Message-Account: sip:101@a.example
    Variable: Content=Voice-Message: 2/1 (0/0)
    Variable: Content=
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from orchestrator.core.engine import check_message_waiting
from orchestrator.core.errors import EngineError, OrchestratorError
from orchestrator.engines.asterisk.ami import AmiClient

log = logging.getLogger(__name__)


def notify_action(endpoint: str, new: int, old: int) -> dict[str, Any]:
    """The ``PJSIPNotify`` action for the counts (arguments checked: nothing in it can
    be read by AMI as another header, nor split by Asterisk's argument parser)."""
    check_message_waiting(endpoint, new, old)
    return {
        "Action": "PJSIPNotify",
        "Endpoint": endpoint,
        "Variable": [
            "Event=message-summary",
            "Subscription-State=active",
            "Content-Type=application/simple-message-summary",
            f"Content=Messages-Waiting: {'yes' if new else 'no'}",
            f"Content=Message-Account: sip:{endpoint}",
            f"Content=Voice-Message: {new}/{old} (0/0)",
            "Content=",
        ],
    }


# Asterisk runs each PJSIPNotify as a task of the SIP thread pool, unordered: two sent
# back to back to one endpoint can reach the phone in the other order (seen: a re-sent
# 2/1 arriving after the 3/1 that followed it), leaving the stale counts on the phone.
# Sends to one endpoint are spaced by this much, so each has left before the next.
SPACING_S = 0.15


class MessageWaiting:
    """Sends the counts and keeps the last ones sent per endpoint (for refreshes)."""

    def __init__(self, ami: AmiClient) -> None:
        self.ami = ami
        self.shown: dict[str, tuple[int, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}  # endpoint -> when its last NOTIFY was asked

    async def set(self, endpoint: str, new: int, old: int) -> None:
        action = notify_action(endpoint, new, old)  # checked before it is kept
        await self._send(endpoint, action, (new, old))

    async def _send(
        self, endpoint: str, action: dict[str, Any] | None, counts: tuple[int, int] | None
    ) -> None:
        """Send ``action`` (None: the last counts shown, a refresh), one at a time per
        endpoint and spaced (see SPACING_S)."""
        lock = self._locks.setdefault(endpoint, asyncio.Lock())
        async with lock:
            if action is None:
                shown = self.shown.get(endpoint)
                if shown is None:
                    return
                action = notify_action(endpoint, *shown)
            loop = asyncio.get_running_loop()
            wait = self._last.get(endpoint, -SPACING_S) + SPACING_S - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last[endpoint] = loop.time()
            resp = await self.ami.action(action)
            if resp.get("Response") == "Error":
                message = str(resp.get("Message", ""))
                if "Unable to retrieve endpoint" not in message:
                    raise EngineError(f"AMI PJSIPNotify {endpoint}: {message}", endpoint=endpoint)
                # A SIP user the engine does not know has no phone registered: nothing to
                # send (as on FreeSWITCH), not an error.
                log.debug("asterisk: no SIP endpoint %s to show message waiting", endpoint)
            if counts is not None:
                self.shown[endpoint] = counts
        if len(self._locks) > 1000:
            self._forget_old(loop.time())

    def _forget_old(self, now: float) -> None:
        for endpoint, at in list(self._last.items()):
            lock = self._locks.get(endpoint)
            if now - at > SPACING_S and (lock is None or not lock.locked()):
                self._last.pop(endpoint, None)
                self._locks.pop(endpoint, None)

    def refreshed(self, endpoint: str) -> None:
        """A phone of ``endpoint`` refreshed its registration (on the AMI reader: the
        NOTIFY goes out from a task, with the counts shown last when it goes)."""
        if endpoint not in self.shown:
            return
        task = asyncio.get_running_loop().create_task(self._again(endpoint))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _again(self, endpoint: str) -> None:
        try:
            await self._send(endpoint, None, None)
        except OrchestratorError as exc:
            log.warning("asterisk: MWI not sent again to %s: %s", endpoint, exc)
