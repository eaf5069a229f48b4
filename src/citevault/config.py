"""Typed settings: environment (CITEVAULT_*), optional citevault.toml in the home directory, CLI flags."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "load_settings"]


def _default_home() -> Path:
    # Imported here, as tomllib below, only when used: every command reads its settings, and
    # with CITEVAULT_HOME set (the container, the services) and no citevault.toml the two
    # imports were half a percent of a one-page `add`'s instructions
    # (benchmarks/history/2026-12-07-p-start6-eve.md).
    from platformdirs import user_data_dir

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
        # Name, version and where to read about it, as polite crawlers put it; every request record
        # repeats it (the words "web archiving of cited sources" cost 21 B a recapture, issue 15).
        default="citevault/0.1 (+https://github.com/citevault/citevault)",
        description="User-Agent sent with every fetch; says who is archiving.",
    )
    obey_robots: bool = Field(
        default=False,
        description="Obey robots.txt. Off by default: a citation capture is a single user-requested "
        "visit of a page a writer cited, as with Perma.cc and Save Page Now; turn it on to "
        "skip every URL a site's robots.txt disallows for our User-Agent.",
    )
    concurrency: int = Field(default=32, description="Fetches in flight at once, in total.")
    concurrency_per_host: int = Field(
        default=4, description="Fetches in flight at once per host, and per IP address where "
        "citevault resolves names itself (not through a proxy)."
    )
    check_deadline: float = Field(
        default=60.0, gt=0, description="Seconds a link check of one URL may take in all (every "
        "request, redirect and body byte); a slower server is an error outcome."
    )
    check_workers: int = Field(
        default=2, ge=1, description="Link checks of sources the HTTP API runs at once (POST "
        "/api/sources/{id}/check queues them)."
    )
    check_queue: int = Field(
        default=16, ge=1, description="Link checks the HTTP API keeps waiting; more are refused "
        "with 503 until some finish."
    )
    max_links_per_page: int = Field(
        default=10_000, ge=1, description="Links recorded (and followed) per page; a page with "
        "more gets a failure row saying how many were found."
    )
    retry_after_max: float = Field(
        default=30.0, description="Longest Retry-After (seconds) waited for before a 429 or 503 "
        "is retried; a longer one is archived as it came, not retried."
    )
    timeout: float = Field(default=30.0, description="Seconds before a fetch is given up.")
    max_response_size: int = Field(
        default=100_000_000, description="Largest response body archived, in bytes; larger is an error."
    )
    retries: int = Field(default=2, description="Retries of a fetch after a transient error.")
    browser: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Capture pages in Chromium: auto (script shells and hosts that need it), always "
        "(every seed and cited page), never (HTTP only).",
    )
    chromium: str | None = Field(
        default=None, description="Path of the Chromium executable; default /usr/bin/chromium."
    )
    browser_pool: int = Field(default=2, ge=1, description="Browser pages rendered at once per capture job.")
    browser_budget: float = Field(
        default=30.0, gt=0, description="Seconds one page may take in the browser (load, settle, scroll, "
        "screenshot) before it is given up with a reason.",
    )
    browser_pdf: bool = Field(default=False, description="Also archive a PDF print of each browser page.")
    browser_hosts: str = Field(
        default="twitter.com,x.com",
        description="Comma-separated hosts (and their subdomains) whose pages always need the browser "
        "under auto.",
    )
    index_pages: bool = Field(
        default=True, description="Extract each archived page's metadata and main text (for "
        "citations and `search`) in a process beside the crawl; off, `reindex` can do it later.",
    )
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
    tsa_urls: str = Field(
        default="",
        description="RFC 3161 Time Stamping Authorities (comma-separated URLs) each snapshot's "
        "manifest is sent to; none by default. A TSA that is down leaves the timestamp pending, "
        "retried by the service and `citevault stamp`.",
    )
    tsa_timeout: float = Field(default=10.0, description="Seconds to wait for a TSA's answer.")
    tsa_retry_every: float = Field(
        default=900.0, description="Seconds between the service's retries of pending timestamps."
    )
    tsa_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the TSA certificates (trust anchors) `verify` checks timestamp "
        "tokens against; `--tsa-ca FILE` overrides it.",
    )
    tls_ca_file: Path | None = Field(
        default=None,
        description="PEM trust store the certificate chains of captured sites are validated "
        "against, for the provenance record and the snapshot's TLS record alike; default "
        "certifi's Mozilla bundle.",
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="The ECDSA P-256 key signing WACZ exports (anonymous mode); default "
        "$CITEVAULT_HOME/signing-key.pem, created on first use.",
    )
    signing_url: str | None = Field(
        default=None,
        description="An authsign-compatible signing URL: set it and WACZ exports are signed in "
        "domain mode (a certificate of your domain plus a timestamp) instead of with the local key.",
    )
    signing_token: str | None = Field(
        default=None, description="Bearer token sent to CITEVAULT_SIGNING_URL, if it needs one."
    )
    host: str = Field(default="127.0.0.1", description="Address `citevault serve` listens on.")
    port: int = Field(default=8000, description="Port `citevault serve` listens on.")
    max_request_body: int = Field(
        default=1_048_576, ge=1,
        description="Largest request body the HTTP API accepts, in bytes; a larger one is answered "
        "413 before it is read whole.",
    )

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
            sources.append(_StrictToml(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'citevault.db'}"

    @property
    def effective_warc_dir(self) -> Path:
        return self.warc_dir or self.home / "warcs"

    @property
    def effective_signing_key_file(self) -> Path:
        return self.signing_key_file or self.home / "signing-key.pem"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class _StrictToml(TomlConfigSettingsSource):
    """citevault.toml, where a key that names no setting is an error: a typo would otherwise
    leave the setting at its default without a word."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: Path) -> None:
        import tomllib

        try:
            super().__init__(settings_cls, toml_file=toml_file)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{toml_file} is not valid TOML: {exc}") from exc
        known = list(settings_cls.model_fields)
        for key in self.toml_data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown setting {key!r} in {toml_file}{hint}")


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and citevault.toml, with `overrides` (CLI flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

