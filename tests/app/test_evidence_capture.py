"""Evidence at capture time: provenance and manifest records, RFC 3161 timestamps from a local TSA
(pending while it is down, added once it is back), `openssl ts -verify` on a stored token."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from citevault.cli import get_app
from citevault.config import Settings
from citevault.storage.db import open_index
from citevault.storage.models import EvidenceRecord
from tests.app.stamped import use_tsa
from tests.app.tsa import LocalTSA
from tests.fakeweb import NewsSite


@pytest.fixture
def tsa(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalTSA]:
    with LocalTSA() as t:
        use_tsa(t, monkeypatch)
        yield t


def add(url: str) -> dict[str, Any]:
    result = CliRunner().invoke(get_app(), ["add", url, "--depth", "0", "--json"])
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def evidence_rows(home: Path) -> list[EvidenceRecord]:
    index = open_index(Settings(home=home).effective_database_url)
    try:
        with index.session() as s:
            rows = list(s.scalars(select(EvidenceRecord).order_by(EvidenceRecord.id)))
            s.expunge_all()
            return rows
    finally:
        index.dispose()


def metadata_records(home: Path) -> list[tuple[dict[str, str], bytes]]:
    out = []
    for path in sorted((home / "warcs").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type == "metadata":
                    out.append((dict(rec.rec_headers.headers), rec.content_stream().read()))
    return out


def test_capture_writes_provenance_manifest_and_a_verifiable_token(
    news: NewsSite, tsa: LocalTSA, home: Path, tmp_path: Path
) -> None:
    doc = add(news.article)
    assert doc["sources"][0]["snapshot"]["state"] == "done"
    rows = evidence_rows(home)
    assert [r.kind for r in rows] == ["provenance", "manifest", "timestamp"]
    manifest, stamp = rows[1], rows[2]
    assert stamp.state == "written" and stamp.gen_time is not None and stamp.tsa_url == tsa.url

    records = metadata_records(home)
    kinds = {h.get("WARC-Citevault-Evidence"): (h, body) for h, body in records}
    prov_head, prov_body = kinds["provenance"]
    assert prov_head["WARC-Target-URI"].startswith("urn:citevault:provenance:")
    prov = json.loads(prov_body)
    assert prov["capture"]["mode"] == "http" and prov["capture"]["seed"] == news.article
    assert prov["software"]["versions"]["scrapy"]
    origins = {o["origin"]: o for o in prov["origins"]}
    seed_origin = origins[next(iter(origins))]
    assert seed_origin["proxy"] and seed_origin["dns_answers"] is None  # the proxy resolved names
    # Version 2 leaves the list of fetched records (uri, id, type, time) to the manifest below.
    assert prov["version"] == 2 and "records" not in prov

    man_head, man_body = kinds["manifest"]
    import hashlib

    assert hashlib.sha256(man_body).hexdigest() == manifest.sha256
    listed = json.loads(man_body)["records"]
    assert prov_head["WARC-Record-ID"] in {e["record_id"] for e in listed}
    assert any(e["target_uri"] == news.article and e["type"] == "response" for e in listed)
    assert all(e["block_sha256"].startswith("sha256:") for e in listed)
    # The provenance block is the whole document's canonical dumps, hashed as the manifest says;
    # the manifest gives each fetched record's fetch time (its WARC-Date).
    assert prov_body == json.dumps(prov, sort_keys=True).encode()
    fetched = [e for e in listed if e["type"] in ("response", "revisit", "resource")]
    assert len(fetched) > 1 and all(e["date"] and e["target_uri"] for e in fetched)
    (prov_entry,) = [e for e in listed if e["record_id"] == prov_head["WARC-Record-ID"]]
    assert prov_entry["block_sha256"] == "sha256:" + hashlib.sha256(prov_body).hexdigest()

    tok_head, token = kinds["timestamp"]
    assert tok_head["WARC-Refers-To"] == man_head["WARC-Record-ID"]
    (tmp_path / "manifest.json").write_bytes(man_body)
    (tmp_path / "token.tsr").write_bytes(token)
    done = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(tmp_path / "manifest.json"), "-in",
         str(tmp_path / "token.tsr"), "-CAfile", str(tsa.ca_file)],
        capture_output=True, text=True,
    )
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr



def test_tsa_down_leaves_the_capture_done_and_the_timestamp_pending(
    news: NewsSite, tsa: LocalTSA, home: Path
) -> None:
    from citevault.archive import Archive
    from citevault.evidence import check_archive_evidence, snapshot_evidence, tsa_roots
    from citevault.scheduler import JobContext, stamp

    tsa.available = False
    doc = add(news.article)
    assert doc["sources"][0]["snapshot"]["state"] == "done"
    rows = evidence_rows(home)
    pending = [r for r in rows if r.kind == "timestamp"]
    assert len(pending) == 1 and pending[0].state == "pending" and pending[0].warc is None
    assert pending[0].error is not None and "HTTP 503" in pending[0].error
    with Archive(Settings()) as archive:
        with archive.index.session() as s:
            ev = snapshot_evidence(s, 1)
        assert ev["timestamp"] == "pending" and ev["manifest_sha256"] and ev["provenance"]
        assert ev["timestamps"][0]["state"] == "pending" and ev["timestamps"][0]["attempts"] == 1

        tsa.available = True
        assert stamp(ctx=JobContext(archive)) == 1  # the service's scheduler job
        with archive.index.session() as s:
            ev = snapshot_evidence(s, 1)
        assert ev["timestamp"] == "stamped" and ev["timestamps"][0]["time"]
        checked = check_archive_evidence(archive, tsa_roots(tsa.ca_file))
        assert checked.problems == [] and checked.stamped == 1 and checked.records > 10
    assert stamp(ctx=JobContext(Archive(Settings()))) == 0  # nothing left to stamp


def test_no_tsa_configured_means_no_timestamp(news: NewsSite, home: Path) -> None:
    from citevault.archive import Archive
    from citevault.evidence import snapshot_evidence

    add(news.article)
    assert [r.kind for r in evidence_rows(home)] == ["provenance", "manifest"]
    with Archive(Settings()) as archive, archive.index.session() as s:
        assert snapshot_evidence(s, 1)["timestamp"] == "absent"


def test_certificate_chains_validate_against_a_given_trust_store(
    news: NewsSite, fakeweb: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEVAULT_TLS_CA_FILE", str(fakeweb.ca_file))
    add(news.article)
    prov = next(json.loads(body) for h, body in metadata_records(home)
                if h.get("WARC-Citevault-Evidence") == "provenance")
    handshakes = [t for o in prov["origins"] for t in o["tls"]]
    assert handshakes and all(t["validated"] and t["version"].startswith("TLS") for t in handshakes)
    assert prov["tls_trust_store"] == str(fakeweb.ca_file)
    # The snapshot's TLS record says the same of each origin: the same handshakes' facts.
    tls = next(json.loads(body) for h, body in metadata_records(home)
               if h.get("WARC-Target-URI", "").startswith("urn:citevault:tls:"))
    assert tls["origins"] and all(o["validated"] and o["errors"] == [] for o in tls["origins"].values())
    assert all(o["chain_pem"] in [t["chain"] for t in handshakes] for o in tls["origins"].values())
