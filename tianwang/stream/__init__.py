"""Tianwang's event stream on Apache Kafka: applications, verdicts and outcomes.

The service publishes what it accepted (:class:`EventPublisher`, key = application id, value = the
application's JSON as accepted) and consumes what others published: :func:`consume_applications`
reads the applications topic in batches, validates each message as ``tianwang ingest`` validates a
line (:func:`tianwang.ingest.map_line`), writes each batch to the graph store in one idempotent bulk
upsert, and commits the batch's offsets only after it is written. Delivery is at least once (a
consumer killed between the write and the commit reads the batch again); since the store's writes
are idempotent by application id, the graph holds every application exactly once. A message that
does not validate, or an id already stored with other content, is never lost and never stops the
consumer: it goes to the dead-letter topic with its reason and is counted.

The Kafka client (``confluent-kafka``) is an optional extra, ``pip install -e '.[stream]'``: the
embedded single-machine mode never imports it, and nothing here imports it before a Kafka object is
built (:func:`tianwang.stream.kafka.kafka_client`).

| module | holds |
| --- | --- |
| :mod:`tianwang.stream.topics` | topic names, the default consumer group |
| :mod:`tianwang.stream.consumer` | the consumer loop, its report, the source and dead-letter contracts |
| :mod:`tianwang.stream.kafka` | the client (loaded on first use), settings, the Kafka source |
| :mod:`tianwang.stream.publisher` | the producer: events, dead letters, an NDJSON file |
"""

from __future__ import annotations

from tianwang.stream.consumer import (
    ApplicationSource,
    ConsumeReport,
    DeadLetterSink,
    RejectedMessage,
    StreamMessage,
    consume_applications,
)
from tianwang.stream.topics import APPLICATIONS, DEAD_LETTERS, DEFAULT_GROUP, OUTCOMES, VERDICTS

__all__ = [
    "APPLICATIONS",
    "DEAD_LETTERS",
    "DEFAULT_GROUP",
    "OUTCOMES",
    "VERDICTS",
    "ApplicationSource",
    "ConsumeReport",
    "DeadLetterSink",
    "RejectedMessage",
    "StreamMessage",
    "consume_applications",
]
