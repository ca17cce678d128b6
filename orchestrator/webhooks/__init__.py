"""Webhooks per tenant: signed JSON deliveries of CDRs and call events, retried with
backoff, with a delivery log and dead letters (see docs/webhooks.md).

- :mod:`orchestrator.webhooks.dispatcher`: :class:`WebhookService`, fed by the CDR
  builder, the CTI event stream, the ACD and the recordings uploader;
- :mod:`orchestrator.webhooks.worker`: :class:`DeliveryWorker` and :class:`RetryPolicy`;
- :mod:`orchestrator.webhooks.signing`: the signature scheme and :func:`verify`.
"""

from orchestrator.webhooks.dispatcher import WebhookService, event_body
from orchestrator.webhooks.signing import sign_headers, signature, verify
from orchestrator.webhooks.worker import DeliveryWorker, RetryPolicy

__all__ = [
    "DeliveryWorker",
    "RetryPolicy",
    "WebhookService",
    "event_body",
    "sign_headers",
    "signature",
    "verify",
]
