"""Publishing to the event stream: applications, verdicts, outcomes, dead letters, an NDJSON file.

The producer is idempotent (``enable.idempotence``: acknowledged by every in-sync replica, retried
without duplicates or reordering within a partition). Every event is keyed by its application id,
so the events of one application stay in order in one partition. :meth:`EventPublisher.flush`
returns once every event is acknowledged and raises :class:`~tianwang.errors.StreamError` when one
could not be delivered; nothing here logs a payload.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tianwang.application import parse_application
from tianwang.errors import ApplicationValidationError, StreamError
from tianwang.ingest import LineError
from tianwang.ndjson import TOO_LONG, read_lines
from tianwang.stream.consumer import StreamMessage
from tianwang.stream.kafka import build, kafka_client
from tianwang.stream.topics import APPLICATIONS, DEAD_LETTERS, OUTCOMES, VERDICTS

__all__ = ["DeadLetterTopic", "EventPublisher", "PublishReport", "publish_file"]

_FLUSH_SECONDS = 60.0
#: headers of a dead letter: why it was rejected, and where it was in the stream
REASON_HEADER = "tianwang.reason"
SOURCE_HEADER = "tianwang.source"


class EventPublisher:
    """An idempotent Kafka producer for the stream's topics.

    Examples
    --------
    >>> with EventPublisher("127.0.0.1:9092") as events:  # doctest: +SKIP
    ...     events.application("APP-1", b'{"application_id": "APP-1", ...}')
    """

    def __init__(self, bootstrap: str, *, client_id: str = "tianwang", linger_ms: int = 20) -> None:
        self._producer: Any = build(kafka_client().Producer, {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "enable.idempotence": True,
            "linger.ms": linger_ms,
        })
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        #: events that could not be delivered since the publisher was made (:attr:`failed` resets at each flush)
        self.failed_total = 0
        self._first_failure: str | None = None

    def publish(self, topic: str, key: str | bytes | None, value: bytes,
                headers: list[tuple[str, bytes]] | None = None) -> None:
        """Queue one event; it is delivered in the background (:meth:`flush` waits for it)."""
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=self._delivered)
                break
            except BufferError:  # the local queue is full: serve delivery reports until there is room
                self._producer.poll(0.5)
        self._producer.poll(0)

    def offer(self, topic: str, key: str | bytes | None, value: bytes,
              headers: list[tuple[str, bytes]] | None = None) -> bool:
        """Queue one event if the local queue has room, without waiting; whether it was queued.

        For a caller that must not wait on the broker (a request being answered): with the broker
        away, librdkafka queues up to ``queue.buffering.max.messages`` events and retries them;
        past that an event is refused here, and the caller counts it.
        """
        try:
            self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=self._delivered)
        except BufferError:
            return False
        self._producer.poll(0)
        return True

    def serve(self) -> None:
        """Serve delivery reports waiting (the counters catch up) without blocking."""
        self._producer.poll(0)

    def application(self, application_id: str, application_json: bytes) -> None:
        """An accepted application, its JSON as accepted."""
        self.publish(APPLICATIONS, application_id, application_json)

    def verdict(self, application_id: str, verdict_json: bytes) -> None:
        """The service's verdict on an application."""
        self.publish(VERDICTS, application_id, verdict_json)

    def outcome(self, application_id: str, outcome_json: bytes) -> None:
        """What became of an application later (a label)."""
        self.publish(OUTCOMES, application_id, outcome_json)

    def flush(self, timeout: float = _FLUSH_SECONDS) -> None:
        """Wait until every queued event is acknowledged.

        Raises
        ------
        StreamError
            When events are still queued after ``timeout`` seconds, or one could not be delivered.
        """
        left = self._producer.flush(timeout)
        if left:
            raise StreamError(f"{left} events were not acknowledged within {timeout:g} s; is the broker up?")
        with self._lock:
            failed, first, self.failed, self._first_failure = self.failed, self._first_failure, 0, None
        if failed:
            raise StreamError(f"{failed} events could not be delivered (first: {first})")

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.close()
        else:  # already failing: deliver what can be, without hiding the first error
            self._producer.flush(_FLUSH_SECONDS)

    def _delivered(self, error: Any, message: Any) -> None:
        with self._lock:
            if error is None:
                self.delivered += 1
            else:
                self.failed += 1
                self.failed_total += 1
                if self._first_failure is None:
                    self._first_failure = f"{message.topic()}: {error.str()}"


class DeadLetterTopic:
    """The dead-letter sink of the consumer loop: the message as it came, its reason and position in headers."""

    def __init__(self, publisher: EventPublisher, topic: str = DEAD_LETTERS) -> None:
        self.publisher = publisher
        self.topic = topic

    def send(self, message: StreamMessage, reason: str) -> None:
        self.publisher.publish(self.topic, message.key, message.value or b"", headers=[
            (REASON_HEADER, reason.encode()), (SOURCE_HEADER, message.position.encode())])

    def flush(self) -> None:
        self.publisher.flush()


@dataclass(slots=True)
class PublishReport:
    """What publishing a file did."""

    path: str
    lines: int = 0
    published: int = 0
    errors: list[LineError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)


def publish_file(path: str | Path, publisher: EventPublisher, *, topic: str = APPLICATIONS) -> PublishReport:
    """Publish every valid application of an NDJSON file, keyed by its id; report the others by line.

    Each line is validated as ``tianwang ingest`` validates it (schema v1) and published as it is
    (its JSON, without the line break). Returns once every published line is acknowledged.

    Raises
    ------
    StreamError
        When the broker did not take every line (the message says how many).
    """
    report = PublishReport(path=str(path))
    with open(path, "rb") as lines:
        for number, raw, _size in read_lines(lines):
            if raw is None:
                report.lines += 1
                report.errors.append(LineError(number, TOO_LONG))
                continue
            line = raw.strip()
            if not line:
                continue
            report.lines += 1
            try:
                application = parse_application(line)
            except ApplicationValidationError as exc:
                report.errors.append(LineError(number, "; ".join(str(e) for e in exc.errors), exc.application_id))
                continue
            publisher.publish(topic, application.application_id, line)
            report.published += 1
    publisher.flush()
    return report
