"""The HTTP side of Asterisk's ``res_config_curl`` realtime driver.

Asterisk POSTs form fields (``id=101%40a.example``) to
``<base>/<secret>/<family>/single`` or ``/multi``; the answer is one line of
``key=value&key=value`` (URL-encoded) per row, an empty body for none. The
secret in the path keeps other local processes from reading SIP passwords.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse

from orchestrator.engines.asterisk.provisioning.apply import AsteriskProvisioner

PREFIX = "/engine/asterisk/realtime"


def encode_rows(rows: list[dict[str, str]]) -> str:
    return "".join(
        "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in row.items()) + "\n"
        for row in rows
    )


def realtime_router(
    get_provisioner: Callable[[], AsteriskProvisioner | None], get_secret: Callable[[], str]
) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.post("/{secret}/{family}/{op}", response_class=PlainTextResponse)
    async def realtime(secret: str, family: str, op: str, request: Request) -> PlainTextResponse:
        expected = get_secret()
        if not expected or not secrets.compare_digest(secret.encode(), expected.encode()):
            raise HTTPException(status_code=404)
        provisioner = get_provisioner()
        if provisioner is None or op not in {"single", "multi"}:
            # Writes (store/update/destroy) are refused: the store is the only source of truth.
            return PlainTextResponse("" if op in {"single", "multi"} else "-1")
        fields = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        rows = provisioner.lookup(family, fields, multi=op == "multi")
        if not rows and op == "single" and fields.keys() == {"id"}:
            # A phone withholding its number, identified by its digest user (withheld.py).
            rows = provisioner.twins.rows(family, fields["id"])
        return PlainTextResponse(encode_rows(rows if op == "multi" else rows[:1]))

    return router
