"""Environment settings of the whole service, read once at start-up (CONTRACT.md names them).

A wrong value stops start-up with a message that names the variable; `config/` holds data,
this module holds settings, so "config" means one thing.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = ROOT / "config"


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, populate_by_name=True
    )

    database_url: str = Field("sqlite:///./typhoon.db", validation_alias="TYPHOON_DATABASE_URL")
    redis_url: str | None = Field(None, validation_alias="TYPHOON_REDIS_URL")
    public_url: str = Field("http://127.0.0.1:8000", validation_alias="TYPHOON_PUBLIC_URL")
    config_dir: Path = Field(DEFAULT_CONFIG_DIR, validation_alias="TYPHOON_CONFIG_DIR")
    # Files the service keeps (field photos under photos/); relative to the working directory.
    data_dir: Path = Field(Path("var"), validation_alias="TYPHOON_DATA_DIR")
    log_level: str = Field("INFO", validation_alias="TYPHOON_LOG_LEVEL")
    log_format: str = Field("json", validation_alias="TYPHOON_LOG_FORMAT")

    twilio_account_sid: str | None = Field(None, validation_alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, validation_alias="TWILIO_AUTH_TOKEN")
    twilio_from_number: str | None = Field(None, validation_alias="TWILIO_FROM_NUMBER")
    twilio_messaging_service_sid: str | None = Field(
        None, validation_alias="TWILIO_MESSAGING_SERVICE_SID"
    )
    twilio_api_base_url: str | None = Field(None, validation_alias="TWILIO_API_BASE_URL")

    sms_rate: float = Field(100.0, gt=0, validation_alias="TYPHOON_SMS_RATE")
    # Dispatch workers (alerts.dispatch): sends in flight per worker; how long a claimed
    # message may stay `sending` before the reconciler asks the provider and re-queues it;
    # how long a Redis queue entry stays idle before another worker takes it over, and how
    # many deliveries make it poison.
    worker_concurrency: int = Field(
        300, ge=1, le=5000, validation_alias="TYPHOON_WORKER_CONCURRENCY"
    )
    claim_timeout: float = Field(120.0, gt=0, validation_alias="TYPHOON_CLAIM_TIMEOUT")
    queue_min_idle: float = Field(30.0, gt=0, validation_alias="TYPHOON_QUEUE_MIN_IDLE")
    queue_max_deliveries: int = Field(5, ge=1, validation_alias="TYPHOON_QUEUE_MAX_DELIVERIES")
    # Prefix of every Redis key and channel (dispatch stream, event channel, scheduler lock),
    # so two deployments (or two test runs) can share one Redis without seeing each other.
    redis_prefix: str = Field(
        "typhoon",
        min_length=1,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        validation_alias="TYPHOON_REDIS_PREFIX",
    )
    sms_validity_seconds: int | None = Field(
        None, ge=1, le=36000, validation_alias="TYPHOON_SMS_VALIDITY_SECONDS"
    )
    approval_threshold: int = Field(1000, ge=0, validation_alias="TYPHOON_APPROVAL_THRESHOLD")
    # Broadcast preview: SMS price per segment, its currency, and the longest a broadcast may
    # take at TYPHOON_SMS_RATE before the operator is warned (Twilio queues ~10 h per sender).
    sms_price: float = Field(0.05, ge=0, validation_alias="TYPHOON_SMS_PRICE")
    sms_currency: str = Field(
        "USD", min_length=3, max_length=3, validation_alias="TYPHOON_SMS_CURRENCY"
    )
    sms_max_eta: float = Field(36000.0, gt=0, validation_alias="TYPHOON_SMS_MAX_ETA")
    # Hosts besides the browsers' push services that push subscriptions may point at
    # (comma-separated; e.g. a local test push service "127.0.0.1").
    push_endpoint_hosts: str = Field("", validation_alias="TYPHOON_PUSH_ENDPOINT_HOSTS")

    # HTTP requests one API process works on at once; the next is answered 503 with
    # Retry-After at once (websockets and health probes not counted; 0: no limit).
    max_requests_in_progress: int = Field(
        64, ge=0, validation_alias="TYPHOON_MAX_REQUESTS_IN_PROGRESS"
    )

    # Rate limits (shared by the API processes through Redis when there is one; 0: none):
    # field reports and photos per field user per minute
    # (the field form retries a 429 later); webhook calls refused for a missing or wrong
    # signature per client address per minute, after which every webhook call from that
    # address is a 429 until the minute has passed (Twilio's signed calls are never counted).
    field_rate_limit: int = Field(120, ge=0, validation_alias="TYPHOON_FIELD_RATE_LIMIT")
    webhook_refusal_limit: int = Field(30, ge=0, validation_alias="TYPHOON_WEBHOOK_REFUSAL_LIMIT")
    # The public CAP output (Atom feed, our alerts' list and XML; no token): requests per
    # client address per minute, across the three (a feed reader polls far less often).
    cap_feed_rate_limit: int = Field(120, ge=0, validation_alias="TYPHOON_CAP_FEED_RATE_LIMIT")

    vapid_private_key: str | None = Field(None, validation_alias="VAPID_PRIVATE_KEY")
    vapid_public_key: str | None = Field(None, validation_alias="VAPID_PUBLIC_KEY")
    vapid_subject: str = Field(
        "mailto:duty-officer@hengqin.example", validation_alias="VAPID_SUBJECT"
    )

    # Live stream: how many unsent events one websocket client may hold before it is
    # dropped (it reconnects with ?since=N), and how often we send an application ping.
    ws_queue_size: int = Field(1000, ge=10, validation_alias="TYPHOON_WS_QUEUE_SIZE")
    ws_ping_seconds: float = Field(15.0, gt=0, validation_alias="TYPHOON_WS_PING_SECONDS")

    # Dashboard map: our own zones only unless a tile server is set (the command post may
    # run its own; nothing is fetched from the internet by default). {z}/{x}/{y} template.
    map_tile_url: str | None = Field(None, validation_alias="TYPHOON_MAP_TILE_URL")
    map_tile_attribution: str = Field("", validation_alias="TYPHOON_MAP_TILE_ATTRIBUTION")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// SQLAlchemy URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("public_url", "twilio_api_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("map_tile_url")
    @classmethod
    def _tile_template(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://", "/")):
            raise ValueError("must be an http(s):// URL or a path on this server")
        if not all(part in value for part in ("{z}", "{x}", "{y}")):
            raise ValueError("must contain {z}, {x} and {y}")
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in ("json", "text"):
            raise ValueError("must be 'json' or 'text'")
        return value

    @model_validator(mode="after")
    def _twilio_complete(self) -> Settings:
        if bool(self.twilio_account_sid) != bool(self.twilio_auth_token):
            missing = "TWILIO_AUTH_TOKEN" if self.twilio_account_sid else "TWILIO_ACCOUNT_SID"
            raise ValueError(f"{missing} must be set together with the other Twilio credential")
        if self.twilio_account_sid and not (
            self.twilio_from_number or self.twilio_messaging_service_sid
        ):
            raise ValueError(
                "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID is needed to send with Twilio"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    def redis_key(self, name: str) -> str:
        """The one place Redis key names are made: `{TYPHOON_REDIS_PREFIX}:{name}`."""
        return f"{self.redis_prefix}:{name}"

    @property
    def dispatch_namespace(self) -> str:
        return self.redis_key("dispatch")


def load_settings(**overrides) -> Settings:
    """Read the environment (plus explicit overrides); raise SettingsError naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = err["loc"][0] if err["loc"] else None
            name = _env_name(str(field)) if field else "settings"
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


def _env_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field
