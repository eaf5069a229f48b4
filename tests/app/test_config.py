"""Settings come from citevault.toml, the environment (over the file) and flags (over both)."""

from __future__ import annotations

from pathlib import Path

import pytest

from citevault.config import load_settings


def test_toml_environment_and_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEVAULT_HOME", str(tmp_path))
    (tmp_path / "citevault.toml").write_text('warc_prefix = "newsroom"\ntimeout = 60\nport = 9000\n')
    s = load_settings()
    assert (s.warc_prefix, s.timeout, s.port) == ("newsroom", 60.0, 9000)
    monkeypatch.setenv("CITEVAULT_TIMEOUT", "5")
    assert load_settings().timeout == 5.0
    assert load_settings(port=8123).port == 8123
    assert load_settings().effective_database_url == f"sqlite:///{tmp_path / 'citevault.db'}"
    assert load_settings().effective_warc_dir == tmp_path / "warcs"
