"""Application settings: the seed system's environment names plus ``TUNIX_RT_*``."""

from __future__ import annotations

import ipaddress
import os
import socket
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class SettingsError(Exception):
    """Raised when the environment holds an invalid setting; the message names it."""


class Settings(BaseSettings):
    """Every tunable of the server, CLI and worker, read once from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="TUNIX_RT_",
        case_sensitive=False,
        extra="ignore",
        populate_by_name=True,
    )

    # Names kept from the seed system (no prefix).
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
        description="SQLAlchemy async URL; empty means SQLite under the data directory.",
    )
    db_pool_size: int = Field(
        default=5, ge=1, le=50, validation_alias=AliasChoices("DB_POOL_SIZE", "db_pool_size")
    )
    db_max_overflow: int = Field(
        default=10,
        ge=0,
        le=50,
        validation_alias=AliasChoices("DB_MAX_OVERFLOW", "db_max_overflow"),
    )
    db_pool_timeout: int = Field(
        default=30,
        ge=1,
        le=300,
        validation_alias=AliasChoices("DB_POOL_TIMEOUT", "db_pool_timeout"),
    )
    trace_max_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=10_485_760,
        validation_alias=AliasChoices("TRACE_MAX_BYTES", "trace_max_bytes"),
    )
    backend_port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("BACKEND_PORT", "backend_port"),
    )
    rediai_mode: Literal["mock", "real"] = Field(
        default="mock", validation_alias=AliasChoices("REDIAI_MODE", "rediai_mode")
    )
    rediai_base_url: str = Field(
        default="http://localhost:8080",
        validation_alias=AliasChoices("REDIAI_BASE_URL", "rediai_base_url"),
    )
    rediai_health_path: str = Field(
        default="/health",
        validation_alias=AliasChoices("REDIAI_HEALTH_PATH", "rediai_health_path"),
    )
    rediai_health_cache_ttl_seconds: int = Field(
        default=30,
        ge=0,
        le=300,
        validation_alias=AliasChoices(
            "REDIAI_HEALTH_CACHE_TTL_SECONDS", "rediai_health_cache_ttl_seconds"
        ),
    )

    # New settings (TUNIX_RT_ prefix).
    host: str = "127.0.0.1"
    data_dir: Path = DEFAULT_DATA_DIR
    rediai_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    batch_max_bytes: int = Field(default=64 * 1_048_576, ge=1024, le=1024 * 1_048_576)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    ray_address: str = Field(
        default="",
        max_length=500,
        description=(
            "Ray cluster tuning jobs join (e.g. ray://head:10001 or auto); empty = an "
            "embedded Ray sized to this machine, started at the first tuning job and kept."
        ),
    )
    request_max_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=1024 * 1_048_576,
        description="Body limit of every endpoint without its own (traces, batches, eval sets).",
    )
    allowed_hosts: str = Field(
        default="",
        max_length=4000,
        description=(
            "Comma-separated Host header values the server answers (DNS-rebinding guard); "
            "loopback names, the bind host and the machine's name are always allowed; * = any."
        ),
    )
    model_dirs: str = Field(
        default="",
        max_length=16000,
        description=(
            f"Directories (separated by {os.pathsep!r}) that local checkpoints may be read "
            "from; empty = {data_dir}/models."
        ),
    )

    # Access (docs/security.md).
    auth: Literal["auto", "required", "off"] = Field(
        default="auto",
        description=(
            "API tokens on /api/*: required, off, or auto = required when the server binds "
            "a non-loopback address."
        ),
    )
    metrics_public: bool = Field(
        default=True, description="Serve /metrics without a token even when auth is required."
    )

    # Training runs (docs/runs.md).
    run_cancel_grace_seconds: float = Field(
        default=10.0, gt=0, le=600, description="SIGTERM → SIGKILL grace on cancel/timeout."
    )
    run_poll_seconds: float = Field(
        default=0.5, gt=0, le=10, description="How often a running child checks for cancel."
    )
    run_default_timeout_seconds: int | None = Field(
        default=None, ge=1, le=30 * 86400, description="Timeout for runs that give none."
    )
    run_retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description=(
            "`tunix-rt gc` (and the worker, once a day) deletes finished runs older than "
            "this many days, rows and files; unset = keep runs forever."
        ),
    )

    # Durable run queue (docs/queue.md).
    embedded_worker: bool = Field(
        default=True, description="Run a queue worker inside `tunix-rt serve`."
    )
    worker_concurrency: int = Field(default=1, ge=1, le=64, description="Runs per worker.")
    queue_lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    queue_heartbeat_seconds: float = Field(default=5.0, gt=0, le=600)
    queue_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    queue_max_attempts: int = Field(default=3, ge=1, le=100)
    worker_shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=3600)

    # Evaluation (docs/evaluation.md).
    eval_auto: bool = Field(
        default=True, description="Evaluate completed local training runs automatically."
    )
    eval_default_judges: str = Field(
        default="answer_correctness,format",
        description="Comma-separated judges (name or name@version); the first sets the score.",
    )
    eval_pass_score: float = Field(default=50.0, ge=0, le=100, description="Score for `pass`.")
    eval_batch_size: int = Field(default=16, ge=1, le=1024)
    jax_compile_cache: bool = Field(
        default=True,
        description=(
            "Training and generation children keep compiled XLA programs in "
            "{data_dir}/cache/jax (JAX's persistent compilation cache), so a run or an "
            "evaluation with shapes seen before skips most of its compile time. An "
            "explicit JAX_COMPILATION_CACHE_DIR in the environment wins."
        ),
    )
    eval_max_new_tokens: int = Field(default=256, ge=1, le=32768)
    eval_regression_tolerance: float = Field(
        default=0.05, ge=0, le=1, description="Relative regression that fails a check."
    )
    llm_judge_base_url: str = Field(
        default="", description="OpenAI-compatible server; empty = REDIAI_BASE_URL."
    )
    llm_judge_model: str = Field(default="default", min_length=1, max_length=200)
    llm_judge_api_key: str = Field(default="", description="Bearer token, if the server needs one.")
    llm_judge_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    llm_judge_max_retries: int = Field(default=2, ge=0, le=10)
    llm_judge_concurrency: int = Field(default=4, ge=1, le=64)

    # Hardening (docs/operations.md).
    rate_limit_writes_per_minute: int = Field(
        default=600,
        ge=0,
        le=1_000_000,
        description=(
            "Writes (POST/PUT/PATCH/DELETE under /api/) per minute per token, or per client "
            "address without one; bursts up to the same number; 0 = no limit."
        ),
    )
    cors_origins: str = Field(
        default="",
        max_length=4000,
        description=(
            "Comma-separated origins (https://host[:port]) allowed to call the API from a "
            "browser on another origin; empty = CORS off (same-origin only); * = any."
        ),
    )

    @field_validator("eval_default_judges")
    @classmethod
    def _judge_names(cls, value: str) -> str:
        names = [part.strip() for part in value.split(",") if part.strip()]
        known = {"answer_correctness", "format", "baseline", "llm_judge"}
        if not names:
            raise ValueError("name at least one judge")
        for name in names:
            if name.split("@", 1)[0] not in known:
                raise ValueError(f"unknown judge {name!r}; choose from {', '.join(sorted(known))}")
        return ",".join(names)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        from urllib.parse import urlsplit

        origins = [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        for origin in origins:
            parts = urlsplit(origin)
            if origin != "*" and (
                parts.scheme not in ("http", "https") or not parts.netloc or parts.path
            ):
                raise ValueError(f"{origin!r} is not an origin like https://host[:port] or *")
        return ",".join(origins)

    @property
    def cors_origin_list(self) -> list[str]:
        return [o for o in self.cors_origins.split(",") if o]

    @field_validator("llm_judge_base_url")
    @classmethod
    def _judge_url(cls, value: str) -> str:
        return cls._http_url(value) if value else value

    @field_validator("rediai_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value.rstrip("/")

    @field_validator("rediai_health_path")
    @classmethod
    def _starts_with_slash(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value:
            return value
        if value.startswith(("postgres://", "postgresql://")):
            # Accept the common spelling and pick the async driver for the user.
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + value.split("://", 1)[1]
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must be a postgresql+asyncpg:// or sqlite+aiosqlite:// URL")
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL in use: the configured one or SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tunix_rt.db').resolve()}"

    @property
    def model_directories(self) -> list[Path]:
        """Where local checkpoints may come from (absolute)."""
        parts = [p for p in self.model_dirs.split(os.pathsep) if p.strip()]
        dirs = [Path(p.strip()).expanduser() for p in parts] or [self.data_dir / "models"]
        return [d.resolve() for d in dirs]

    @property
    def host_names(self) -> frozenset[str] | None:
        """Host header names accepted (lower case, no port); None = any."""
        names = {h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()}
        if "*" in names:
            return None
        names |= {"localhost", "127.0.0.1", "::1", "[::1]", socket.gethostname().lower()}
        if self.host not in ("0.0.0.0", "::", ""):
            names.add(self.host.lower())
        return frozenset(names)

    @property
    def binds_loopback(self) -> bool:
        """Whether the bind host is reachable only from this machine."""
        host = self.host.strip().strip("[]").lower()
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False  # a host name other than localhost, "" or 0.0.0.0 and the like

    @property
    def auth_required(self) -> bool:
        """Whether /api/* needs a token: ``required``, or ``auto`` off loopback."""
        return self.auth == "required" or (self.auth == "auto" and not self.binds_loopback)

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def _env_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        if isinstance(first, str):
            return first
    return f"TUNIX_RT_{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise SettingsError naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{_env_name(field.lower())}: {err['msg']}")
        raise SettingsError("Invalid settings:\n  " + "\n  ".join(problems)) from None
