"""Fixtures of the web tests: the app in-process over a fresh archive, and recording captures
into it as the capture flow does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citevault.archive import Archive
from citevault.config import Settings
from citevault.crawler.recorder import CaptureRecorder
from citevault.storage.snapshots import finish_snapshots
from citevault.storage.warcstore import WarcStore
from citevault.web import create_app


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    app = create_app(Settings(home=home, allow_private_networks=True))
    with TestClient(app) as c:
        yield c
    app.state.archive.close()


def archive_of(client: TestClient) -> Archive:
    archive: Archive = client.app.state.archive  # type: ignore[attr-defined]
    return archive


@contextmanager
def recording(archive: Archive, snapshot_id: int) -> Iterator[CaptureRecorder]:
    """A recorder writing into `snapshot_id`, settled from its captures at the end."""
    with WarcStore(Path(archive.warc_dir)) as store:
        rec = CaptureRecorder(archive.index, store)
        rec.start_snapshot(snapshot_id)
        yield rec
        rec.commit()
        finish_snapshots(archive.index, [snapshot_id])
