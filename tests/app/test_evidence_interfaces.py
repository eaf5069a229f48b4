"""Evidence through the interfaces: `verify FILE.wacz`, `verify` of the archive, `key show`,
`stamp`, `reindex` bringing evidence rows back, `POST /api/verify`, the provenance page."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from citevault.cli import get_app
from citevault.config import Settings
from citevault.storage.db import open_index
from citevault.storage.models import EvidenceRecord
from citevault.web import create_app
from tests.app.stamped import stamped_export
from tests.fakeweb import FakeWeb


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory, fakeweb: FakeWeb) -> Iterator[dict[str, Path]]:
    """One stamped capture and its signed WACZ: paths of the home, the WACZ and the TSA's CA."""
    with stamped_export(tmp_path_factory.mktemp("interfaces"), fakeweb) as done:
        yield {"home": done.home, "wacz": done.wacz, "ca": done.ca}


@pytest.fixture
def at_home(captured: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("CITEVAULT_HOME", str(captured["home"]))
    return captured


def run(*args: str) -> Any:
    return CliRunner().invoke(get_app(), list(args))


def test_verify_wacz_prints_what_was_proven(at_home: dict[str, Path]) -> None:
    result = run("verify", str(at_home["wacz"]), "--tsa-ca", str(at_home["ca"]))
    assert result.exit_code == 0, result.output
    assert "signed by anonymous key sha256:" in result.stdout
    assert "timestamped by CN=citevault test TSA" in result.stdout and "verified" in result.stdout
    doc = json.loads(run("verify", str(at_home["wacz"]), "--tsa-ca", str(at_home["ca"]), "--json").stdout)
    assert doc["ok"] is True and doc["failures"] == []


def test_verify_wacz_failure_exits_1_with_the_reason(at_home: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.wacz"
    with zipfile.ZipFile(at_home["wacz"]) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "datapackage-digest.json":
                doc = json.loads(data)
                sig = doc["signedData"]["signature"]
                doc["signedData"]["signature"] = ("A" if sig[0] != "A" else "B") + sig[1:]
                data = json.dumps(doc).encode()
            zout.writestr(info, data)
    result = run("verify", str(bad), "--tsa-ca", str(at_home["ca"]))
    assert result.exit_code == 1
    assert "FAIL signature: the signature does not verify" in result.stdout


def test_verify_bad_input_exits_2(at_home: dict[str, Path], tmp_path: Path) -> None:
    assert run("verify", str(tmp_path / "missing.wacz")).exit_code == 2
    (tmp_path / "empty.pem").write_text("not a certificate")
    result = run("verify", str(at_home["wacz"]), "--tsa-ca", str(tmp_path / "empty.pem"))
    assert result.exit_code == 2 and "--tsa-ca" in result.stderr


def test_verify_archive_checks_manifests_and_timestamps(at_home: dict[str, Path]) -> None:
    result = run("verify", "--tsa-ca", str(at_home["ca"]))
    assert result.exit_code == 0, result.output
    assert "1 manifest(s)" in result.stdout and "1 timestamp(s) verified" in result.stdout
    doc = json.loads(run("verify", "--tsa-ca", str(at_home["ca"]), "--json").stdout)
    assert doc["ok"] and doc["evidence"]["stamped"] == 1 and doc["evidence"]["problems"] == []


def test_key_show_names_the_key_that_signed(at_home: dict[str, Path]) -> None:
    doc = json.loads(run("key", "show", "--json").stdout)
    with zipfile.ZipFile(at_home["wacz"]) as z:
        signed = json.loads(z.read("datapackage-digest.json"))["signedData"]
    assert doc["public_key"] == signed["publicKey"]
    assert doc["fingerprint"].startswith("sha256:") and "BEGIN PUBLIC KEY" in doc["pem"]
    assert Path(doc["path"]).stat().st_mode & 0o077 == 0  # the private key is the owner's alone


def test_stamp_with_nothing_pending(at_home: dict[str, Path]) -> None:
    result = run("stamp", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"stamped": 0, "pending": 0}


def test_show_json_carries_the_evidence(at_home: dict[str, Path]) -> None:
    doc = json.loads(run("show", "1", "--json").stdout)
    ev = doc["snapshots"][0]["evidence"]
    assert ev["provenance"] and ev["timestamp"] == "stamped" and len(ev["manifest_sha256"]) == 64


def test_reindex_brings_the_evidence_back(at_home: dict[str, Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("CITEVAULT_DATABASE_URL", url)
    assert run("reindex").exit_code == 0
    index = open_index(url)
    try:
        with index.session() as s:
            rows = list(s.scalars(select(EvidenceRecord).order_by(EvidenceRecord.id)))
            assert sorted(r.kind for r in rows) == ["manifest", "provenance", "timestamp"]
            assert all(r.snapshot_id is not None for r in rows)
            assert next(r for r in rows if r.kind == "timestamp").gen_time is not None
    finally:
        index.dispose()
    result = run("verify", "--tsa-ca", str(at_home["ca"]))
    assert result.exit_code == 0 and "1 timestamp(s) verified" in result.stdout


def test_api_verify_and_provenance_page(at_home: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEVAULT_TSA_CA_FILE", str(at_home["ca"]))
    client = TestClient(create_app(Settings()))
    answer = client.post("/api/verify", content=at_home["wacz"].read_bytes(),
                         headers={"Content-Type": "application/zip"})
    assert answer.status_code == 200 and answer.json()["ok"] is True
    assert any("timestamped by" in line for line in answer.json()["proven"])
    empty = client.post("/api/verify", content=b"")
    assert empty.status_code == 400 and "request body" in empty.json()["error"]
    junk = client.post("/api/verify", content=b"not a zip")
    assert junk.status_code == 200 and junk.json()["ok"] is False

    prov = client.get("/api/snapshots/1/provenance").json()
    assert prov["provenance"]["capture"]["mode"] == "http" and prov["evidence"]["timestamp"] == "stamped"
    assert client.get("/api/snapshots/99/provenance").status_code == 404
    page = client.get("/ui/snapshots/1/provenance")
    assert page.status_code == 200 and "Provenance of snapshot #1" in page.text
    assert "Origins contacted" in page.text and "stamped" in page.text
    # The records fetched come from the manifest (a version 2 provenance record lists none).
    assert "records" not in prov["provenance"]
    count = re.search(r"(\d+) records fetched", page.text)
    assert count is not None and int(count.group(1)) >= 2
    assert page.text.split("Records fetched")[1].count("<tr><td>") == int(count.group(1))
    assert "Content-Security-Policy" in page.headers
