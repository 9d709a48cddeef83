"""What the service accepted, published on the event stream: applications, verdicts, outcomes.

With ``TIANWANG_KAFKA_BOOTSTRAP`` set, :func:`tianwang.service.open_service` gives the service a
:class:`ServiceEvents` (``service.extras["events"]``), and the use cases publish after their
transaction commits:

* a new decision: the application, its JSON as accepted, on ``tianwang.applications`` (what
  ``tianwang stream consume`` writes into another graph store);
* a verdict (given on an application, a ring, or by closing a case): one event per application on
  ``tianwang.verdicts``;
* an outcome: on ``tianwang.outcomes``.

Every event is keyed by its application id, so one application's events stay in order. A request
never waits on the broker: events are queued in the client (librdkafka), which sends them in the
background and retries while the broker is away; once its queue is full an event is refused and
counted (``tianwang_stream_events_total{outcome="refused"}`` on ``/metrics``), as are events the
broker never acknowledged (``outcome="failed"``). The decision, verdict or outcome itself is
already committed in the operational database and the graph: the stream is a copy for others,
and a refused event is lost to it, not to Tianwang. On shutdown the queue is flushed for up to
``FLUSH_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from tianwang.application import Application
from tianwang.settings import Settings
from tianwang.stream.publisher import EventPublisher
from tianwang.stream.topics import APPLICATIONS, OUTCOMES, VERDICTS

__all__ = ["FLUSH_SECONDS", "ORIGIN_HEADER", "ServiceEvents", "events_from_settings", "publish_application",
           "publish_outcome", "publish_verdict"]

log = logging.getLogger(__name__)

#: how long a stopping service waits for the broker to acknowledge what is queued
FLUSH_SECONDS = 10.0
#: the header naming the process that published an event
ORIGIN_HEADER = "tianwang-origin"


class ServiceEvents:
    """The service's publisher: events offered without waiting, counted by topic and outcome."""

    def __init__(self, publisher: EventPublisher) -> None:
        self.publisher = publisher
        #: names this process on every event it publishes (header ``tianwang-origin``), so that a replica
        #: following the stream (:mod:`tianwang.service.replicas`) skips what it published itself
        self.origin = uuid.uuid4().hex
        self._headers = [(ORIGIN_HEADER, self.origin.encode())]
        self._lock = threading.Lock()
        self.queued: dict[str, int] = {APPLICATIONS: 0, VERDICTS: 0, OUTCOMES: 0}
        self.refused: dict[str, int] = {APPLICATIONS: 0, VERDICTS: 0, OUTCOMES: 0}

    def offer(self, topic: str, application_id: str, value: bytes) -> bool:
        """Queue one event keyed by ``application_id``; ``False`` (counted, logged) when the queue is full."""
        queued = self.publisher.offer(topic, application_id, value, self._headers)
        with self._lock:
            (self.queued if queued else self.refused)[topic] += 1
        if not queued:
            log.warning("event not published: the Kafka client's queue is full", extra={"topic": topic})
        return queued

    def counts(self) -> dict[str, int]:
        """Events by outcome: ``queued``, ``refused`` (queue full), ``delivered`` and ``failed`` (by the broker)."""
        self.publisher.serve()
        with self._lock:
            return {"queued": sum(self.queued.values()), "refused": sum(self.refused.values()),
                    "delivered": self.publisher.delivered, "failed": self.publisher.failed_total}

    def close(self) -> None:
        """Flush what is queued (up to :data:`FLUSH_SECONDS`); what is left is logged, not raised."""
        try:
            self.publisher.flush(FLUSH_SECONDS)
        except Exception as exc:  # a service stopping with the broker away still stops
            log.warning("events not acknowledged at shutdown", extra={"error": str(exc)})


def events_from_settings(settings: Settings) -> ServiceEvents | None:
    """A publisher on ``TIANWANG_KAFKA_BOOTSTRAP``, or ``None`` when it is not set.

    Raises
    ------
    ConfigurationError
        When it is set but the Kafka client (the ``stream`` extra) is not installed.
    """
    if not (settings.kafka_bootstrap or "").strip():
        return None
    return ServiceEvents(EventPublisher(settings.kafka_bootstrap or "", client_id="tianwang-service"))


def _events(extras: Mapping[str, Any]) -> ServiceEvents | None:
    found = extras.get("events")
    return found if isinstance(found, ServiceEvents) else None


def publish_application(extras: Mapping[str, Any], app: Application) -> None:
    """A newly decided application, as accepted (schema v1 JSON)."""
    events = _events(extras)
    if events is not None:
        events.offer(APPLICATIONS, app.application_id, app.model_dump_json().encode())


def publish_verdict(extras: Mapping[str, Any], verdict: Mapping[str, Any], applications: Iterable[str]) -> None:
    """A committed verdict, once per application it judges (the verdict's view, its own application named)."""
    events = _events(extras)
    if events is None:
        return
    for application_id in applications:
        body = {"verdict_id": verdict.get("verdict_id"), "application_id": application_id,
                "fraud": verdict.get("fraud"), "typology": verdict.get("typology"), "source": verdict.get("source"),
                "ring_id": verdict.get("ring_id"), "case_id": verdict.get("case_id"), "at": verdict.get("at")}
        events.offer(VERDICTS, application_id, orjson.dumps(body))


def publish_outcome(extras: Mapping[str, Any], outcome: Mapping[str, Any], *, as_verdict: bool = False) -> None:
    """A committed outcome (its view: id, application, kind, observed_on, counts_as_fraud, at), and whether the
    running detectors took it as a fraud verdict (``as_verdict``: a fraud outcome on an unjudged application)."""
    events = _events(extras)
    if events is not None:
        body = {k: outcome.get(k) for k in ("outcome_id", "application_id", "kind", "observed_on",
                                            "counts_as_fraud", "at")}
        body["as_verdict"] = as_verdict
        events.offer(OUTCOMES, str(outcome["application_id"]), orjson.dumps(body))
