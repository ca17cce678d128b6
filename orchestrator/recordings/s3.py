"""S3-compatible object storage for recordings, through boto3 (blocking: call it from a
worker thread, e.g. ``asyncio.to_thread``).

Keys are ``<prefix>t<tenant_id>/<yyyy>/<mm>/<dd>/<recording uuid>.<format>``, so one
bucket holds every tenant apart and a lifecycle rule or an IAM policy can work per tenant.
Uploads send ``Content-MD5``: the server refuses a body damaged on the way, and the
returned ETag (the MD5 of a single-part object) is checked as well.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from orchestrator.settings import Settings

CONTENT_TYPES = {"wav": "audio/wav", "gsm": "audio/x-gsm", "ulaw": "audio/basic"}
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class S3Config:
    """Where recordings go. An empty ``endpoint_url`` means AWS; empty keys, boto3's
    usual credential chain (environment, profile, instance role)."""

    bucket: str
    endpoint_url: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = ""
    prefix: str = "recordings/"
    presign_s: int = 300


class UploadError(RuntimeError):
    """The storage refused or damaged an upload."""


class S3Storage:
    """Puts, streams, presigns and deletes recordings in one bucket."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.bucket = config.bucket
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url or None,
            region_name=config.region or None,
            aws_access_key_id=config.access_key_id or None,
            aws_secret_access_key=config.secret_access_key or None,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage | None:
        """The storage ``ORCH_S3_*`` name; None without a bucket (recordings stay local)."""
        if not settings.s3_bucket:
            return None
        return cls(
            S3Config(
                bucket=settings.s3_bucket,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
                prefix=settings.s3_key_prefix,
                presign_s=settings.s3_presign_s,
            )
        )

    def key_for(self, tenant_id: int, rec_uuid: str, fmt: str, started: datetime) -> str:
        return f"{self.config.prefix}t{tenant_id}/{started:%Y/%m/%d}/{rec_uuid}.{fmt}"

    def put(self, key: str, data: bytes, *, fmt: str, metadata: Mapping[str, str]) -> str:
        """Store ``data`` at ``key``; returns the ETag (without quotes)."""
        digest = hashlib.md5(data, usedforsecurity=False)
        answer = self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentMD5=base64.b64encode(digest.digest()).decode(),
            ContentType=CONTENT_TYPES.get(fmt, "application/octet-stream"),
            Metadata=dict(metadata),
        )
        etag = str(answer.get("ETag", "")).strip('"')
        if etag and etag != digest.hexdigest():
            raise UploadError(f"{key}: the stored object's ETag {etag} is not the MD5 sent")
        return etag

    def open(self, key: str) -> tuple[Iterator[bytes], int, str]:
        """The object's bytes in chunks, its length and content type."""
        answer = self._client.get_object(Bucket=self.bucket, Key=key)
        body = answer["Body"]
        return (
            body.iter_chunks(CHUNK),
            int(answer.get("ContentLength", 0)),
            str(answer.get("ContentType", "application/octet-stream")),
        )

    def presign(self, key: str, expires_s: int | None = None) -> str:
        """A URL that fetches the object without credentials for ``expires_s`` seconds."""
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=expires_s or self.config.presign_s,
        )
        return url

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=key)

    def ping(self) -> None:
        """Raise if the bucket cannot be reached (checked at start, logged only)."""
        self._client.head_bucket(Bucket=self.bucket)
