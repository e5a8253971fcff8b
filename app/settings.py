"""Settings from the environment: one build runs on a laptop's SQLite or a server's PostgreSQL."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DELPHI_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{ROOT / 'var' / 'delphi.sqlite3'}",
        validation_alias="DATABASE_URL",
    )
    secret_key: str = DEV_SECRET
    environment: str = "development"
    base_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 1_000_000
    max_comment_chars: int = 5_000
    sqlite_busy_timeout_ms: int = 30_000
    # Requests admitted at once per process; the connection pool is sized to match.
    max_inflight_requests: int = 16
    # Outgoing mail; without smtp_host messages are held in the outbox and shown in the console.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls, ssl or none
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_sender: str = "Delphi study <delphi@localhost>"
    # Seconds between the server's own checks for rounds past their deadline (0: off).
    tick_seconds: float = 30

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> "Settings":
        if self.environment == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("DELPHI_SECRET_KEY must be set to a long random value in production.")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()


def normalise_database_url(url: str) -> str:
    """Accept plain postgres:// URLs and pick psycopg 3, which is the driver we ship."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
