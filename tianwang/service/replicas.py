"""Replicas that agree: every process follows what the others accepted, from the event stream.

Several ``tianwang serve`` processes (replicas behind a load balancer, or the workers of one)
share the graph store and the operational database, so the decision log, cases, verdicts and
the audit log are the same for all of them. What a process keeps in memory is not shared:
``fraud_ring``'s online graph of recent applications, the ring GNN's cached states and the
known-fraud index's additions from verdicts grow only from what *that* process scored or was
told. Behind round-robin, a ring forming across replicas would be seen in parts.

With ``TIANWANG_KAFKA_BOOTSTRAP`` set, each process therefore runs a :class:`ReplicaFeed`:
a consumer of its own (a consumer group named after the process, so every replica reads every
event) on ``tianwang.applications``, ``tianwang.verdicts`` and ``tianwang.outcomes``, which the service publishes
after each commit (:mod:`tianwang.service.events`). For each event another process published
(the header ``tianwang-origin`` names the publisher; a process skips its own):

* an application is observed as if scored here (:meth:`ScoringPipeline.follow
  <tianwang.scoring.pipeline.ScoringPipeline.follow>`: its context as the shared graph stood
  at its submission, handed to every detector's ``observe``);
* a verdict is handed to the pipeline (:meth:`~tianwang.scoring.pipeline.ScoringPipeline.verdict`),
  as when it is posted here;
* an outcome (``tianwang.outcomes``) that the process where it was posted took as a fraud verdict
  (``as_verdict``: a fraud outcome on an application no investigator judged) is taken as one here.

An application the shared graph store does not hold is skipped and counted (``unknown``): another
deployment's event on the same topic.

A new process starts reading at the events of ``since_seconds`` before it started. Nothing
is committed: a restarted replica rebuilds its state from the stream's recent events and the
stored rings. How far behind a replica is: :attr:`ReplicaFeed.lag_seconds` (publish to
observed), on ``/metrics`` as ``tianwang_replica_feed_lag_seconds``. ``bench/replicas.py``
measures what still differs.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from typing import Any

import orjson

from tianwang.application import parse_application
from tianwang.scoring.pipeline import ScoringPipeline
from tianwang.service.events import ORIGIN_HEADER
from tianwang.stream.kafka import build, kafka_client
from tianwang.stream.topics import APPLICATIONS, OUTCOMES, VERDICTS

__all__ = ["ReplicaFeed"]

#: what a replica follows of the others
_FOLLOWED = (APPLICATIONS, VERDICTS, OUTCOMES)

log = logging.getLogger(__name__)


def _ensure_topics(bootstrap: str, topics: tuple[str, ...], timeout: float = 15.0) -> None:
    """Create ``topics`` (the broker's default partitions) unless they exist: a replica may start before
    anything was published, and a consumer does not create what it subscribes to."""
    client = kafka_client()
    admin_module = importlib.import_module("confluent_kafka.admin")
    admin = build(admin_module.AdminClient, {"bootstrap.servers": bootstrap})
    futures = admin.create_topics([admin_module.NewTopic(topic) for topic in topics], operation_timeout=timeout)
    for topic, future in futures.items():
        try:
            future.result(timeout)
        except client.KafkaException as exc:
            if exc.args[0].code() != client.KafkaError.TOPIC_ALREADY_EXISTS:
                log.warning("replica feed could not create a topic", extra={"topic": topic, "reason": str(exc)})


class ReplicaFeed:
    """Follows the other processes' applications, verdicts and outcomes into ``pipeline`` (see the module
    docstring)."""

    def __init__(self, bootstrap: str, origin: str, pipeline: ScoringPipeline, *, since_seconds: float = 60.0,
                 poll_seconds: float = 0.1) -> None:
        self.origin = origin
        self.pipeline = pipeline
        self.poll_seconds = poll_seconds
        self._start_ms = int((time.time() - since_seconds) * 1000)
        self._consumer: Any = build(kafka_client().Consumer, {
            "bootstrap.servers": bootstrap,
            "group.id": f"tianwang-replica-{origin}",
            "client.id": f"tianwang-replica-{origin[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",
            "topic.metadata.refresh.interval.ms": 5000,
        })
        self._bootstrap = bootstrap
        self._lock = threading.Lock()
        self.counts = {"applications": 0, "verdicts": 0, "outcomes": 0, "own": 0, "unknown": 0, "failed": 0}
        #: seconds from an event's publication to its observation here, for the latest event of another process
        self.lag_seconds = 0.0
        self._stop = threading.Event()
        self._assigned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tianwang-replica-feed", daemon=True)

    def start(self) -> ReplicaFeed:
        """Start following in a thread of its own (a broker away delays the feed, not the service's start)."""
        self._thread.start()
        return self

    def wait_assigned(self, timeout: float) -> bool:
        """Whether the consumer has its partitions (it reads nothing before); waits up to ``timeout`` seconds."""
        return self._assigned.wait(timeout)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        """Start every partition at the first event of ``since_seconds`` before this process started."""
        for partition in partitions:
            partition.offset = self._start_ms
        try:
            consumer.assign(consumer.offsets_for_times(partitions, timeout=10))
        except Exception as exc:  # no time index reachable: read from the end, as a new group does
            log.warning("replica feed starts at the end of the stream", extra={"error": str(exc)})
        self._assigned.set()

    def _run(self) -> None:
        try:
            _ensure_topics(self._bootstrap, _FOLLOWED)
            self._consumer.subscribe(list(_FOLLOWED), on_assign=self._on_assign)
        except Exception as exc:  # the consumer is unusable: say so once, the service goes on without the feed
            log.error("replica feed could not subscribe", extra={"error": str(exc)})
            return
        while not self._stop.is_set():
            try:
                message = self._consumer.poll(self.poll_seconds)
            except Exception as exc:  # the client keeps reconnecting; the feed must not die with it
                log.warning("replica feed poll failed", extra={"error": type(exc).__name__})
                time.sleep(1.0)
                continue
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() != kafka_client().KafkaError._PARTITION_EOF:
                    log.warning("replica feed error", extra={"reason": message.error().str()})
                continue
            self._handle(message)

    def _handle(self, message: Any) -> None:
        origin = dict(message.headers() or ()).get(ORIGIN_HEADER, b"").decode(errors="replace")
        if origin == self.origin:
            with self._lock:
                self.counts["own"] += 1
            return
        topic = message.topic()
        try:
            if topic == APPLICATIONS:
                application = parse_application(message.value())
                if self.pipeline.store.get_application(application.application_id) is None:
                    # not in the shared store: another deployment's event on the same topic
                    with self._lock:
                        self.counts["unknown"] += 1
                    return
                self.pipeline.follow(application)
            elif topic == VERDICTS:
                body = orjson.loads(message.value())
                if body.get("application_id") and body.get("fraud") is not None:
                    self.pipeline.verdict(str(body["application_id"]), bool(body["fraud"]), body.get("typology"))
            elif topic == OUTCOMES:
                body = orjson.loads(message.value())
                if not (body.get("as_verdict") and body.get("application_id")):
                    return  # an outcome the detectors did not take as a verdict where it was posted
                self.pipeline.verdict(str(body["application_id"]), True, body.get("kind"))
            else:
                return
        except Exception as exc:  # one bad event is logged and counted, the feed goes on
            log.warning("replica feed could not follow an event", extra={"topic": topic,
                                                                         "error": type(exc).__name__})
            with self._lock:
                self.counts["failed"] += 1
            return
        kind, stamp = message.timestamp()
        with self._lock:
            self.counts[{APPLICATIONS: "applications", VERDICTS: "verdicts"}.get(topic, "outcomes")] += 1
            if kind and stamp > 0:
                self.lag_seconds = max(0.0, time.time() - stamp / 1000.0)

    def snapshot(self) -> dict[str, Any]:
        """Events followed by kind (``applications``, ``verdicts``, ``outcomes``), skipped (``own``, ``unknown``),
        ``failed``;
        the lag; whether the consumer has its partitions (``assigned``)."""
        with self._lock:
            return {**self.counts, "lag_seconds": self.lag_seconds, "assigned": self._assigned.is_set()}

    def stop(self) -> None:
        """Stop reading and leave the group (nothing to commit: the feed keeps no offsets)."""
        self._stop.set()
        self._thread.join(timeout=10)
        try:
            self._consumer.close()
        except Exception as exc:  # a broker away at shutdown: the group expires the member on its own
            log.warning("replica feed did not close cleanly", extra={"error": type(exc).__name__})
