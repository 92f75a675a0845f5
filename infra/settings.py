"""The one reader of environment variables (and of a `.env` file)."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Settings(BaseSettings):
    """Every knob of the service. Field names are the upper-cased variable names."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    perpetua_env: Literal["dev", "prod"] = "prod"
    database_url: str | None = None
    # Where the embedded PostgreSQL keeps its cluster and dev keys are generated.
    perpetua_data_dir: Path = Path(".perpetua")

    write_api_host: str = "127.0.0.1"
    write_api_port: int = 8000
    read_api_host: str = "127.0.0.1"
    read_api_port: int = 8001

    jwt_private_key_file: Path | None = None
    jwt_public_keys_dir: Path | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "perpetua"
    jwt_audience: str = "perpetua-api"
    access_token_ttl_seconds: int = Field(default=15 * 60, gt=0)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)

    # Accepted `aud` values of Google ID tokens; none: Google sign-in answers 503.
    google_client_ids: Annotated[list[str], NoDecode] = []
    google_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"

    cors_origins: Annotated[list[str], NoDecode] = []
    # Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For is believed when
    # finding a client's address for rate limits; none: the direct peer is the client.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # Largest request body either app accepts (413 PAYLOAD_TOO_LARGE above it). Routes
    # taking uploads (voice notes) raise it for themselves with the route's `max_body_size`.
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=0)
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    # Per client IP on /auth/*: sign-in is where passwords-by-another-name get guessed.
    auth_requests_per_minute: int = Field(default=10, gt=0)

    read_your_writes_wait_seconds: float = Field(default=2.0, ge=0, le=30)
    # A projection whose tracking lags the store head by more than this is "not ready".
    projection_stale_seconds: float = Field(default=60.0, gt=0)
    # The read API keeps answered task pages in memory (per process, this many; 0: none) while
    # no newer projection position is known, and never longer than the max age: the bound on
    # how stale an answer can be when a projection's NOTIFY is missed.
    read_cache_size: int = Field(default=256, ge=0)
    read_cache_max_age_seconds: float = Field(default=1.0, ge=0, le=60)

    # How often the scheduler looks for due reminders and template occurrences. Reminders
    # must fire within 60 s of their time, so it may not wait longer than 30 s.
    scheduler_tick_seconds: float = Field(default=5.0, gt=0, le=30)
    # Where `perpetua scheduler` serves its Prometheus metrics; port 0: not at all.
    scheduler_metrics_host: str = "127.0.0.1"
    scheduler_metrics_port: int = Field(default=8002, ge=0, le=65535)

    tombstone_window_days: int = Field(default=7, gt=0)
    idempotency_retention_hours: int = Field(default=24, gt=0)
    due_date_horizon_days: int = Field(default=30, gt=0)
    active_tasks_free: int = Field(default=50, ge=0)
    subtasks_per_task_free: int = Field(default=4, ge=0)
    subtasks_per_task_pro: int = Field(default=10, ge=0)
    notes_per_task_free: int = Field(default=10, ge=0)
    notes_per_task_pro: int = Field(default=50, ge=0)
    reminders_per_task_free: int = Field(default=3, ge=0)
    reminders_per_task_pro: int = Field(default=10, ge=0)
    description_length_free: int = Field(default=1000, ge=0)
    description_length_pro: int = Field(default=2000, ge=0)

    # Credits (SPEC section 6): daily allowances expire at UTC midnight; subscription credits
    # come per billing period, unused ones carried over up to the cap.
    daily_credits_free: int = Field(default=10, ge=0)
    daily_credits_pro: int = Field(default=20, ge=0)
    subscription_credits: int = Field(default=100, ge=0)
    subscription_carry_over_cap: int = Field(default=50, ge=0)
    kickstart_credits: int = Field(default=5, ge=0)
    # A spend that leaves fewer credits than this posts a (daily at most) notification.
    low_credits_threshold: int = Field(default=2, ge=0)

    # HMAC-SHA256 key of POST /webhooks/billing; unset: the webhook answers 503.
    billing_webhook_secret: SecretStr | None = None
    # Per client IP on /webhooks/billing: a flood of bad signatures costs us an HMAC each.
    billing_requests_per_minute: int = Field(default=120, gt=0)

    # AI (SPEC section 7): providers through their SDKs, at any compatible base URL. An unset
    # key makes the feature answer 503 AI_NOT_CONFIGURED and charge nothing.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None  # None: the SDK's default (api.openai.com)
    openai_model: str = "gpt-4o-mini"
    deepgram_api_key: SecretStr | None = None
    deepgram_base_url: str = "https://api.deepgram.com"
    deepgram_model: str = "nova-3"
    # Per provider call; the SDKs' own retries (of connection errors, 429 and 5xx) count
    # inside one request, so a user waits at most about timeout x (retries + 1).
    ai_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    ai_max_retries: int = Field(default=1, ge=0, le=5)
    ai_chat_cost: int = Field(default=1, ge=0)
    ai_subtasks_cost: int = Field(default=1, ge=0)
    ai_transcription_cost_per_minute: int = Field(default=1, ge=0)
    ai_requests_per_minute: int = Field(default=20, gt=0)
    ai_turns_per_conversation: int = Field(default=10, gt=0)
    max_audio_seconds: int = Field(default=300, gt=0)
    # 300 s of 16-bit 48 kHz stereo WAV is 55 MB; uploads above this are 413.
    max_audio_bytes: int = Field(default=64 * 1024 * 1024, gt=0)

    @field_validator("cors_origins", "google_client_ids", "trusted_proxies", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks_only(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # ValueError names the bad entry
        return value

    @property
    def is_dev(self) -> bool:
        return self.perpetua_env == "dev"

    @property
    def keys_dir(self) -> Path:
        return self.perpetua_data_dir / "keys"

    @property
    def embedded_pgdata_dir(self) -> Path:
        return self.perpetua_data_dir / "pgdata"

    @cached_property
    def tier_limits(self) -> dict[str, dict[str, int | None]]:
        """Limits per tier; None means unlimited."""
        return {
            "free": {
                "active_tasks": self.active_tasks_free,
                "subtasks_per_task": self.subtasks_per_task_free,
                "notes_per_task": self.notes_per_task_free,
                "reminders_per_task": self.reminders_per_task_free,
                "description_length": self.description_length_free,
                "daily_credits": self.daily_credits_free,
            },
            "pro": {
                "active_tasks": None,
                "subtasks_per_task": self.subtasks_per_task_pro,
                "notes_per_task": self.notes_per_task_pro,
                "reminders_per_task": self.reminders_per_task_pro,
                "description_length": self.description_length_pro,
                "daily_credits": self.daily_credits_pro,
            },
        }

    def check_safe_to_serve(self, host: str) -> None:
        """Dev mode enables unsafe conveniences, so it may only listen on loopback."""
        if self.is_dev and host not in LOOPBACK_HOSTS:
            msg = f"PERPETUA_ENV=dev refuses to listen on non-loopback address {host!r}"
            raise RuntimeError(msg)
