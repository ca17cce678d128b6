"""The dialplan's question before an outbound call: ``GET .../billing-authorize``.

The tenant dialplan (dialplan_templates/asterisk/tenant/extensions.conf.j2) asks with
res_curl's ``CURL()``, under the realtime driver's secret path, before ``Dial``::

    GET /engine/asterisk/realtime/<secret>/billing-authorize
        ?tenant=1&endpoint=101%40a.example&number=0044207946000&call=1732451234.17

and gets one token back: ``limit_<ms>`` (a prepaid call: ``Dial(...,L(<ms>))``),
``unlimited``, or ``refuse_<cause>`` (``Hangup(<cause>)``). The dialplan keeps only
``[0-9a-z_]`` of the answer, so nothing it receives can inject dialplan. Every query
value is checked here too; a malformed one is refused.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse

from orchestrator.rating.prepaid import Authorization
from orchestrator.rating.service import RatingService

log = logging.getLogger(__name__)

PREFIX = "/engine/asterisk/realtime"
_NUMBER = re.compile(r"\+?[0-9]{1,32}")
_CALL = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ENDPOINT = re.compile(r"[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9.-]{1,253}")


async def dialplan_answer(
    service: RatingService | None, *, tenant: str, endpoint: str, number: str, call: str
) -> str:
    """The token for one question, every value checked first (a malformed one: refused)."""
    if (
        service is None
        or not tenant.isdigit()
        or not _NUMBER.fullmatch(number)
        or not _CALL.fullmatch(call)
        or (endpoint and not _ENDPOINT.fullmatch(endpoint))
    ):
        return Authorization("refuse").answer()
    try:
        answer = await asyncio.to_thread(
            service.authorize,
            tenant_id=int(tenant),
            number=number,
            call_id=call,
            endpoint=endpoint or None,
        )
    except Exception:
        log.exception("authorizing a call of tenant %s to %s failed", tenant, number)
        answer = Authorization("refuse", cause=41)
    log.info(
        "authorize tenant %s %s -> %s: %s (%s)",
        tenant, endpoint, number, answer.answer(), answer.reason,
    )  # fmt: skip
    return answer.answer()


def dialplan_authorizer(
    get_service: Callable[[], RatingService | None],
) -> Callable[..., Awaitable[str]]:
    """The same question asked in-process: for an engine whose dialplan the service
    answers itself (FreeSWITCH's xml_curl lookups), handed to its kit by the
    composition root (:class:`~orchestrator.provisioning.base.DialplanAuthorizer`)."""

    async def authorize(*, tenant_id: int, endpoint: str, number: str, call_id: str) -> str:
        return await dialplan_answer(
            get_service(), tenant=str(tenant_id), endpoint=endpoint, number=number, call=call_id
        )

    return authorize


def authorize_router(
    get_service: Callable[[], RatingService | None], get_secret: Callable[[], str]
) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/{secret}/billing-authorize", response_class=PlainTextResponse)
    async def authorize(
        secret: str, tenant: str = "", endpoint: str = "", number: str = "", call: str = ""
    ) -> PlainTextResponse:
        expected = get_secret()
        if not expected or not secrets.compare_digest(secret.encode(), expected.encode()):
            raise HTTPException(status_code=404)
        answer = await dialplan_answer(
            get_service(), tenant=tenant, endpoint=endpoint, number=number, call=call
        )
        return PlainTextResponse(answer)

    return router
