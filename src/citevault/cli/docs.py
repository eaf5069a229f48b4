"""The CLI reference (docs/cli.md), generated from the commands themselves:
`python -m citevault.cli.docs > docs/cli.md`; a test keeps the file current."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import typer

__all__ = ["render"]


def _kind(annotation: Any) -> str:
    args = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    names = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH"}
    return names.get(args[0], "VALUE")


# Typer may bring its own copy of click, so the command objects are read by duck typing.
def _param_line(p: Any) -> str:
    if p.param_type_name == "argument":
        name = (p.metavar or p.name or "").upper()
        return f"- `{name}`{'' if p.required else ' (optional)'}: {getattr(p, 'help', '') or ''}".rstrip()
    flags = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
    kind = _kind(getattr(getattr(p, "type_descriptor", None), "annotation", None))
    meta = "" if getattr(p, "is_flag", False) else f" {kind}"
    default = ""
    if not getattr(p, "is_flag", False) and p.default not in (None, "", ()) and not callable(p.default):
        default = f" (default: `{p.default}`)"
    return f"- {flags}{meta}: {p.help or ''}{default}".rstrip()


def _section(cmd: Any, path: str) -> list[str]:
    out = [f"## `{path}`", "", (cmd.help or "").strip().split("\n\n")[0], ""]
    params = [p for p in cmd.params if p.name != "help"]
    if params:
        out += [_param_line(p) for p in params] + [""]
    if hasattr(cmd, "commands"):
        for name, sub in sorted(cmd.commands.items()):
            out += _section(sub, f"{path} {name}")
    return out


def render() -> str:
    from . import get_app

    root: Any = typer.main.get_command(get_app())
    lines = [
        "# citevault command reference",
        "",
        "Generated from the commands' own help by `python -m citevault.cli.docs`; do not edit.",
        "Exit codes: 0 success; 1 the work was attempted and failed; 2 bad input or usage.",
        "",
    ]
    for name, cmd in root.commands.items():
        lines += _section(cmd, f"citevault {name}")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
