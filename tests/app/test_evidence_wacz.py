"""Signed WACZ exports with evidence: they verify offline and under `wacz validate`; flipping a byte
of a WARC, editing the manifest, swapping the timestamp token or the signature each fail with the reason."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from citevault.cli import get_app
from citevault.crawler.timestamps import load_tsa_roots, request_token
from citevault.wacz_verify import WaczReport, verify_wacz
from tests.app.stamped import stamped_export
from tests.app.tsa import LocalTSA
from tests.fakeweb import FakeWeb


@pytest.fixture(scope="module")
def signed(
    tmp_path_factory: pytest.TempPathFactory, fakeweb: FakeWeb
) -> Iterator[tuple[Path, Path, LocalTSA]]:
    """One capture stamped by a local TSA, exported as a signed WACZ: (the WACZ, the TSA's CA, the TSA)."""
    with stamped_export(tmp_path_factory.mktemp("evidence"), fakeweb) as done:
        yield done.wacz, done.ca, done.tsa


def check(path: Path, ca: Path) -> WaczReport:
    return verify_wacz(path, load_tsa_roots(ca))


def test_signed_wacz_verifies_and_validates(signed: tuple[Path, Path, LocalTSA]) -> None:
    wacz, ca, _ = signed
    report = check(wacz, ca)
    assert report.ok, report.failures
    text = "\n".join(report.proven)
    assert "signed by anonymous key sha256:" in text
    assert "timestamped by CN=citevault test TSA" in text
    assert "records intact against its manifest" in text
    with zipfile.ZipFile(wacz) as z:
        names = z.namelist()
        assert "datapackage-digest.json" in names
        signed_data = json.loads(z.read("datapackage-digest.json"))["signedData"]
        assert signed_data["publicKey"] and len(base64.b64decode(signed_data["signature"])) == 64
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from wacz.main import main; sys.exit(main(sys.argv[1:]))",
         "validate", "-f", str(wacz)], capture_output=True, text=True,
    )
    assert done.returncode == 0 and "Validation succeeded" in done.stdout, done.stdout + done.stderr


def test_without_trust_anchor_the_token_is_only_matched(signed: tuple[Path, Path, LocalTSA]) -> None:
    wacz, _, _ = signed
    report = verify_wacz(wacz, [])
    assert report.ok
    assert any("its signature was not checked" in n for n in report.notes)
    with LocalTSA("another TSA") as other:
        wrong = verify_wacz(wacz, load_tsa_roots(other.ca_file))
    assert any("signature does not verify" in f for f in wrong.failures)


# -- tampering ---------------------------------------------------------------------------------------
def _warc_member(z: zipfile.ZipFile) -> str:
    return next(n for n in z.namelist() if n.startswith("archive/") and ".warc" in n)


def rewrite(src: Path, dst: Path, change: Callable[[bytes], bytes], *, fix_hashes: bool) -> None:
    """Copy a WACZ, its WARC changed by `change` (on the uncompressed WARC bytes); with
    `fix_hashes`, datapackage.json and its digest follow, as a forger would make them."""
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
        name = _warc_member(z)
    members[name] = change(members[name])
    if fix_hashes:
        package = json.loads(members["datapackage.json"])
        for res in package["resources"]:
            if res["path"] == name:
                res["hash"] = "sha256:" + hashlib.sha256(members[name]).hexdigest()
                res["bytes"] = len(members[name])
        members["datapackage.json"] = json.dumps(package, indent=2).encode()
        digest = json.loads(members["datapackage-digest.json"])
        digest["hash"] = "sha256:" + hashlib.sha256(members["datapackage.json"]).hexdigest()
        members["datapackage-digest.json"] = json.dumps(digest).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


def replace_block(warc_gz: bytes, evidence: str, new_block: Callable[[bytes], bytes]) -> bytes:
    """The WARC (one gzip member per record, as readers expect) with the block of its `evidence`
    record (manifest|timestamp) replaced."""
    raw = gzip.decompress(warc_gz)
    it = ArchiveIterator(io.BytesIO(raw), no_record_parse=True)
    records: list[bytes] = []
    found = False
    for rec in it:
        kind = rec.rec_headers.get_header("WARC-Citevault-Evidence")
        old = rec.raw_stream.read()
        it.read_to_end()
        start, length = it.get_record_offset(), it.get_record_length()
        record = raw[start:start + length]
        if kind == evidence and not found:
            found = True
            new = new_block(old)
            head = record.split(b"\r\n\r\n", 1)[0].replace(
                f"Content-Length: {len(old)}".encode(), f"Content-Length: {len(new)}".encode())
            record = head + b"\r\n\r\n" + new + b"\r\n\r\n"
        records.append(gzip.compress(record))
    assert found, f"no {evidence} record"
    return b"".join(records)


def test_flipping_one_byte_of_a_warc_fails(signed: tuple[Path, Path, LocalTSA], tmp_path: Path) -> None:
    wacz, ca, _ = signed

    def flip(data: bytes) -> bytes:
        at = len(data) // 2
        return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]

    bad = tmp_path / "flipped.wacz"
    rewrite(wacz, bad, flip, fix_hashes=False)
    report = check(bad, ca)
    assert not report.ok
    assert any("datapackage.json says" in f and ".warc" in f for f in report.failures), report.failures


def test_editing_the_manifest_fails(signed: tuple[Path, Path, LocalTSA], tmp_path: Path) -> None:
    wacz, ca, _ = signed

    def edit(block: bytes) -> bytes:
        doc = json.loads(block)
        doc["records"][0]["target_uri"] = "https://forged.example/"
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    bad = tmp_path / "edited.wacz"
    rewrite(wacz, bad, lambda w: replace_block(w, "manifest", edit), fix_hashes=True)
    report = check(bad, ca)
    assert not report.ok
    failures = "\n".join(report.failures)
    assert "signature: the signature is over" in failures  # the forger could not re-sign
    assert "timestamp of the manifest" in failures and "the token stamps" in failures
    assert "the manifest says 'https://forged.example/'" in failures


def test_swapping_the_token_fails(signed: tuple[Path, Path, LocalTSA], tmp_path: Path) -> None:
    wacz, ca, tsa = signed
    other = request_token(tsa.url, b"some other manifest").reply
    bad = tmp_path / "swapped-token.wacz"
    rewrite(wacz, bad, lambda w: replace_block(w, "timestamp", lambda _: other), fix_hashes=True)
    report = check(bad, ca)
    assert any("timestamp of the manifest" in f and "the token stamps" in f for f in report.failures)


def test_swapping_the_signature_fails(signed: tuple[Path, Path, LocalTSA], tmp_path: Path) -> None:
    wacz, ca, _ = signed
    with zipfile.ZipFile(wacz) as z:
        members = {n: z.read(n) for n in z.namelist()}
    doc = json.loads(members["datapackage-digest.json"])
    forger = ec.generate_private_key(ec.SECP256R1())
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(forger.sign(doc["hash"].encode(), ec.ECDSA(hashes.SHA256())))
    doc["signedData"]["signature"] = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    members["datapackage-digest.json"] = json.dumps(doc).encode()
    bad = tmp_path / "swapped-signature.wacz"
    with zipfile.ZipFile(bad, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    report = check(bad, ca)
    assert report.failures == ["signature: the signature does not verify with the package's public key"]


def test_domain_mode_signs_through_an_authsign_url(
    signed: tuple[Path, Path, LocalTSA], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.app.authsign import FakeAuthsign

    wacz, ca, _ = signed
    home = wacz.parent / "home"
    monkeypatch.setenv("CITEVAULT_HOME", str(home))
    with FakeAuthsign() as authsign:
        monkeypatch.setenv("CITEVAULT_SIGNING_URL", authsign.url)
        monkeypatch.setenv("CITEVAULT_SIGNING_TOKEN", authsign.token)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        out = tmp_path / "domain.wacz"
        result = CliRunner().invoke(get_app(), ["export", "1", "--wacz", str(out)])
        assert result.exit_code == 0, result.stderr
        assert authsign.requests == 1
        report = check(out, ca)
        assert report.ok, report.failures
        assert any(p.startswith("signed by domain signer.test") for p in report.proven)

        monkeypatch.setenv("CITEVAULT_SIGNING_TOKEN", "wrong")
        refused = CliRunner().invoke(get_app(), ["export", "1", "--wacz", str(tmp_path / "no.wacz")])
        assert refused.exit_code != 0 and "did not sign" in refused.stderr
        assert not (tmp_path / "no.wacz").exists()
