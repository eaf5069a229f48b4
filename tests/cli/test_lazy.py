"""The CLI's lazy start-up: each top-level command is found in the task module that `main` imports
for it, and a run of one command does not import the other tasks' heavy modules."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import typer

from citevault.cli import _MODULES, COMMAND_MODULES, get_app
from tests.fakeweb import FakeWeb


def _loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    """Which of `names` a new interpreter has imported once it has run `code` (whatever `code`
    prints comes before: the answer is the last line)."""
    probe = f"{code}\nimport sys; print('\\n' + ' '.join(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[-1].split()


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


def test_the_crawl_imports_no_tsa_client_and_one_database_driver() -> None:
    """The fork server preloads the crawl's modules for every `add`: the RFC 3161 client (httpx
    with it) only when a snapshot is stamped, and only the configured database's driver."""
    assert _loaded_after("import citevault.crawler.seal, citevault.crawler.job",
                         ("httpx", "rfc3161_client", "citevault.crawler.timestamps")) == []
    from citevault.crawler.preload import PRELOAD, preload_for

    sqlite = preload_for("sqlite:////tmp/index.db")
    assert "sqlalchemy.dialects.sqlite" in sqlite
    assert "sqlalchemy.dialects.postgresql.psycopg" not in sqlite
    pg = preload_for("postgresql+psycopg://citevault@127.0.0.1/test")
    assert "sqlalchemy.dialects.postgresql.psycopg" in pg and "sqlalchemy.dialects.sqlite" not in pg
    assert set(PRELOAD) - set(sqlite) == {"sqlalchemy.dialects.postgresql.psycopg"}
    assert preload_for("") == PRELOAD


def test_add_imports_the_index_driver_before_the_fork() -> None:
    """`add` has the index's dialect and driver imported by `prestart` before it forks its
    crawl's fork server, which then shares them: connecting to nothing, and a bad URL is left to
    open_index to report in one line."""
    start = "from citevault.crawler import forkserver; forkserver.prestart({!r})"
    assert _loaded_after(start.format("sqlite:////nonexistent/x.db"),
                         ("sqlalchemy.dialects.sqlite.pysqlite", "sqlite3")) == [
        "sqlalchemy.dialects.sqlite.pysqlite", "sqlite3"]
    assert _loaded_after("import citevault.storage.db", ("sqlite3",)) == []
    for bad in ("not a url", "bogus://x", "mysql+nodriver://h/db"):
        assert _loaded_after(start.format(bad), ("sqlite3",)) == []  # and no exception


def test_the_cli_imports_with_the_collector_off_then_freezes() -> None:
    """`main` builds the app with no garbage collections (imports make no garbage), then leaves the
    imported objects out of later ones; the collector runs again for the command itself."""
    code = (
        "import gc, sys; sys.argv = ['citevault', 'list', '--help']; from citevault.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(gc.isenabled(), gc.get_freeze_count() > 10_000)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["True", "True"]


def test_add_json_off_a_terminal_does_not_import_rich(web: FakeWeb) -> None:
    """Rich draws the live line on a terminal and the summary table; `add --json` with standard
    error on a pipe (a script's run) draws neither, so it does not import Rich at all."""
    url = "http://news.test/lazy"
    web.add(url, "<html><head><title>t</title></head><body><p>hello</p></body></html>")
    code = (
        "import sys; from citevault.cli import main\n"
        f"sys.argv = ['citevault', 'add', {url!r}, '--depth', '0', '--json']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    sys.stderr.write(f'exit {exc.code}\\n')\n"
        "sys.stderr.write(f'rich loaded: {\"rich\" in sys.modules}\\n')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert '"state": "done"' in done.stdout, done.stderr
    assert "rich loaded: False" in done.stderr, done.stderr


_HEAVY = ("sqlalchemy", "pydantic", "pydantic_settings", "citevault.archive", "citevault.config",
          "citevault.storage.models", "scrapy", "lxml", "cryptography", "warcio", "httpx")


def test_help_imports_no_database_settings_or_archive() -> None:
    """Every task module is imported for `--help` (and for a typo): at their top they import only
    Typer and the standard library, each command what it runs. With SQLAlchemy, pydantic and the
    Archive at the top, `--help` cost more instructions than Scrapy's whole one-page run."""
    code = (
        "import sys; from citevault.cli import main\n"
        "sys.argv = ['citevault', '--help']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
    )
    assert _loaded_after(code, _HEAVY) == []
    # nor does building every command without printing help (a typo's path), nor Rich then
    built = "import typer; from citevault.cli import get_app; typer.main.get_command(get_app())"
    assert _loaded_after(built, (*_HEAVY, "rich")) == []


def test_a_json_listing_draws_no_table() -> None:
    """`list --json` reads the index (SQLAlchemy, the Archive) but imports no Rich: its tables are
    drawn only without --json."""
    code = (
        "import sys, tempfile, os; os.environ['CITEVAULT_HOME'] = tempfile.mkdtemp()\n"
        "from citevault.cli import main\n"
        "sys.argv = ['citevault', 'list', '--json']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
    )
    assert _loaded_after(code, ("citevault.archive", "rich", "cryptography")) == ["citevault.archive"]


def test_what_a_command_imports_as_it_starts() -> None:
    """`main` imports these with the task module, before the collector runs again: the settings
    and the Archive, a task's own (add: surt, for the fork server to share), Rich unless --json;
    nothing for --help (an argument after `--` is no option)."""
    from citevault.cli import _start_imports

    get_app()  # imports every task module
    assert _start_imports("query", ["--help"]) == ()
    assert _start_imports("query", ["1", "--json", "--help"]) == ()
    listing = _start_imports("query", [])
    assert {"citevault.archive", "citevault.config", "rich.console"} <= set(listing)
    assert "rich.console" not in _start_imports("query", ["--json"])
    assert "rich.console" in _start_imports("capture", ["--", "--json"])
    assert {"surt", "citevault.crawler.forkserver"} <= set(_start_imports("capture", ["u", "--json"]))


def test_a_command_starts_with_the_archive_imported_before_the_freeze() -> None:
    """`main` imports what a command runs with (the settings, the Archive) with the collector off
    and freezes it, as it did when the task modules imported them at their top: they are out of
    later collections (frozen objects are not in `gc.get_objects()`). `list --help` does not
    import them."""
    run = (
        "import gc, sys, tempfile, os; os.environ['CITEVAULT_HOME'] = tempfile.mkdtemp()\n"
        "from citevault.cli import main\n"
        "sys.argv = ['citevault', 'list', {}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
    )
    frozen = (
        "import citevault.archive, citevault.config\n"
        "live = {id(o) for o in gc.get_objects()}\n"
        "print(id(citevault.archive.Archive) in live, id(citevault.config.Settings) in live)"
    )
    out = subprocess.run([sys.executable, "-c", run.format("'--json'") + frozen],
                         capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "False False"
    assert _loaded_after(run.format("'--help'"), ("citevault.archive", "citevault.config")) == []
