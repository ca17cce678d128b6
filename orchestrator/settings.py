"""Service settings, read from ``ORCH_*`` environment variables (or a ``.env`` file).

There are no default secrets: the engine's ARI/AMI credentials are generated
when the engine instance is set up and read from its ``credentials.json``; the
first admin token comes from ``ORCH_ADMIN_TOKEN`` or is generated and printed once.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WEAK_SECRETS = {"", "asterisk", "secret", "password", "changeme", "admin", "1234"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORCH_", env_file=".env", extra="ignore")

    state_dir: Path = Field(default=Path("var"), description="where the service keeps its files")
    database_url: str = Field(default="", description="SQLAlchemy URL; SQLite file by default")
    admin_token: str = Field(default="", description="first system-admin API token")

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    engine: Literal["asterisk", "fake"] = "asterisk"
    # The Asterisk instance: where its root is, and how to reach it.
    asterisk_root: Path = Path("/var/cache/orchestrator/asterisk-root")
    asterisk_instance: str = "default"
    asterisk_credentials: Path | None = None
    # `orchestrator run` stops the engine it started only once no channel is up, or
    # this long after Ctrl-C/SIGTERM (a second one stops it at once).
    engine_stop_grace_s: float = Field(default=60.0, ge=0, le=24 * 3600)
    ari_url: str = ""
    ari_user: str = ""
    ari_password: str = ""
    ari_app: str = "orchestrator"
    ami_host: str = "127.0.0.1"
    ami_port: int = 0
    ami_user: str = ""
    ami_password: str = ""
    # Where generated tenant configuration is written; the engine reads it from there.
    asterisk_config_dir: Path | None = None
    # Where the engine journals its channels' answers and hang-ups (read back after a gap).
    asterisk_journal_dir: Path | None = None
    # Shared secret in the URL path that Asterisk's res_config_curl uses to fetch SIP users.
    realtime_secret: str = ""
    # Directories holding IVR flow modules (default: the repository's ivr_apps/).
    ivr_apps_dirs: list[Path] = Field(default_factory=list)
    # WebSocket CTI API: server heartbeat period and client inactivity timeout.
    ws_heartbeat_s: float = Field(default=20.0, gt=0, le=300)
    ws_idle_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    # Webhooks (docs/webhooks.md): attempts per delivery, backoff base * factor^(n-1)
    # capped at max, the answer timeout, and whether URLs may reach private addresses.
    webhook_max_attempts: int = Field(default=6, ge=1, le=50)
    webhook_backoff_base_s: float = Field(default=10.0, gt=0)
    webhook_backoff_factor: float = Field(default=3.0, ge=1)
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_poll_s: float = Field(default=1.0, gt=0, le=60)
    webhook_allow_private: bool = False
    # Recordings in S3 (docs/recordings.md); no bucket: recordings stay on the engine.
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_key_prefix: str = "recordings/"
    s3_presign_s: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    recording_upload_poll_s: float = Field(default=2.0, gt=0, le=600)
    # Dead phones and trunks (docs/provisioning.md#phones-that-vanish): a call whose
    # phone sends no RTP for this long (longer while it holds the call) is hung up; SIP
    # session timers and OPTIONS qualify catch what RTP cannot. Seconds.
    sip_rtp_timeout_s: int = Field(default=60, ge=2, le=3600)
    sip_rtp_timeout_hold_s: int = Field(default=120, ge=2, le=3600)
    # RFC 4028 allows no less than 90 s.
    sip_session_expires_s: int = Field(default=180, ge=90, le=86400)
    # 0: never qualify.
    sip_qualify_s: int = Field(default=60, ge=0, le=86400)

    @model_validator(mode="after")
    def _fill_from_instance(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.state_dir / 'orchestrator.db').resolve()}"
        creds = self.credentials()
        if creds:
            self.ari_url = self.ari_url or f"http://127.0.0.1:{creds['http_port']}/ari"
            self.ari_user = self.ari_user or creds["ari_user"]
            self.ari_password = self.ari_password or creds["ari_password"]
            self.ami_port = self.ami_port or int(creds["ami_port"])
            self.ami_user = self.ami_user or creds["ami_user"]
            self.ami_password = self.ami_password or creds["ami_password"]
            self.realtime_secret = self.realtime_secret or creds.get("realtime_secret", "")
            if self.asterisk_config_dir is None and creds.get("config_dir"):
                self.asterisk_config_dir = Path(creds["config_dir"])
            if self.asterisk_journal_dir is None and creds.get("journal_dir"):
                self.asterisk_journal_dir = Path(creds["journal_dir"])
        if self.engine == "asterisk":
            for name in ("ari_password", "ami_password"):
                if getattr(self, name).lower() in WEAK_SECRETS - {""}:
                    raise ValueError(f"ORCH_{name.upper()} is a well-known default; refusing it")
        return self

    def credentials(self) -> dict[str, Any] | None:
        path = self.asterisk_credentials or (
            self.asterisk_root
            / "var/lib/orchestrator"
            / self.asterisk_instance
            / "credentials.json"
        )
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data


@lru_cache
def get_settings() -> Settings:
    return Settings()
