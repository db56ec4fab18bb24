"""Environment settings of the whole service, read once at start-up (CONTRACT.md names them).

A wrong value stops start-up with a message that names the variable; `config/` holds data,
this module holds settings, so "config" means one thing.

Secrets (the Twilio auth token, the VAPID private key, the database password, the keys of the
audit seal and of stored secrets, the metrics token) are `SecretStr`: never in a repr or a log
line. Each may instead be read from a file named by `<VARIABLE>_FILE` (Docker secrets mount
them under /run/secrets/).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = ROOT / "config"


log = logging.getLogger(__name__)

# The settings that may come from a file, `<NAME>_FILE` (Docker secrets).
SECRET_VARIABLES = (
    "TWILIO_AUTH_TOKEN",
    "VAPID_PRIVATE_KEY",
    "TYPHOON_DATABASE_PASSWORD",
    "TYPHOON_SECRET_KEY",
    "TYPHOON_AUDIT_KEY",
    "TYPHOON_METRICS_TOKEN",
    "TYPHOON_REDIS_PASSWORD",
)


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the environment variable."""


def _read_secret_files(values: dict[str, Any]) -> dict[str, Any]:
    """`NAME_FILE` (in the overrides or the environment) → the file's text as NAME; an empty
    file leaves NAME unset."""
    for name in SECRET_VARIABLES:
        file_var = f"{name}_FILE"
        path = values.get(file_var) or os.environ.get(file_var)
        if not path:
            continue
        if values.get(name) or os.environ.get(name):
            raise ValueError(f"{name} and {file_var} are both set: use one")
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{file_var}: cannot read {path}: {exc.strerror}") from None
        if text:  # an empty file is "not set": compose mounts the optional ones empty
            values[name] = text
    return values


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _optional_url(value: str | None, schemes: tuple[str, ...], problem: str) -> str | None:
    """An optional URL setting: None when unset or empty, else it starts with one of `schemes`
    (ValueError `problem` if not)."""
    if not value:
        return None
    if not value.startswith(schemes):
        raise ValueError(problem)
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, populate_by_name=True
    )

    database_url: str = Field("sqlite:///./typhoon.db", validation_alias="TYPHOON_DATABASE_URL")
    # The password of the URL's user, kept out of the URL (and so out of every repr).
    database_password: SecretStr | None = Field(None, validation_alias="TYPHOON_DATABASE_PASSWORD")
    # `typhoon db upgrade`: seconds a migration statement waits for a table lock before the
    # attempt is rolled back and tried again (reads never queue long behind an ALTER); and
    # the PostgreSQL role the processes run as, granted what they need and no more (no UPDATE
    # or DELETE of the audit log); unset: no grants made.
    migration_lock_timeout: float = Field(
        3.0, gt=0, le=600, validation_alias="TYPHOON_MIGRATION_LOCK_TIMEOUT"
    )
    database_app_role: str | None = Field(
        None, pattern=r"^[a-z_][a-z0-9_]{0,62}$", validation_alias="TYPHOON_DATABASE_APP_ROLE"
    )
    # PostgreSQL connections of one process: its pool, and how many more it may open at a
    # peak; unset, by the process's role (emergency.runtime.POOLS). README "Connection budget".
    db_pool_size: int | None = Field(None, ge=1, le=200, validation_alias="TYPHOON_DB_POOL_SIZE")
    db_max_overflow: int | None = Field(
        None, ge=0, le=200, validation_alias="TYPHOON_DB_MAX_OVERFLOW"
    )
    redis_url: str | None = Field(None, validation_alias="TYPHOON_REDIS_URL")
    # The password of the URL's user (a Redis ACL user: redis://typhoon@redis:6379/0), kept
    # out of the URL as the database's is. Redis is trusted like the database (README).
    redis_password: SecretStr | None = Field(None, validation_alias="TYPHOON_REDIS_PASSWORD")
    public_url: str = Field("http://127.0.0.1:8000", validation_alias="TYPHOON_PUBLIC_URL")
    config_dir: Path = Field(DEFAULT_CONFIG_DIR, validation_alias="TYPHOON_CONFIG_DIR")
    # Files the service keeps (field photos under photos/); relative to the working directory.
    data_dir: Path = Field(Path("var"), validation_alias="TYPHOON_DATA_DIR")
    log_level: str = Field("INFO", validation_alias="TYPHOON_LOG_LEVEL")
    log_format: str = Field("json", validation_alias="TYPHOON_LOG_FORMAT")

    twilio_account_sid: str | None = Field(None, validation_alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(None, validation_alias="TWILIO_AUTH_TOKEN")
    twilio_from_number: str | None = Field(None, validation_alias="TWILIO_FROM_NUMBER")
    twilio_messaging_service_sid: str | None = Field(
        None, validation_alias="TWILIO_MESSAGING_SERVICE_SID"
    )
    twilio_api_base_url: str | None = Field(None, validation_alias="TWILIO_API_BASE_URL")

    sms_rate: float = Field(100.0, gt=0, validation_alias="TYPHOON_SMS_RATE")
    # How many dispatch workers the deployment runs: with Redis unreachable each keeps
    # sending at TYPHOON_SMS_RATE / this (its share), never more, instead of stopping.
    expected_workers: int = Field(2, ge=1, le=1000, validation_alias="TYPHOON_EXPECTED_WORKERS")
    # Dispatch workers (alerts.dispatch): sends in flight per worker; how long a claimed
    # message may stay `sending` before the reconciler asks the provider and re-queues it;
    # how long a Redis queue entry stays idle before another worker takes it over, and how
    # many deliveries make it poison.
    worker_concurrency: int = Field(
        300, ge=1, le=5000, validation_alias="TYPHOON_WORKER_CONCURRENCY"
    )
    claim_timeout: float = Field(120.0, gt=0, validation_alias="TYPHOON_CLAIM_TIMEOUT")
    # A worker holding messages that have not moved on (claimed, sent, stored) for this long
    # is stuck: `typhoon health worker` fails for it (docker restarts it).
    worker_stall_seconds: float = Field(
        60.0, gt=0, le=3600, validation_alias="TYPHOON_WORKER_STALL_SECONDS"
    )
    queue_min_idle: float = Field(30.0, gt=0, validation_alias="TYPHOON_QUEUE_MIN_IDLE")
    queue_max_deliveries: int = Field(5, ge=1, validation_alias="TYPHOON_QUEUE_MAX_DELIVERIES")
    # Prefix of every Redis key and channel (dispatch stream, event channel, scheduler lock),
    # so two test runs can share one Redis without seeing each other. Deployments never share
    # one: Redis is trusted like the database (README "Redis hardening").
    redis_prefix: str = Field(
        "typhoon",
        min_length=1,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        validation_alias="TYPHOON_REDIS_PREFIX",
    )
    # The active scheduler's leader lock lives this long unless renewed (every quarter of
    # it): a standby takes over within about this much after the active one dies.
    scheduler_lock_ttl: float = Field(
        10.0, ge=1, le=300, validation_alias="TYPHOON_SCHEDULER_LOCK_TTL"
    )
    sms_validity_seconds: int | None = Field(
        None, ge=1, le=36000, validation_alias="TYPHOON_SMS_VALIDITY_SECONDS"
    )
    approval_threshold: int = Field(1000, ge=0, validation_alias="TYPHOON_APPROVAL_THRESHOLD")
    # An alarm (a request for help, a critical hazard) nobody acknowledged this long is sent
    # by SMS to the duty leads of config/duty.yaml.
    alarm_escalate_minutes: float = Field(
        5.0, gt=0, le=24 * 60, validation_alias="TYPHOON_ALARM_ESCALATE_MINUTES"
    )
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
    # A request body must keep arriving: this many seconds without a byte (or longer in all
    # than this plus a second per 16 kB) is a 408 and the connection is closed. Requests
    # still sending their body are not counted as in progress.
    body_timeout: float = Field(10.0, gt=0, le=600, validation_alias="TYPHOON_BODY_TIMEOUT")
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or networks, e.g. "10.0.0.5,10.1.0.0/16"); none by default. Given to uvicorn
    # as forwarded_allow_ips (emergency.serving): the client address of every per-address
    # limit comes from there.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias="TYPHOON_TRUSTED_PROXIES"
    )
    # Requests one client address may have in progress at once (after TYPHOON_TRUSTED_PROXIES'
    # X-Forwarded-For); the next is a 429 and its connection is closed (0: no limit).
    max_requests_per_address: int = Field(
        32, ge=0, validation_alias="TYPHOON_MAX_REQUESTS_PER_ADDRESS"
    )

    # Rate limits (shared by the API processes through Redis when there is one; 0: none):
    # field reports and photos per field user per minute
    # (the field form retries a 429 later); webhook calls refused for a missing or wrong
    # signature per client address per minute, after which every refused call from that
    # address is a 429 until the minute has passed (signed calls are never counted nor limited).
    field_rate_limit: int = Field(120, ge=0, validation_alias="TYPHOON_FIELD_RATE_LIMIT")
    # Threads one API process writes field reports in at once; the others wait their turn on
    # the event loop. Every report ends at the audit chain's head (one writer at a time), so
    # more threads only contend for the GIL and PostgreSQL's locks: measured, 2 threads cost
    # 10-15 % less API CPU and ~25 % less PostgreSQL CPU a report than 40 (issue 18).
    field_report_threads: int = Field(
        2, ge=1, le=64, validation_alias="TYPHOON_FIELD_REPORT_THREADS"
    )
    webhook_refusal_limit: int = Field(30, ge=0, validation_alias="TYPHOON_WEBHOOK_REFUSAL_LIMIT")
    # The public CAP output (Atom feed, our alerts' list and XML; no token): requests per
    # client address per minute, across the three (a feed reader polls far less often).
    cap_feed_rate_limit: int = Field(120, ge=0, validation_alias="TYPHOON_CAP_FEED_RATE_LIMIT")
    # The largest CAP document accepted (POST /api/v1/cap and each document of a feed), and
    # how long its checks may take before it is refused (422 cap_too_complex).
    cap_max_bytes: int = Field(
        1024 * 1024, ge=1024, le=16 * 1024 * 1024, validation_alias="TYPHOON_CAP_MAX_BYTES"
    )
    cap_parse_seconds: float = Field(
        10.0, gt=0, le=120, validation_alias="TYPHOON_CAP_PARSE_SECONDS"
    )

    vapid_private_key: SecretStr | None = Field(None, validation_alias="VAPID_PRIVATE_KEY")
    vapid_public_key: str | None = Field(None, validation_alias="VAPID_PUBLIC_KEY")
    vapid_subject: str = Field(
        "mailto:duty-officer@hengqin.example", validation_alias="VAPID_SUBJECT"
    )

    # Live stream: how many unsent events one websocket client may hold before it is
    # dropped (it reconnects with ?since=N), and how often we send an application ping.
    ws_queue_size: int = Field(1000, ge=10, validation_alias="TYPHOON_WS_QUEUE_SIZE")
    ws_ping_seconds: float = Field(15.0, gt=0, validation_alias="TYPHOON_WS_PING_SECONDS")
    # Live websockets one token may hold open in one API process; the next is closed with
    # code 4429 (0: no limit).
    ws_per_token: int = Field(20, ge=0, validation_alias="TYPHOON_WS_PER_TOKEN")

    # Dashboard map: our own zones only unless a tile server is set (the command post may
    # run its own; nothing is fetched from the internet by default). {z}/{x}/{y} template.
    map_tile_url: str | None = Field(None, validation_alias="TYPHOON_MAP_TILE_URL")
    map_tile_attribution: str = Field("", validation_alias="TYPHOON_MAP_TILE_ATTRIBUTION")

    # Keys kept outside the database. The secret key encrypts the secrets the service keeps in
    # its database (a generated VAPID key); unset, one is made once in TYPHOON_DATA_DIR
    # (fine for one host; set it on every process of a deployment). The audit key seals each
    # audit row (HMAC), so a chain rewritten by someone with database access is detected.
    secret_key: SecretStr | None = Field(None, validation_alias="TYPHOON_SECRET_KEY")
    audit_key: SecretStr | None = Field(None, validation_alias="TYPHOON_AUDIT_KEY")
    # The audit anchor: a file outside the database (another volume or host) where the
    # scheduler writes the latest audit row's seq and hash; `typhoon audit verify` finds a
    # database restored from an older backup, or a rewritten chain, against it.
    audit_anchor_file: Path | None = Field(None, validation_alias="TYPHOON_AUDIT_ANCHOR_FILE")

    # Production: /docs, /openapi.json and the details on / (database, bus, SMS mode) only
    # when true; /metrics with TYPHOON_METRICS_TOKEN as a bearer token when that is set.
    public_details: bool = Field(True, validation_alias="TYPHOON_PUBLIC_DETAILS")
    metrics_token: SecretStr | None = Field(None, validation_alias="TYPHOON_METRICS_TOKEN")

    # Retention (days; 0: kept until forgotten): residents' phone numbers in the messages of
    # finished broadcasts (with the dedupe keys and texts of their own), acknowledgement
    # links of liaison notices, field photos, hotline call logs, broadcast progress events.
    retain_message_addresses_days: float = Field(
        30.0, ge=0, validation_alias="TYPHOON_RETAIN_MESSAGE_ADDRESSES_DAYS"
    )
    retain_ack_links_days: float = Field(
        7.0, ge=0, validation_alias="TYPHOON_RETAIN_ACK_LINKS_DAYS"
    )
    retain_photos_days: float = Field(180.0, ge=0, validation_alias="TYPHOON_RETAIN_PHOTOS_DAYS")
    retain_hotline_days: float = Field(180.0, ge=0, validation_alias="TYPHOON_RETAIN_HOTLINE_DAYS")
    retain_progress_events_days: float = Field(
        2.0, ge=0, validation_alias="TYPHOON_RETAIN_PROGRESS_EVENTS_DAYS"
    )
    # Field photos: the most all photos may take on disk (MB); beyond it an upload is a 507.
    photos_max_mb: float = Field(2048.0, ge=0, validation_alias="TYPHOON_PHOTOS_MAX_MB")

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, values: Any) -> Any:
        return _read_secret_files(dict(values)) if isinstance(values, dict) else values

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// SQLAlchemy URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        return _optional_url(
            value,
            ("redis://", "rediss://", "unix://"),
            "must start with redis://, rediss:// or unix://",
        )

    @field_validator("public_url", "twilio_api_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        url = _optional_url(value, ("http://", "https://"), "must be an http:// or https:// URL")
        if not url:
            return None
        # Checked here, once: the public URL goes into every CAP alert we publish, whose
        # schema check would otherwise refuse each alert of the night one by one.
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018  (a port out of 0-65535 or not a number raises)
        except ValueError as exc:
            raise ValueError(f"has a port that is not a number from 0 to 65535: {url}") from exc
        if not parts.hostname:
            raise ValueError(f"has no host name: {url}")
        return url.rstrip("/")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> tuple[str, ...]:
        import ipaddress

        if value in (None, ""):
            return ()
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("a comma-separated list of addresses or networks")
        proxies = tuple(str(item).strip() for item in items if str(item).strip())
        for item in proxies:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return proxies

    @field_validator("map_tile_url")
    @classmethod
    def _tile_template(cls, value: str | None) -> str | None:
        url = _optional_url(
            value,
            ("http://", "https://", "/"),
            "must be an http(s):// URL or a path on this server",
        )
        if url and not all(part in url for part in ("{z}", "{x}", "{y}")):
            raise ValueError("must contain {z}, {x} and {y}")
        return url

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

    @model_validator(mode="after")
    def _public_url_reachable(self) -> Settings:
        # Real Twilio calls TYPHOON_PUBLIC_URL back (status callbacks) and liaison SMS carry
        # links under it: a loopback address there means every callback refused and links
        # that open nothing. A Twilio-compatible server (TWILIO_API_BASE_URL: tests, local
        # gateways) may well be on the same host.
        if (
            self.twilio_enabled
            and not self.twilio_api_base_url
            and is_loopback_url(self.public_url)
        ):
            raise ValueError(
                f"TYPHOON_PUBLIC_URL is {self.public_url}, a loopback address, while SMS go "
                "to Twilio: its status callbacks could never reach us and liaison SMS would "
                "carry links that open nothing; set the address Twilio and phones reach"
            )
        return self

    def warnings(self) -> list[str]:
        """What is allowed but probably wrong for a deployment (logged at start)."""
        found = []
        if is_loopback_url(self.public_url) and not self.is_sqlite:
            found.append(
                f"TYPHOON_PUBLIC_URL is {self.public_url} (loopback): field links, QR codes "
                "and status callbacks point at this machine only"
            )
        if not self.is_sqlite and self.audit_key is None:
            found.append(
                "TYPHOON_AUDIT_KEY is not set: a rewritten audit chain (hashes recomputed) "
                "cannot be told from the real one"
            )
        return found

    def connect_url(self) -> str:
        """The database URL with TYPHOON_DATABASE_PASSWORD in it, for making connections only
        (never logged: SQLAlchemy masks it in the engine's repr)."""
        if self.database_password is None or self.is_sqlite:
            return self.database_url
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url).set(password=self.database_password.get_secret_value())
        return url.render_as_string(hide_password=False)

    def redis_connect_url(self) -> str:
        """TYPHOON_REDIS_URL with TYPHOON_REDIS_PASSWORD in it, for making connections only."""
        if not self.redis_url:
            raise RuntimeError("no TYPHOON_REDIS_URL")
        if self.redis_password is None:
            return self.redis_url
        from urllib.parse import quote, urlencode

        password = self.redis_password.get_secret_value()
        parts = urlsplit(self.redis_url)
        if parts.scheme == "unix":  # redis-py reads it from the query there
            query = "&".join(q for q in (parts.query, urlencode({"password": password})) if q)
            return parts._replace(query=query).geturl()
        host = parts.netloc.rpartition("@")[2]
        user = quote(parts.username or "", safe="")
        return parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}").geturl()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    def secret(self, name: str) -> str | None:
        """The plain value of a SecretStr setting (at the one place it is used)."""
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    def redis_key(self, name: str) -> str:
        """The one place Redis key names are made: `{TYPHOON_REDIS_PREFIX}:{name}`."""
        return f"{self.redis_prefix}:{name}"

    @property
    def dispatch_namespace(self) -> str:
        return self.redis_key("dispatch")


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (plus explicit overrides); raise SettingsError naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = err["loc"][0] if err["loc"] else None
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{_env_name(str(field))}: {message}" if field else message)
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


def _env_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field
