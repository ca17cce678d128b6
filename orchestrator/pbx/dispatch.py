"""The builtin IVR flow ``pbx_code``: a phone dialed a feature code; run its action.

The tenant's dialplan hands every number starting with ``*`` or ``#`` to the IVR flow
``pbx.code`` with the calling phone's SIP endpoint (as the engine knows it, not as the
phone claims) and what it dialed (``call.routing``: ``endpoint``, ``dialed``). The flow

1. answers;
2. finds the tenant's extension behind the endpoint; a caller that is no extension of
   this tenant (a trunk, another tenant's phone) hears "that feature is not available
   on this line" (:attr:`Prompt.FEATURE_NOT_AVAILABLE`);
3. reads the tenant's codes (:func:`orchestrator.pbx.codes.match`); an unknown code, or
   one turned off, is "that is not a valid code" (:attr:`Prompt.FEATURE_INVALID`);
4. runs the handler a feature registered for the action (:class:`FeatureHandlers`),
   which plays its own confirmation; an action without a handler yet (pickup, park...
   come with part 2) says "not available";
5. hangs up (the runner does, once the flow returns).

A call a phone blind-transferred to a code (the call park: ``*68``) reaches the flow
with the *transferred* caller's leg; the engine names the transferring phone
(``routing``: ``transferer``, its endpoint; Asterisk: the ``BLINDTRANSFER`` channel
variable). Then the phone behind the code is the transferer's, and only the ``park``
action runs: a caller must not set someone's forwarding by being transferred.

Features register their handlers at install time::

    async def agent_login(call: IvrCall, ctx: CodeContext) -> None:
        ...  # ctx.tenant_id, ctx.extension_id, ctx.number, ctx.argument
        await call.play(Prompt.AGENT_LOGGED_IN)

    handlers.register("agent_login", agent_login)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass

from orchestrator.core.prompts import Prompt
from orchestrator.ivr import IvrCall
from orchestrator.pbx.codes import check_action, match

log = logging.getLogger("orchestrator.pbx")

__all__ = [
    "PBX_CODE_FLOW",
    "CodeContext",
    "FeatureHandlers",
    "Handler",
    "PhoneOwner",
    "code_flow",
]

PBX_CODE_FLOW = "pbx_code"
# A SIP endpoint as the engines name a tenant's phone: <user>@<domain>.
_ENDPOINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}@[A-Za-z0-9.-]{1,253}")


@dataclass(frozen=True, slots=True)
class CodeContext:
    """Who dialed which code: the handler's second argument.

    ``argument``: the digits dialed after the code (``"102"`` of ``*97102``), or ``""``;
    ``extension_id`` / ``number``: the calling phone's extension; ``endpoint``: its SIP
    endpoint; ``transferred``: the call was blind-transferred to the code by that phone
    (the leg is someone else's: the transferred caller)."""

    tenant_id: int
    action: str
    argument: str
    extension_id: int
    number: str
    endpoint: str
    transferred: bool = False


Handler = Callable[[IvrCall, CodeContext], Awaitable[None]]


class FeatureHandlers:
    """action -> the coroutine that runs it; features fill it at install time."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, action: str, handler: Handler) -> None:
        """Run ``handler`` for ``action`` (an action of the catalogue, registered once)."""
        check_action(action)
        if action in self._handlers:
            raise ValueError(f"a handler for {action} is registered already")
        self._handlers[action] = handler

    def update(self, handlers: Mapping[str, Handler]) -> None:
        for action, handler in handlers.items():
            self.register(action, handler)

    def get(self, action: str) -> Handler | None:
        return self._handlers.get(action)

    def __contains__(self, action: object) -> bool:
        return action in self._handlers

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._handlers))


@dataclass(frozen=True, slots=True)
class PhoneOwner:
    """The extension behind a calling endpoint."""

    extension_id: int
    number: str


# (tenant id, endpoint) -> the tenant's extension on that endpoint, or None.
OwnerLookup = Callable[[int, str], Awaitable[PhoneOwner | None]]
# What a transferred call may ask for (see the module doc).
TRANSFERRED_ACTIONS = frozenset({"park"})
# tenant id -> its enabled codes (action -> code).
CodesLookup = Callable[[int], Awaitable[Mapping[str, str]]]


def code_flow(
    handlers: FeatureHandlers, owner_of: OwnerLookup, codes_of: CodesLookup
) -> Callable[[IvrCall], Awaitable[None]]:
    """The ``pbx_code`` flow over ``handlers`` (see the module doc)."""

    async def pbx_code(call: IvrCall) -> None:
        routing = call.routing
        endpoint = routing.get("endpoint") if routing is not None else ""
        dialed = routing.get("dialed") if routing is not None else ""
        transferer = routing.get("transferer") if routing is not None else ""
        if transferer:
            endpoint = transferer  # the phone that blind-transferred the caller here
        await call.answer()
        owner = None
        if call.tenant.isdigit() and _ENDPOINT.fullmatch(endpoint):
            owner = await owner_of(int(call.tenant), endpoint)
        if owner is None:
            call.log.info("feature code %r from %r: no extension of tenant %s",
                          dialed, endpoint, call.tenant)  # fmt: skip
            await call.play(Prompt.FEATURE_NOT_AVAILABLE)
            return
        tenant_id = int(call.tenant)
        found = match(await codes_of(tenant_id), dialed)
        if found is None:
            await call.play(Prompt.FEATURE_INVALID)
            return
        handler = handlers.get(found.action)
        if transferer and found.action not in TRANSFERRED_ACTIONS:
            call.log.info("feature code %s transferred to: only park may be", found.code)
            handler = None
        if handler is None:
            call.log.info("feature code %s (%s): no handler installed", found.code, found.action)
            await call.play(Prompt.FEATURE_NOT_AVAILABLE)
            return
        context = CodeContext(
            tenant_id, found.action, found.argument, owner.extension_id, owner.number, endpoint,
            transferred=bool(transferer),
        )  # fmt: skip
        await handler(call, context)

    return pbx_code
