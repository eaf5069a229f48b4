"""Commands of the evidence a capture carries: `key show` (the key signing WACZ exports), `stamp`
(timestamps a TSA still owes), and the WACZ half of `verify` (`verify FILE.wacz`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from citevault.storage.errors import BadInput

from .base import JsonOpt, print_json, settings

if TYPE_CHECKING:
    from cryptography import x509
    from rich.console import Console

    from ..archive import Archive
    from ..evidence import ArchiveEvidence
    from ..wacz_verify import WaczReport

# Each command imports what it runs: `--help` imports this module too (cli/base.py says why).

__all__ = [
    "TsaCaOpt", "commands", "key_show", "print_archive_evidence", "roots_for", "stamp", "verify_package",
]

TsaCaOpt = Annotated[
    Path | None,
    typer.Option("--tsa-ca", help="PEM file of the TSA certificates timestamp tokens are checked against "
                 "(default: setting tsa_ca_file)."),
]


def commands() -> typer.Typer:
    app = typer.Typer()
    keys = typer.Typer(help="The key that signs WACZ exports.", no_args_is_help=True)
    keys.command("show")(key_show)
    app.add_typer(keys, name="key")
    app.command()(stamp)
    return app


def key_show(json_out: JsonOpt = False) -> None:
    """The public key signing WACZ exports (anonymous mode), made on first use: hand it out so
    others can tell your packages from anyone else's."""
    from rich.console import Console
    from rich.markup import escape

    from ..signing import load_signing_key

    cfg = settings()
    key = load_signing_key(cfg.effective_signing_key_file)
    doc = {"path": str(key.path), "algorithm": "ECDSA P-256 / SHA-256", "public_key": key.public_b64,
           "fingerprint": key.fingerprint, "pem": key.public_pem,
           "domain_signing_url": cfg.signing_url}
    if json_out:
        print_json(doc)
        return
    out = Console(highlight=False)
    out.print(f"key file     {key.path}")
    out.print(f"fingerprint  {key.fingerprint}")
    out.print(f"public key   {key.public_b64}")
    if cfg.signing_url:
        out.print(f"note: exports are signed in domain mode through {escape(cfg.signing_url)}, "
                  "not with this key")
    typer.echo(key.public_pem, nl=False)


def stamp(json_out: JsonOpt = False) -> None:
    """Ask the TSAs again for the timestamps they could not give at capture time. Exit 1 while
    some are still pending."""
    from rich.console import Console

    from ..archive import Archive
    from ..evidence import stamp_pending

    with Archive(settings()) as archive:
        stamped, pending = stamp_pending(archive)
    if json_out:
        print_json({"stamped": stamped, "pending": pending})
    else:
        Console().print(f"{stamped} timestamp(s) added, {pending} still pending")
    if pending:
        raise typer.Exit(1)


def roots_for(tsa_ca: Path | None) -> list[x509.Certificate]:
    """The TSA trust anchors: --tsa-ca, else the setting tsa_ca_file, else none."""
    path = tsa_ca or settings().tsa_ca_file
    if path is not None and not Path(path).is_file():
        raise BadInput(f"--tsa-ca: no file {path}")
    from citevault.crawler.timestamps import TimestampError

    from ..evidence import tsa_roots

    try:
        return tsa_roots(path)
    except TimestampError as exc:
        raise BadInput(f"--tsa-ca: {exc}") from exc


def verify_package(path: Path, tsa_ca: Path | None, json_out: bool) -> None:
    """`verify FILE.wacz`: print what was proven or what failed; exit 1 on any failure."""
    if not path.is_file():
        raise BadInput(f"no file {path}")
    from ..wacz_verify import verify_wacz

    report = verify_wacz(path, roots_for(tsa_ca))
    if json_out:
        print_json(report.as_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: WaczReport) -> None:
    from rich.console import Console
    from rich.markup import escape

    out = Console(highlight=False, soft_wrap=True)
    for line in report.proven:
        out.print(f"[green]OK[/]   {escape(line)}")
    for line in report.notes:
        out.print(f"[yellow]NOTE[/] {escape(line)}")
    for line in report.failures:
        out.print(f"[red]FAIL[/] {escape(line)}")
    out.print("verified" if report.ok else f"{len(report.failures)} failure(s)")


def print_archive_evidence(archive: Archive, tsa_ca: Path | None, out: Console) -> ArchiveEvidence:
    from rich.markup import escape

    from ..evidence import check_archive_evidence

    ev = check_archive_evidence(archive, roots_for(tsa_ca))
    for p in ev.problems:
        out.print(f"[red]BAD[/] {escape(p)}")
    out.print(f"{ev.manifests} manifest(s), {ev.records} record(s) checked against them, "
              f"{ev.stamped} timestamp(s) verified, {ev.unchecked} not checked (no --tsa-ca), "
              f"{ev.pending} pending")
    return ev
