"""Serving settings: permissive in development, refusing unsafe values in production."""

from pathlib import Path

import pytest

from jifen.errors import ConfigError
from serving.core.config import PostgresTarget, SqliteTarget, load_settings, redact_dsn


def test_default_audit_log_is_sqlite_under_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without JIFEN_AUDIT_DSN the log is a SQLite file under data/serving/."""
    monkeypatch.delenv("JIFEN_AUDIT_DSN", raising=False)
    settings = load_settings(data_dir=Path("/srv/jifen"))
    assert settings.audit_target == SqliteTarget(Path("/srv/jifen/serving/audit.sqlite3"))


def test_settings_read_the_environment_with_the_jifen_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """JIFEN_AUDIT_DSN and JIFEN_BATCH_MAX_SIZE reach the settings."""
    monkeypatch.setenv("JIFEN_AUDIT_DSN", "postgresql://postgres@127.0.0.1:5432/jifen")
    monkeypatch.setenv("JIFEN_BATCH_MAX_SIZE", "250")
    settings = load_settings()
    assert settings.audit_target == PostgresTarget("postgresql://postgres@127.0.0.1:5432/jifen")
    assert settings.batch_max_size == 250


def test_production_refuses_sqlite_in_tmp() -> None:
    """A production audit log in /tmp would not survive a reboot."""
    with pytest.raises(
        ConfigError, match="audit_dsn must not point into a temporary directory in production"
    ):
        load_settings(environment="production", audit_dsn="sqlite:////tmp/jifen/audit.db")


def test_production_refuses_relative_sqlite_path() -> None:
    """A relative path depends on the working directory, so production needs an absolute one."""
    with pytest.raises(ConfigError, match="must name an absolute SQLite path in production"):
        load_settings(environment="production", audit_dsn="sqlite:///data/audit.db")


def test_production_refuses_demo_keys() -> None:
    """Published demo keys are never accepted in production."""
    with pytest.raises(ConfigError, match="demo_keys must be false in production; got true"):
        load_settings(
            environment="production",
            audit_dsn="postgresql://postgres@db:5432/jifen",
            demo_keys=True,
        )


def test_production_accepts_postgres_and_persistent_sqlite() -> None:
    """Safe production values pass."""
    assert (
        load_settings(environment="production", audit_dsn="postgresql://a@db/j").demo_keys is False
    )
    settings = load_settings(environment="production", audit_dsn="sqlite:////srv/jifen/a.db")
    assert settings.audit_target == SqliteTarget(Path("/srv/jifen/a.db"))


def test_development_allows_tmp_and_demo_keys() -> None:
    """Development may use /tmp and demo keys."""
    settings = load_settings(audit_dsn="sqlite:////tmp/a.db", demo_keys=True)
    assert settings.environment == "development" and settings.demo_keys


def test_settings_refuse_unknown_dsn_scheme_without_echoing_password() -> None:
    """A bad DSN is named, with its password masked."""
    with pytest.raises(ConfigError, match=r"audit_dsn: audit_dsn must start with") as info:
        load_settings(audit_dsn="mysql://root:hunter2@db/jifen")
    assert "hunter2" not in str(info.value)
    assert "mysql://root:***@db/jifen" in str(info.value)


def test_settings_refuse_batch_size_above_hard_limit() -> None:
    """batch_max_size is bounded whatever the environment says."""
    with pytest.raises(
        ConfigError, match="batch_max_size: Input should be less than or equal to 1000"
    ):
        load_settings(batch_max_size=5000)


@pytest.mark.parametrize(
    ("dsn", "redacted"),
    [
        ("postgresql://u:pw@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
    ],
)
def test_redact_dsn_masks_passwords(dsn: str, redacted: str) -> None:
    """Passwords never reach logs or error messages."""
    assert redact_dsn(dsn) == redacted
