"""How deliveries are signed, and how a receiver checks them (see docs/webhooks.md).

The signature is an HMAC-SHA256, keyed with the webhook's secret (its UTF-8 bytes),
over the timestamp, a dot and the exact body bytes::

    X-Orchestrator-Timestamp: 1795344950
    X-Orchestrator-Signature: v1=<hex HMAC-SHA256(secret, b"1795344950." + body)>

The timestamp is the attempt's (each retry is signed afresh), so a receiver can refuse
old messages (replays) while the event id in the body stays the same across retries.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SCHEME = "v1"
TIMESTAMP_HEADER = "X-Orchestrator-Timestamp"
SIGNATURE_HEADER = "X-Orchestrator-Signature"
DELIVERY_HEADER = "X-Orchestrator-Delivery"
EVENT_HEADER = "X-Orchestrator-Event"
ATTEMPT_HEADER = "X-Orchestrator-Attempt"
USER_AGENT = "orchestrator-webhooks/0.1"
# How old a signed timestamp verify() accepts by default (seconds, either way).
TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: the value of the signature header."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def sign_headers(
    secret: str,
    body: bytes,
    *,
    delivery_id: str,
    event_type: str,
    attempt: int,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Every header of one attempt, besides what the HTTP client adds."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature(secret, ts, body),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event_type,
        ATTEMPT_HEADER: str(attempt),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent.

    ``headers`` must look names up case-insensitively (as aiohttp's, Starlette's and
    requests' do); the comparison takes constant time.
    """
    raw_ts = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not raw_ts.isdigit() or not given:
        return False
    ts = int(raw_ts)
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    expected = signature(secret, ts, body)
    # Several signatures may be listed (comma-separated) during a key change.
    return any(hmac.compare_digest(expected, part.strip()) for part in given.split(","))
