"""Process-wide settings read from the environment (prefix ``JIFEN_``)."""

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Paths and switches shared by every stage; stage-specific settings live in their package."""

    model_config = SettingsConfigDict(env_prefix="JIFEN_", extra="ignore")

    data_dir: Path = Path("data")
    """Root of raw, clean, quarantine and oracle tables."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the cached settings (read once per process)."""
    return Settings()
