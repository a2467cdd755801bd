"""Settings: seed variable names, bounds, and start-up errors that name the variable."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tunix_rt.cli import app as cli_app
from tunix_rt.config import SettingsError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in (
        "DATABASE_URL",
        "DB_POOL_SIZE",
        "TRACE_MAX_BYTES",
        "REDIAI_MODE",
        "TUNIX_RT_DATA_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.db_pool_size == 5
    assert settings.db_max_overflow == 10
    assert settings.db_pool_timeout == 30
    assert settings.trace_max_bytes == 1_048_576
    assert settings.rediai_mode == "mock"
    assert settings.rediai_health_cache_ttl_seconds == 30
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.resolved_database_url.endswith("var/tunix_rt.db")


def test_seed_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/x")
    monkeypatch.setenv("DB_POOL_SIZE", "7")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "300")
    monkeypatch.setenv("TRACE_MAX_BYTES", "2048")
    monkeypatch.setenv("BACKEND_PORT", "9000")
    monkeypatch.setenv("REDIAI_MODE", "real")
    monkeypatch.setenv("REDIAI_BASE_URL", "https://redi.example:8443/")
    monkeypatch.setenv("REDIAI_HEALTH_PATH", "/healthz")
    monkeypatch.setenv("REDIAI_HEALTH_CACHE_TTL_SECONDS", "0")
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", "/tmp/somewhere")
    s = load_settings()
    assert s.resolved_database_url == "postgresql+asyncpg://u:p@db:5432/x"
    assert (s.db_pool_size, s.db_max_overflow, s.db_pool_timeout) == (7, 0, 300)
    assert s.trace_max_bytes == 2048
    assert s.backend_port == 9000
    assert s.rediai_mode == "real"
    assert s.rediai_base_url == "https://redi.example:8443"
    assert s.rediai_health_path == "/healthz"
    assert s.rediai_health_cache_ttl_seconds == 0
    assert str(s.data_dir) == "/tmp/somewhere"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_SIZE", "51"),
        ("DB_MAX_OVERFLOW", "-1"),
        ("DB_POOL_TIMEOUT", "301"),
        ("TRACE_MAX_BYTES", "1023"),
        ("TRACE_MAX_BYTES", "10485761"),
        ("REDIAI_MODE", "sometimes"),
        ("REDIAI_BASE_URL", "ftp://x"),
        ("REDIAI_BASE_URL", "not a url"),
        ("REDIAI_HEALTH_PATH", "health"),
        ("REDIAI_HEALTH_CACHE_TTL_SECONDS", "301"),
        ("DATABASE_URL", "mysql://x"),
        ("BACKEND_PORT", "http"),
        ("TUNIX_RT_LOG_LEVEL", "loud"),
    ],
)
def test_invalid_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert name in str(excinfo.value)


def test_cli_exits_with_the_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "99")
    result = CliRunner().invoke(cli_app, ["serve"])
    assert result.exit_code == 2
    assert "DB_POOL_SIZE" in result.output
    assert "less than or equal to 50" in result.output
