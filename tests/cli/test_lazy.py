"""The CLI's lazy start-up: each top-level command is found in the task module that `main` imports
for it, and a run of one command does not import the other tasks' heavy modules."""

from __future__ import annotations

import importlib
import subprocess
import sys

import typer

from citevault.cli import _MODULES, COMMAND_MODULES, get_app


def _names(app: typer.Typer) -> set[str]:
    cmd = typer.main.get_command(app)
    if not hasattr(cmd, "commands"):  # a task with a single command (search)
        return {info.name or "" for info in app.registered_commands}
    return set(cmd.commands)


def test_every_command_is_mapped_to_its_module() -> None:
    found: dict[str, str] = {}
    for module in _MODULES:
        for name in _names(importlib.import_module(f"citevault.cli.{module}").commands()):
            found[name] = module
    assert found == COMMAND_MODULES
    assert _names(get_app()) == set(COMMAND_MODULES)


def test_one_command_imports_only_what_it_needs() -> None:
    code = (
        "import sys; from citevault.cli import get_app; get_app('capture'); "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('citevault', 'apscheduler', "
        "'lxml', 'scrapy', 'surt', 'uvicorn', 'fastapi')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "citevault.cli.capture" in loaded
    for heavy in ("citevault.cli.service", "citevault.decorate", "citevault.scheduler", "scrapy",
                  "apscheduler", "lxml", "surt", "fastapi"):
        assert heavy not in loaded, heavy
