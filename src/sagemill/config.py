"""One frozen Settings object, built once from the command line and environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sagemill.aws.gateway import DEFAULT_MAX_BODY_BYTES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4600
DEFAULT_DATA_DIR = Path(".sagemill")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the composition root needs; `database_url` None means SQLite in the data dir."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    auth: str = "dev"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_clock_skew_seconds: int = 900
    object_store_url: str | None = None
    """None: objects on disk under data_dir/objects; `s3://bucket/prefix`: an external S3-compatible store."""
    s3_virtual_host_suffixes: tuple[str, ...] = ("localhost",)
    """Hosts under which `<bucket>.<suffix>` addresses a bucket (virtual-hosted-style S3)."""

    pip_index_url: str | None = None
    """Where script-mode jobs install requirements.txt (an air-gapped site's mirror); None: pip's default."""

    metric_retention_days: float = field(
        default_factory=lambda: float(os.environ.get("SAGEMILL_METRIC_RETENTION_DAYS", "15"))
    )
    """How long CloudWatch metric data points are kept (at 1-second resolution); alarm history: 14 days."""
    alarm_evaluation_seconds: float = field(
        default_factory=lambda: float(os.environ.get("SAGEMILL_ALARM_EVALUATION_SECONDS", "10"))
    )
    """How often every alarm is evaluated (CloudWatch: at least every 10 s for high-resolution alarms)."""

    public_url: str | None = field(default_factory=lambda: os.environ.get("SAGEMILL_PUBLIC_URL") or None)
    """Base URL endpoints reach this server at (SNS SubscribeURL/UnsubscribeURL); None: http://host:port."""
    smtp_url: str | None = field(default_factory=lambda: os.environ.get("SAGEMILL_SMTP_URL") or None)
    """SNS email: `smtp[s]://[user:password@]host[:port]?from=addr[&starttls=true]`; None: no mail."""
    sns_max_attempts: int = field(
        default_factory=lambda: int(os.environ.get("SAGEMILL_SNS_MAX_ATTEMPTS", "4"))
    )
    """Tries per SNS delivery before it is recorded Failed (back-off 1 s, 2 s, 4 s … between them)."""
    sns_retry_base_seconds: float = field(
        default_factory=lambda: float(os.environ.get("SAGEMILL_SNS_RETRY_BASE_SECONDS", "1"))
    )
    """The first SNS retry's delay in seconds; each later one doubles it (at most 5 minutes)."""
    sns_http_allowed_networks: str | None = field(
        default_factory=lambda: os.environ.get("SAGEMILL_SNS_HTTP_ALLOWED_NETWORKS") or None
    )
    """Comma-separated CIDRs HTTP(S) deliveries may reach (only those); None: all but the default refusals."""
    sns_http_denied_networks: str | None = field(
        default_factory=lambda: os.environ.get("SAGEMILL_SNS_HTTP_DENIED_NETWORKS") or None
    )
    """Comma-separated CIDRs HTTP(S) deliveries may never reach, on top of the defaults (see sns_egress)."""

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def job_env(self) -> dict[str, str]:
        """Platform settings handed to training jobs: the pip mirror and the shared venv cache, no secrets."""
        env = {"SAGEMILL_VENV_CACHE": str((self.data_dir / "venvs").resolve())}
        index = self.pip_index_url or os.environ.get("SAGEMILL_PIP_INDEX_URL")
        if index:
            env["SAGEMILL_PIP_INDEX_URL"] = index
        return env

    @property
    def resolved_database_url(self) -> str:
        from sagemill.store.sql.engine import default_url

        return self.database_url or default_url(self.data_dir)


def env_default(name: str, fallback: str | None) -> str | None:
    return os.environ.get(name, fallback)
