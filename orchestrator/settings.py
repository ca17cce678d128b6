"""Service settings, read from ``ORCH_*`` environment variables (or a ``.env`` file).

There are no default secrets: the engine's ARI/AMI credentials are generated
when the engine instance is set up and read from its ``credentials.json``; the
first admin token comes from ``ORCH_ADMIN_TOKEN`` or is generated and printed once.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WEAK_SECRETS = {"", "asterisk", "secret", "password", "changeme", "admin", "1234"}
#: The engines a kit exists for (orchestrator.engines.load_kit).
ENGINES = ("asterisk", "freeswitch", "fake")
#: Flat names of the Asterisk settings before they became the ``ORCH_ASTERISK__`` group.
RENAMED = {
    f"ORCH_{old}": f"ORCH_ASTERISK__{new}"
    for old, new in {
        "ASTERISK_ROOT": "ROOT",
        "ASTERISK_INSTANCE": "INSTANCE",
        "ASTERISK_CREDENTIALS": "CREDENTIALS",
        "ASTERISK_CONFIG_DIR": "CONFIG_DIR",
        "ASTERISK_JOURNAL_DIR": "JOURNAL_DIR",
        **{f"ARI_{n}": f"ARI_{n}" for n in ("URL", "USER", "PASSWORD", "APP")},
        **{f"AMI_{n}": f"AMI_{n}" for n in ("HOST", "PORT", "USER", "PASSWORD")},
    }.items()
}


class AsteriskSettings(BaseModel):
    """``ORCH_ASTERISK__*``: the Asterisk instance, where it is and how to reach it.

    Empty credentials are filled from the instance's ``credentials.json`` (written
    when ``orchestrator engine install`` sets the instance up), e.g.::

        ORCH_ENGINE=asterisk ORCH_ASTERISK__INSTANCE=lab orchestrator run
        ORCH_ASTERISK__ARI_URL=http://pbx:8088/ari ORCH_ASTERISK__ARI_USER=... orchestrator run
    """

    root: Path = Path("/var/cache/orchestrator/asterisk-root")
    instance: str = "default"
    # The instance's credentials.json (default: under root, for instance).
    credentials: Path | None = None
    ari_url: str = ""
    ari_user: str = ""
    ari_password: str = ""
    ari_app: str = "orchestrator"
    ami_host: str = "127.0.0.1"
    ami_port: int = 0
    ami_user: str = ""
    ami_password: str = ""
    # Where generated tenant configuration is written; the engine reads it from there.
    config_dir: Path | None = None
    # Where the engine journals its channels' answers and hang-ups (read back after a gap).
    journal_dir: Path | None = None

    def credentials_path(self) -> Path:
        return self.credentials or (
            self.root / "var/lib/orchestrator" / self.instance / "credentials.json"
        )

    def read_credentials(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.credentials_path().read_text())
        except (OSError, ValueError):
            return None
        return data

    def fill_from_instance(self) -> dict[str, Any] | None:
        """Fill what is not set from the instance's credentials; return them."""
        creds = self.read_credentials()
        if creds:
            self.ari_url = self.ari_url or f"http://127.0.0.1:{creds['http_port']}/ari"
            self.ari_user = self.ari_user or creds["ari_user"]
            self.ari_password = self.ari_password or creds["ari_password"]
            self.ami_port = self.ami_port or int(creds["ami_port"])
            self.ami_user = self.ami_user or creds["ami_user"]
            self.ami_password = self.ami_password or creds["ami_password"]
            if self.config_dir is None and creds.get("config_dir"):
                self.config_dir = Path(creds["config_dir"])
            if self.journal_dir is None and creds.get("journal_dir"):
                self.journal_dir = Path(creds["journal_dir"])
        return creds

    def refuse_weak_secrets(self) -> None:
        for name in ("ari_password", "ami_password"):
            if getattr(self, name).lower() in WEAK_SECRETS - {""}:
                raise ValueError(
                    f"ORCH_ASTERISK__{name.upper()} is a well-known default; refusing it"
                )


class FreeSwitchSettings(BaseModel):
    """``ORCH_FREESWITCH__*``: the FreeSWITCH (1.10) the service drives over ESL.

    A remote one is named by its event socket, e.g.::

        ORCH_ENGINE=freeswitch ORCH_FREESWITCH__ESL_HOST=10.0.0.5 \\
            ORCH_FREESWITCH__ESL_PASSWORD=... ORCH_FREESWITCH__XML_CURL_SECRET=... orchestrator run

    With no ``esl_password`` the local instance's (``orchestrator engine configure``
    generates it, with the xml_curl secret, in ``<root>/<instance>/credentials.json``)
    is used. docs/freeswitch.md says which files the engine needs.
    """

    esl_host: str = "127.0.0.1"
    esl_port: int = Field(default=8021, ge=1, le=65535)
    esl_password: str = ""
    # The local instance: its configuration, logs and databases under root/instance.
    root: Path = Path("/var/lib/orchestrator/freeswitch")
    instance: str = Field(default="default", pattern=r"^[a-z][a-z0-9_-]{0,30}$")
    # The `freeswitch` executable ("" : looked up on PATH and in /usr/local/freeswitch/bin).
    binary: str = ""
    # The one SIP profile (explicit addresses: no DNS, no STUN).
    sip_profile: str = Field(default="orchestrator", pattern=r"^[a-z][a-z0-9_-]{0,30}$")
    sip_ip: str = "127.0.0.1"
    sip_port: int = Field(default=5080, ge=1, le=65535)
    rtp_start: int = Field(default=16384, ge=1024, le=65535)
    rtp_end: int = Field(default=16999, ge=1024, le=65535)
    # Addresses (CIDR) of the SIP trunks that may call in without digest authentication.
    trunk_cidrs: list[str] = Field(default_factory=list)
    conference_profile: str = Field(default="default", pattern=r"^[a-z][a-z0-9_-]{0,30}$")
    recordings_dir: Path | None = None
    # The path secret of the xml_curl routes FreeSWITCH fetches users and dialplan from.
    xml_curl_secret: str = ""
    # The orchestrator's address as FreeSWITCH reaches it (default: 127.0.0.1:<api port>,
    # or 127.0.0.1:<xml_curl_port> when that is set).
    xml_curl_url: str = ""
    # A second port for the lookups (0: none). Optional: the API's port answers them as
    # fast, ahead of uvicorn (orchestrator/front_door.py); for lookups on an address of
    # their own.
    xml_curl_host: str = "127.0.0.1"
    xml_curl_port: int = Field(default=0, ge=0, le=65535)
    # How long FreeSWITCH waits for an xml_curl answer before its static (denying) files.
    xml_curl_timeout_s: int = Field(default=3, ge=1, le=30)
    credentials: Path | None = None
    # Whether the password was given (a remote FreeSWITCH), not read from the instance.
    _password_given: bool = PrivateAttr(default=False)

    def model_post_init(self, context: Any, /) -> None:
        self._password_given = bool(self.esl_password)

    @property
    def remote(self) -> bool:
        """A FreeSWITCH elsewhere: another host, or a password given, not generated here."""
        return self.esl_host not in ("127.0.0.1", "localhost", "::1") or self._password_given

    @property
    def instance_dir(self) -> Path:
        return self.root / self.instance

    def credentials_path(self) -> Path:
        return self.credentials or self.instance_dir / "credentials.json"

    def read_credentials(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.credentials_path().read_text())
        except (OSError, ValueError):
            return None
        return data

    def fill_from_instance(self) -> dict[str, Any] | None:
        """Fill the password and secret that are not set from the local instance's."""
        creds = self.read_credentials()
        if creds:
            self.esl_password = self.esl_password or str(creds.get("esl_password", ""))
            self.xml_curl_secret = self.xml_curl_secret or str(creds.get("xml_curl_secret", ""))
            if "esl_port" in creds and "esl_port" not in self.model_fields_set:
                self.esl_port = int(creds["esl_port"])
        return creds

    def refuse_weak_secrets(self) -> None:
        if self.esl_password.lower() in (WEAK_SECRETS - {""}) | {"cluecon"}:
            raise ValueError("ORCH_FREESWITCH__ESL_PASSWORD is a well-known default; refusing it")
        if self.xml_curl_secret and len(self.xml_curl_secret) < 16:
            raise ValueError("ORCH_FREESWITCH__XML_CURL_SECRET must be at least 16 characters")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORCH_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    state_dir: Path = Field(default=Path("var"), description="where the service keeps its files")
    database_url: str = Field(default="", description="SQLAlchemy URL; SQLite file by default")
    admin_token: str = Field(default="", description="first system-admin API token")

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Which engine the service drives (orchestrator.engines: one kit per engine); only
    # that engine's settings group below is read.
    engine: str = "asterisk"
    # Who wrote an engine configuration file: the service leaves files with another
    # identity (or none) alone. Default: derived from the database, so the nodes of one
    # service share it and two services with their own stores never do.
    service_id: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,64}$")
    asterisk: AsteriskSettings = Field(default_factory=AsteriskSettings)
    freeswitch: FreeSwitchSettings = Field(default_factory=FreeSwitchSettings)
    # `orchestrator run` stops the engine it started only once no channel is up, or
    # this long after Ctrl-C/SIGTERM (a second one stops it at once).
    engine_stop_grace_s: float = Field(default=60.0, ge=0, le=24 * 3600)
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
    # Voicemail to e-mail (orchestrator/pbx/voicemail/mail.py): off while smtp_host is
    # empty. STARTTLS when smtp_starttls; login when smtp_username is set.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "voicemail@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Dead phones and trunks (docs/provisioning.md#phones-that-vanish): a call whose
    # phone sends no RTP for this long (longer while it holds the call) is hung up; SIP
    # session timers and OPTIONS qualify catch what RTP cannot. Seconds.
    sip_rtp_timeout_s: int = Field(default=60, ge=2, le=3600)
    sip_rtp_timeout_hold_s: int = Field(default=120, ge=2, le=3600)
    # RFC 4028 allows no less than 90 s.
    sip_session_expires_s: int = Field(default=180, ge=90, le=86400)
    # 0: never qualify.
    sip_qualify_s: int = Field(default=60, ge=0, le=86400)
    # How long a call to an extension rings before the caller gets "no answer" (the
    # dialplan's Dial/bridge timeout; docs/provisioning.md#ring-timeout). Seconds.
    ring_timeout_s: int = Field(default=30, ge=5, le=600)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if value in ENGINES:
            return value
        raise ValueError(f"ORCH_ENGINE={value!r} is no engine; choose one of {', '.join(ENGINES)}")

    @model_validator(mode="before")
    @classmethod
    def _refuse_renamed(cls, data: Any) -> Any:
        # A renamed variable silently ignored would point the service at another engine.
        old = sorted(name for name in RENAMED if name in os.environ)
        if old:
            raise ValueError(
                "renamed settings: " + ", ".join(f"{o} is now {RENAMED[o]}" for o in old)
            )
        return data

    @model_validator(mode="after")
    def _fill_from_instance(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.state_dir / 'orchestrator.db').resolve()}"
        if not self.service_id:
            self.service_id = hashlib.sha256(self.database_url.encode()).hexdigest()[:12]
        # Only the chosen engine's instance is read: a service on another engine must
        # not take its credentials, configuration folder or secret.
        if self.engine == "asterisk":
            creds = self.asterisk.fill_from_instance()
            if creds:
                self.realtime_secret = self.realtime_secret or creds.get("realtime_secret", "")
            self.asterisk.refuse_weak_secrets()
        if self.engine == "freeswitch":
            self.freeswitch.fill_from_instance()
            self.freeswitch.refuse_weak_secrets()
        return self

    def credentials(self) -> dict[str, Any] | None:
        """The engine instance's credentials.json (None for the FakeEngine)."""
        if self.engine == "freeswitch":
            return self.freeswitch.read_credentials()
        return self.asterisk.read_credentials() if self.engine == "asterisk" else None


@lru_cache
def get_settings() -> Settings:
    return Settings()
