"""Recordings kept in S3-compatible storage, linked to CDRs (see docs/recordings.md).

- :mod:`orchestrator.recordings.service`: :class:`RecordingService` follows the engine's
  recordings and uploads the finished ones (kept on the engine until that succeeds);
- :mod:`orchestrator.recordings.s3`: :class:`S3Storage` over boto3;
- :mod:`orchestrator.recordings.sources`: tenant lookups from the IVR runner and CTI.
"""

from orchestrator.recordings.s3 import S3Config, S3Storage
from orchestrator.recordings.service import RecordingService, audio_format

__all__ = ["RecordingService", "S3Config", "S3Storage", "audio_format"]
