"""The consumer loop: applications from the stream into the graph, in idempotent batches, at least once.

One turn of the loop takes up to ``batch_size`` messages, validates and maps each one with the
function ``tianwang ingest`` uses for a line (:func:`tianwang.ingest.map_line`), writes the valid
ones in one bulk upsert (:meth:`~graph_schema.store.GraphStore.write_rows`, idempotent by application
id), hands the rejected ones to the dead-letter sink and waits until it has them, and only then
commits the offsets after the batch. A process killed anywhere in a turn has committed nothing of
it: the next consumer of the group reads the batch again, and the store counts the applications it
already holds as unchanged. Nothing is duplicated and nothing is lost.

A store that fails raises (:class:`~tianwang.errors.StoreError`) with the batch uncommitted: the
messages are read again once a consumer runs again. Log lines name a message by topic, partition and
offset and give validation's reason (field names, never values); no payload is ever logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from graph_schema.mapping import ApplicationRow
from tianwang.errors import shown_id
from tianwang.ingest import LineError, RowWriter, map_line

__all__ = [
    "ApplicationSource",
    "ConsumeReport",
    "DeadLetterSink",
    "RejectedMessage",
    "StreamMessage",
    "consume_applications",
]

logger = logging.getLogger(__name__)

#: rejected messages a report keeps for display (all are counted, and all go to the dead-letter sink)
_REJECTIONS_KEPT = 100
_NO_VALUE = "(application): the message has no value"
_CONFLICT = "application_id is already stored with different content (applications are immutable)"


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One message as the loop sees it: where it is in the stream, and its bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def position(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class ApplicationSource(Protocol):
    """Where the loop reads messages and commits what it has written (:class:`~tianwang.stream.kafka.KafkaSource`)."""

    def poll_batch(self, max_messages: int, timeout: float) -> list[StreamMessage]:
        """Up to ``max_messages`` messages, waiting at most ``timeout`` seconds for the first ones."""
        ...

    def commit(self, next_offsets: dict[tuple[str, int], int]) -> None:
        """Commit, for each (topic, partition), the offset of the next message to read; synchronous."""
        ...

    def has_partitions(self) -> bool:
        """Whether partitions are assigned to this reader now (a group hands them out after a join)."""
        ...


class DeadLetterSink(Protocol):
    """Where rejected messages go, with their reason (:class:`~tianwang.stream.publisher.DeadLetterTopic`)."""

    def send(self, message: StreamMessage, reason: str) -> None: ...

    def flush(self) -> None:
        """Return once every message sent is stored; raise when one cannot be."""
        ...


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    """A message that did not go into the graph, and why (field names and reasons, no values)."""

    topic: str
    partition: int
    offset: int
    reason: str
    application_id: str | None = None

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}: {self.reason}"


@dataclass(slots=True)
class ConsumeReport:
    """What a run of the consumer did."""

    messages: int = 0
    created: int = 0
    unchanged: int = 0
    rejected: int = 0
    batches: int = 0
    #: the latest rejected messages (at most 100; :attr:`rejected` counts them all)
    rejections: deque[RejectedMessage] = field(default_factory=lambda: deque(maxlen=_REJECTIONS_KEPT))
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def consume_applications(
    source: ApplicationSource,
    store: RowWriter,
    *,
    dead_letters: DeadLetterSink | None = None,
    batch_size: int = 500,
    max_messages: int | None = None,
    idle_seconds: float | None = None,
    stop: threading.Event | None = None,
    poll_seconds: float = 1.0,
    on_batch: Callable[[ConsumeReport], None] | None = None,
) -> ConsumeReport:
    """Read applications from ``source`` and write them into ``store`` until told to stop.

    Parameters
    ----------
    source : ApplicationSource
        The messages, and where their offsets are committed.
    store : RowWriter
        The graph store (its ``write_rows`` is idempotent by application id).
    dead_letters : DeadLetterSink, optional
        Where rejected messages go; without one they are only counted and logged (by position).
    batch_size : int
        Messages per batch: one bulk upsert and one commit each.
    max_messages : int, optional
        Stop after this many messages (all written and committed).
    idle_seconds : float, optional
        Stop once no message came for this long while the source held partitions (a consumer that
        joins its group waits for them first, up to the session timeout of a member that died);
        by default the loop runs until ``stop``.
    stop : threading.Event, optional
        Once set, the batch in hand is written and committed and the loop returns, ``interrupted`` set.
    poll_seconds : float
        How long one poll waits for messages.
    on_batch : callable, optional
        Called with the report after each committed batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got: {batch_size}")
    if max_messages is not None and max_messages < 1:
        raise ValueError(f"max_messages must be at least 1, got: {max_messages}")
    if idle_seconds is not None and idle_seconds < 0:
        raise ValueError(f"idle_seconds must be 0 or more, got: {idle_seconds}")
    report = ConsumeReport()
    started = last_message = time.monotonic()
    while True:
        if stop is not None and stop.is_set():
            report.interrupted = True
            break
        wanted = batch_size if max_messages is None else min(batch_size, max_messages - report.messages)
        if wanted <= 0:
            break
        messages = source.poll_batch(wanted, poll_seconds)
        if not messages:
            if not source.has_partitions():
                last_message = time.monotonic()  # still joining its group: not idle yet
            elif idle_seconds is not None and time.monotonic() - last_message >= idle_seconds:
                break
            continue
        last_message = time.monotonic()
        _write_batch(messages, store, dead_letters, report)
        source.commit(_next_offsets(messages))
        report.batches += 1
        logger.info("batch committed", extra={"messages": len(messages), "total": report.messages,
                                              "new": report.created, "unchanged": report.unchanged,
                                              "rejected": report.rejected})
        if on_batch is not None:
            on_batch(report)
    report.seconds = time.monotonic() - started
    return report


def _write_batch(
    messages: list[StreamMessage], store: RowWriter, dead_letters: DeadLetterSink | None, report: ConsumeReport
) -> None:
    """Write the batch's valid applications, reject the others; return once both are stored."""
    rows: list[ApplicationRow] = []
    message_of: dict[str, StreamMessage] = {}

    def reject(message: StreamMessage, reason: str, application_id: str | None) -> None:
        report.rejected += 1
        report.rejections.append(
            RejectedMessage(message.topic, message.partition, message.offset, reason, application_id))
        logger.warning("message rejected", extra={"position": message.position, "reason": reason,
                                                  "application_id": shown_id(application_id or "")})
        if dead_letters is not None:
            dead_letters.send(message, reason)

    def write() -> None:
        nonlocal rows, message_of
        if not rows:
            return
        result = store.write_rows(rows)
        report.created += result.created
        report.unchanged += result.unchanged
        for application_id in result.conflicts:
            reject(message_of[application_id], _CONFLICT, application_id)
        rows, message_of = [], {}

    for message in messages:
        report.messages += 1
        if message.value is None:
            reject(message, _NO_VALUE, None)
            continue
        item = map_line(message.offset, message.value, store.keyer)
        if isinstance(item, LineError):
            reject(message, item.reason, item.application_id)
            continue
        if item.application_id in message_of:
            # the same id twice in one batch: the first is written before the second is compared with it
            write()
        rows.append(item)
        message_of[item.application_id] = message
    write()
    if dead_letters is not None:
        dead_letters.flush()


def _next_offsets(messages: list[StreamMessage]) -> dict[tuple[str, int], int]:
    """For each (topic, partition) of the batch, the offset after its last message."""
    after: dict[tuple[str, int], int] = {}
    for message in messages:
        where = (message.topic, message.partition)
        after[where] = max(after.get(where, 0), message.offset + 1)
    return after
