"""Settings from the environment: one build runs on a laptop's SQLite or a server's PostgreSQL."""

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
MIN_SECRET_CHARS = 32
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DELPHI_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{ROOT / 'var' / 'delphi.sqlite3'}",
        validation_alias=AliasChoices("DELPHI_DATABASE_URL", "DATABASE_URL"),
    )
    secret_key: str = DEV_SECRET
    environment: str = "development"
    base_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 1_000_000
    # Bodies of upload routes (app.middleware.UPLOADS: the console's import): the file, and at the
    # confirm step the same file carried back base64-encoded, so the largest file an import reads
    # is about three quarters of this (app.services.import_limits.max_file_bytes).
    max_upload_bytes: int = Field(default=20_000_000, ge=1_000_000)
    max_comment_chars: int = 5_000
    sqlite_busy_timeout_ms: int = 30_000
    # Requests admitted at once per process; the connection pool is sized to match.
    max_inflight_requests: int = 16
    # Reports (HTML, PDF) and XLSX workbooks made at once, in each process and across the
    # processes on this machine that serve one database; they never take the requests' slots.
    # At most 4: a heavy request looking for its copy and one making it each hold a connection
    # beyond the pool's max_inflight_requests (app.db: 2 × heavy_slots more).
    heavy_slots: int = Field(default=2, ge=1, le=4)
    # How long a report or workbook request waits in line for a slot before a 429 (Retry-After).
    heavy_wait_seconds: float = Field(default=30, ge=0)
    # A render still running after this is stopped, its process with it, and the request gets a
    # 503: a hung render must not hold its slot forever.
    heavy_render_timeout_seconds: float = Field(default=600, gt=0)
    # Finished reports and workbooks, kept until their study changes, and the slots' lock files;
    # unset: `renders/` beside the SQLite file, or var/renders (app.heavy.directory).
    renders_dir: Path | None = None
    # Outgoing mail; without smtp_host messages are held in the outbox and shown in the console.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls, ssl or none
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_sender: str = "Delphi study <delphi@localhost>"
    # Seconds between the server's own checks for rounds past their deadline (0: off).
    tick_seconds: float = 30
    # Structured (JSON lines) log level: DEBUG also logs the health probes' requests.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; a request's address is then the right-most one in
    # X-Forwarded-For that none of them is. Empty: no proxy is believed.
    trusted_proxies: str = "127.0.0.1,::1"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def declared_production(self) -> bool:
        return self.environment.strip().lower() == "production"

    @property
    def is_production(self) -> bool:
        """Declared (DELPHI_ENVIRONMENT=production), or implied by links to a public https site."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        public = host not in LOCAL_HOSTS and not host.endswith(".localhost")
        return self.declared_production or (parts.scheme == "https" and public)

    @property
    def proxy_networks(self) -> list[str]:
        """The trusted proxies as networks (10.0.0.5 as 10.0.0.5/32), as uvicorn reads them."""
        return [n for n in map(_network, self.trusted_proxies.split(",")) if n is not None]

    def proxies_refusal(self) -> str | None:
        """Why DELPHI_TRUSTED_PROXIES cannot be used, in one line; None when it can."""
        for entry in filter(None, (part.strip() for part in self.trusted_proxies.split(","))):
            if entry == "*":
                return (
                    "Refusing to start: DELPHI_TRUSTED_PROXIES=* would let every client write "
                    "its own address into X-Forwarded-For and escape the sign-in limits; list "
                    "your reverse proxy's addresses instead, e.g. 127.0.0.1."
                )
            if _network(entry) is None:
                return (
                    f"Refusing to start: DELPHI_TRUSTED_PROXIES names {entry!r}, which is neither "
                    "an IP address nor a network such as 172.29.86.0/24."
                )
        return None

    def refusal(self) -> str | None:
        """Why these settings must not serve real panelists, in one line; None when they may."""
        proxies = self.proxies_refusal()
        if proxies is not None:
            return proxies
        if not self.is_production:
            return None
        why = (
            "DELPHI_ENVIRONMENT=production"
            if self.declared_production
            else f"DELPHI_BASE_URL is {self.base_url}"
        )
        hint = (
            "set DELPHI_SECRET_KEY to a long random value, e.g. the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`."
        )
        if self.secret_key == DEV_SECRET:
            return f"Refusing to start in production ({why}) with the development secret: {hint}"
        if len(self.secret_key) < MIN_SECRET_CHARS:
            return (
                f"Refusing to start in production ({why}): DELPHI_SECRET_KEY is shorter than "
                f"{MIN_SECRET_CHARS} characters; {hint}"
            )
        return None


def _network(entry: str) -> str | None:
    """An address or a network in one spelling; None when it is neither (or blank)."""
    try:
        return str(ipaddress.ip_network(entry.strip(), strict=False))
    except ValueError:
        return None


class RefusedToStart(SystemExit):
    """Unsafe settings: the process ends with one line naming the variable to set, no traceback."""


@lru_cache
def get_settings() -> Settings:
    settings = Settings()
    refusal = settings.refusal()
    if refusal is not None:
        raise RefusedToStart(refusal)
    return settings


def normalise_database_url(url: str) -> str:
    """Accept plain postgres:// URLs and pick psycopg 3, which is the driver we ship."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
