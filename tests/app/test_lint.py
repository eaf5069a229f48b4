"""`make lint` passes: ruff over sources and tests, mypy (strict, see pyproject) over the packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin dir: not resolved, that would leave the venv


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        pytest.skip(f"{tool} is not installed next to {sys.executable} (pip install -e '.[test]')")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean() -> None:
    got = _run("ruff", "check", "--no-cache", "src", "crawler", "storage", "tests")
    assert got.returncode == 0, got.stdout + got.stderr


def test_mypy_is_clean() -> None:
    # Incremental: the first run takes ~8 s, later ones reuse .mypy_cache.
    got = _run("mypy", "src/citevault", "crawler", "storage")
    assert got.returncode == 0, got.stdout + got.stderr
