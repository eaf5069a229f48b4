"""Typed settings: environment (CITEVAULT_*), optional citevault.toml in the home directory, CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "load_settings"]


def _default_home() -> Path:
    return Path(user_data_dir("citevault", appauthor=False))


class Settings(BaseSettings):
    """Every setting of citevault. Environment variables are `CITEVAULT_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="CITEVAULT_", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Data directory: WARC files, the SQLite index, the schedule store.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the index; default sqlite:///$CITEVAULT_HOME/citevault.db. "
        "Use postgresql+psycopg://... to scale out.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Set it and capture work goes through the shared Redis queue, run by "
        "`citevault worker` processes.",
    )
    warc_dir: Path | None = Field(
        default=None, description="Where WARC files are written; default $CITEVAULT_HOME/warcs."
    )
    warc_prefix: str = Field(default="citevault", description="First part of every WARC file name.")
    warc_max_size: int = Field(
        default=1_000_000_000,
        description="Rotate to a new WARC file once the current one reaches this many bytes.",
    )
    allow_private_networks: bool = Field(
        default=False,
        description="Allow fetches of loopback, private, link-local and metadata addresses. "
        "Off by default so a submitted URL cannot reach the service's own network.",
    )
    user_agent: str = Field(
        default="citevault/0.1 (+https://github.com/citevault/citevault; web archiving of cited sources)",
        description="User-Agent sent with every fetch; says who is archiving.",
    )
    obey_robots: bool = Field(
        default=False,
        description="Obey robots.txt. Off by default: a citation capture is a single user-requested "
        "visit of a page a writer cited, as with Perma.cc and Save Page Now; turn it on to "
        "skip every URL a site's robots.txt disallows for our User-Agent.",
    )
    concurrency: int = Field(default=32, description="Fetches in flight at once, in total.")
    concurrency_per_host: int = Field(default=4, description="Fetches in flight at once per host.")
    timeout: float = Field(default=30.0, description="Seconds before a fetch is given up.")
    max_response_size: int = Field(
        default=100_000_000, description="Largest response body archived, in bytes; larger is an error."
    )
    retries: int = Field(default=2, description="Retries of a fetch after a transient error.")
    capture_time_limit: float = Field(
        default=1800.0, description="Seconds a whole capture job may run before it is stopped."
    )
    workers: int = Field(default=2, description="Capture jobs run at once by `citevault serve`.")
    read_token_required: bool = Field(
        default=False, description="Require a bearer token for reads too (writes always need one "
        "once any token exists).",
    )
    default_schedule: bool = Field(
        default=False,
        description="Apply the citation policy to every new source: capture now, re-check links "
        "daily, recapture weekly.",
    )
    policy_recapture: str = Field(
        default="7d",
        description="How often the citation policy (default_schedule) recaptures a source: a "
        "duration such as 7d, 12h, 30m.",
    )
    policy_check: str = Field(
        default="1d",
        description="How often the citation policy (default_schedule) re-checks a source's cited links.",
    )
    shutdown_grace: float = Field(
        default=30.0,
        description="Seconds `serve` and `worker` give running captures to finish after SIGTERM; "
        "captures still running then are stopped and queued again for the next start.",
    )
    lease_timeout: float = Field(
        default=120.0,
        description="Seconds without a heartbeat after which a running capture is presumed lost "
        "(its worker crashed) and queued again.",
    )
    redis_prefix: str = Field(
        default="citevault",
        description="Prefix of the Redis keys citevault uses (the capture queue is PREFIX:captures).",
    )
    drift_threshold: float = Field(
        default=0.8,
        description="Similarity of live to archived main text below which a citation counts as drifted.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL the service is reached at (for replay links in citations); "
        "default http://HOST:PORT of `serve`.",
        validation_alias=AliasChoices("CITEVAULT_PUBLIC_URL", "public_url"),
    )
    host: str = Field(default="127.0.0.1", description="Address `citevault serve` listens on.")
    port: int = Field(default=8000, description="Port `citevault serve` listens on.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        home = os.environ.get("CITEVAULT_HOME")
        toml_path = (Path(home) if home else _default_home()) / "citevault.toml"
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'citevault.db'}"

    @property
    def effective_warc_dir(self) -> Path:
        return self.warc_dir or self.home / "warcs"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and citevault.toml, with `overrides` (CLI flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

