"""Prometheus metrics of one app: archive-wide counts read from the index at scrape time, and the
capture jobs this process ran. Each app has its own CollectorRegistry; nothing is global."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from citevault.storage.models import Capture, Snapshot

from .archive import Archive

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_STATES = ("queued", "running", "done", "partial", "failed")


class _IndexCollector(Collector):
    """Counts over the whole archive, whichever process wrote them (workers elsewhere included)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def describe(self) -> Iterator[Metric]:
        # Given so that registering does not query the database.
        yield from self._families()

    def _families(
        self,
    ) -> tuple[CounterMetricFamily, CounterMetricFamily, CounterMetricFamily, GaugeMetricFamily,
               GaugeMetricFamily]:
        return (
            CounterMetricFamily("citevault_records", "WARC records indexed, by record type.",
                                labels=["record_type"]),
            CounterMetricFamily("citevault_record_bytes", "Bytes of the WARC records indexed."),
            CounterMetricFamily("citevault_fetch_failures", "Fetches that got no response."),
            GaugeMetricFamily("citevault_snapshots", "Snapshots (capture runs), by state.", labels=["state"]),
            GaugeMetricFamily("citevault_queue_depth", "Snapshots queued and waiting for a worker."),
        )

    def collect(self) -> Iterator[Metric]:
        records, nbytes, failures, snaps, depth = self._families()
        with self.archive.index.session() as s:
            by_type = dict(
                s.execute(
                    select(Capture.record_type, func.count())
                    .where(Capture.warc.is_not(None)).group_by(Capture.record_type)
                ).all()
            )
            total_bytes = s.scalar(select(func.coalesce(func.sum(Capture.record_length), 0)))
            failed = s.scalar(select(func.count()).where(Capture.error.is_not(None)))
            states = dict(s.execute(select(Snapshot.state, func.count()).group_by(Snapshot.state)).all())
        for rtype, n in sorted(by_type.items(), key=lambda kv: str(kv[0])):
            records.add_metric([rtype or "unknown"], n)
        nbytes.add_metric([], int(total_bytes or 0))
        failures.add_metric([], int(failed or 0))
        for state in sorted(set(_STATES) | set(states)):
            snaps.add_metric([state], states.get(state, 0))
        depth.add_metric([], states.get("queued", 0))
        yield from (records, nbytes, failures, snaps, depth)


class Metrics:
    """The registry behind GET /metrics, and what the workers of this process report into it."""

    def __init__(self, archive: Archive) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_IndexCollector(archive))
        self.jobs = Counter(
            "citevault_capture_jobs", "Capture jobs this process finished, by outcome "
            "(done, partial, failed, requeued).", ["outcome"], registry=self.registry,
        )
        self.job_bytes = Counter(
            "citevault_capture_job_bytes", "Bytes of WARC records written by this process's jobs.",
            registry=self.registry,
        )
        self.duration = Histogram(
            "citevault_capture_duration_seconds", "Wall time of capture jobs run by this process.",
            buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600), registry=self.registry,
        )

    def job_finished(self, outcome: str, seconds: float, nbytes: int) -> None:
        self.jobs.labels(outcome=outcome).inc()
        self.duration.observe(seconds)
        if nbytes:
            self.job_bytes.inc(nbytes)

    def render(self) -> bytes:
        return generate_latest(self.registry)
