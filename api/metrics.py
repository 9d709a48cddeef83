"""The service's Prometheus metrics (``GET /metrics``).

| metric | type | labels |
| --- | --- | --- |
| ``tianwang_http_request_duration_seconds`` | histogram | ``method``, ``route`` (template), ``status`` (``2xx``) |
| ``tianwang_decisions_total`` | counter | ``band`` |
| ``tianwang_detector_duration_seconds`` | histogram | ``detector`` |
| ``tianwang_detector_failures_total`` | counter | ``detector``, ``status`` (``error``, ``timeout``) |
| ``tianwang_open_cases`` | gauge | (cases not closed, read at scrape time) |
| ``tianwang_webhook_backlog`` | gauge | (webhook events pending delivery, read at scrape time) |
| ``tianwang_graph_outbox_pending`` | gauge | (applications waiting for the graph store) |
| ``tianwang_graph_store_up`` | gauge | (1 while the answering process counts the graph store as up) |
| ``tianwang_ring_index_rings`` | gauge | (rings ``fraud_ring`` scores with in the answering process; 0 until loaded) |
| ``tianwang_ring_index_renewing`` | gauge | (1 while that process loads or detects its rings in the background) |
| ``tianwang_native_memory_bytes`` | gauge | ``pool``: ``sqlite``, ``malloc_in_use``, ``malloc_free`` |
| ``tianwang_stream_events_total`` | counter | ``outcome`` (with ``TIANWANG_KAFKA_BOOTSTRAP``: events published) |
| ``tianwang_replica_feed_events_total`` | counter | ``kind``: ``applications``, ``verdicts``, ``own``, ``unknown``... |
| ``tianwang_replica_feed_lag_seconds`` | gauge | (publication to observation of the latest followed event) |
| ``tianwang_replica_feed_assigned`` | gauge | (1 once the feed's consumer has its partitions) |

Labels never hold a raw path, an application id or any personal value: routes are
named by their template (``/v1/decisions/{decision_id}``), requests that match no route
by ``<unmatched>``. With several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (an
empty directory) before starting them: each worker then writes its samples there and
``/metrics`` adds them up.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from tianwang.native_memory import native_memory
from tianwang.opsdb.models import Case, OutboxEvent
from tianwang.service import Service

__all__ = ["CONTENT_TYPE", "DECISIONS", "DETECTOR_FAILURES", "DETECTOR_SECONDS", "REGISTRY", "REQUEST_SECONDS",
           "observe_decision", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: the process's own metrics (not prometheus-client's global registry: tests build many applications)
REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

REQUEST_SECONDS = Histogram("tianwang_http_request_duration_seconds", "HTTP request latency, by route template.",
                            ["method", "route", "status"], buckets=_LATENCY_BUCKETS, registry=REGISTRY)
DECISIONS = Counter("tianwang_decisions", "Decisions made, by band (replays of an earlier decision not counted).",
                    ["band"], registry=REGISTRY)
DETECTOR_SECONDS = Histogram("tianwang_detector_duration_seconds", "Time a detector took on one application.",
                             ["detector"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
                             registry=REGISTRY)
DETECTOR_FAILURES = Counter("tianwang_detector_failures", "Active detectors left out of a decision for an error "
                            "or a timeout.", ["detector", "status"], registry=REGISTRY)

_FAILED = frozenset({"error", "timeout", "unavailable"})


def observe_decision(decision: Mapping[str, Any]) -> None:
    """Count a decision just made: its band, each detector's time and the detectors that failed."""
    DECISIONS.labels(str(decision.get("band", "unknown"))).inc()
    for vote in decision.get("votes", ()):
        detector, status, ms = vote.get("detector"), vote.get("status"), vote.get("ms")
        if not detector:
            continue
        if status != "skipped" and isinstance(ms, int | float):
            DETECTOR_SECONDS.labels(detector).observe(ms / 1000.0)
    for left in decision.get("left_out", ()):
        if left.get("status") in _FAILED and left.get("detector"):
            DETECTOR_FAILURES.labels(left["detector"], left["status"]).inc()


class _QueueCollector(Collector):
    """Open cases and the webhook backlog, counted in the operational database at scrape time."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self.service.ops.session() as session:
            open_cases = session.scalar(select(func.count()).select_from(Case).where(Case.status != "closed"))
            backlog = session.scalar(select(func.count()).select_from(OutboxEvent)
                                     .where(OutboxEvent.status == "pending"))
        yield GaugeMetricFamily("tianwang_open_cases", "Cases not closed (open or in progress).", value=open_cases or 0)
        yield GaugeMetricFamily("tianwang_webhook_backlog", "Webhook events waiting for delivery.", value=backlog or 0)
        gate = self.service.runtime.pipeline.gate
        if gate.outbox is not None:
            yield GaugeMetricFamily("tianwang_graph_outbox_pending", "Applications waiting for the graph store "
                                    "(scored without graph evidence).", value=gate.outbox.refresh())
        yield GaugeMetricFamily("tianwang_graph_store_up", "1 while this process counts the graph store as up.",
                                value=0 if gate.down else 1)
        in_force = self.service.runtime.pipeline.in_force  # not .loaded: a scrape must not reload or bind
        rings = getattr(in_force.detectors.get("fraud_ring"), "rings", None) if in_force is not None else None
        if rings is not None:  # a service just started loads the stored rings in the background (minutes at 1M)
            yield GaugeMetricFamily("tianwang_ring_index_rings", "Rings fraud_ring scores with in this process "
                                    "(0 until they are loaded).", value=len(rings.index) if rings.index else 0)
            yield GaugeMetricFamily("tianwang_ring_index_renewing", "1 while this process loads or detects its "
                                    "rings in the background.", value=1 if rings.renewing else 0)
        memory = native_memory()
        pools = GaugeMetricFamily("tianwang_native_memory_bytes", "Native memory of the process that answered: "
                                  "SQLite's allocator (page caches), glibc heap in use and held free.", labels=["pool"])
        for pool, value in (("sqlite", memory.sqlite_bytes), ("malloc_in_use", memory.malloc_in_use_bytes),
                            ("malloc_free", memory.malloc_free_bytes)):
            if value is not None:
                pools.add_metric([pool], value)
        yield pools
        events = self.service.extras.get("events")
        if events is not None:  # TIANWANG_KAFKA_BOOTSTRAP set: what this process published (tianwang.service.events)
            published = CounterMetricFamily("tianwang_stream_events", "Events of the process that answered, by "
                                            "outcome: queued for Kafka, refused (client queue full), delivered and "
                                            "failed (not acknowledged by the broker).", labels=["outcome"])
            for outcome, count in events.counts().items():
                published.add_metric([outcome], count)
            yield published
        feed = self.service.extras.get("replica_feed")
        if feed is not None:  # what this process followed of the other replicas (tianwang.service.replicas)
            state = feed.snapshot()
            followed = CounterMetricFamily("tianwang_replica_feed_events", "Events of other processes this process "
                                           "followed, by kind; skipped: its own (own) and those of applications "
                                           "not in its store (unknown); failed.", labels=["kind"])
            for kind in ("applications", "verdicts", "outcomes", "own", "unknown", "failed"):
                followed.add_metric([kind], state[kind])
            yield followed
            yield GaugeMetricFamily("tianwang_replica_feed_lag_seconds", "Seconds from the publication of the "
                                    "latest followed event to its observation here.", value=state["lag_seconds"])
            yield GaugeMetricFamily("tianwang_replica_feed_assigned", "1 once the feed's consumer has its partitions "
                                    "(it follows nothing before).", value=1.0 if state["assigned"] else 0.0)


def render(service: Service) -> bytes:
    """The text exposition of every metric, the database gauges read now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        out = generate_latest(registry)
    else:
        out = generate_latest(REGISTRY)
    queues = CollectorRegistry(auto_describe=False)
    queues.register(_QueueCollector(service))
    return out + generate_latest(queues)
