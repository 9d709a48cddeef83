"""The Kafka client, loaded on first use, and the Kafka side of the consumer loop.

``confluent-kafka`` is an optional extra (``pip install -e '.[stream]'``); :func:`kafka_client`
imports it and says how to install it when it is missing. The brokers come from
``TIANWANG_KAFKA_BOOTSTRAP`` (:func:`bootstrap_servers`).
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from tianwang.errors import ConfigurationError, StreamError
from tianwang.settings import Settings
from tianwang.stream.consumer import StreamMessage

__all__ = ["KafkaSource", "bootstrap_servers", "build", "client_logger", "kafka_client"]

logger = logging.getLogger(__name__)
#: where librdkafka's own log lines go (instead of raw lines on standard error)
client_logger = logging.getLogger("tianwang.stream.librdkafka")

_INSTALL = "pip install -e '.[stream]'"


def kafka_client() -> ModuleType:
    """The ``confluent_kafka`` module.

    Raises
    ------
    ConfigurationError
        When it is not installed, saying how to install it.
    """
    try:
        return importlib.import_module("confluent_kafka")
    except ImportError:
        raise ConfigurationError(
            f"the event stream needs the Kafka client confluent-kafka, which is not installed: {_INSTALL} "
            "(the embedded single-machine mode does not need it)"
        ) from None


def bootstrap_servers(settings: Settings, given: str | None = None) -> str:
    """The brokers to connect to: ``given``, else ``TIANWANG_KAFKA_BOOTSTRAP``.

    Raises
    ------
    ConfigurationError
        When neither names one.
    """
    servers = (given or settings.kafka_bootstrap or "").strip()
    if not servers:
        raise ConfigurationError(
            "TIANWANG_KAFKA_BOOTSTRAP is not set: give the Kafka brokers as host:port[,host:port...] "
            "(scripts/kafka-dev.sh start prints one for a dev broker)"
        )
    return servers


def _client_error(error: Any) -> None:
    """librdkafka's errors outside any message (brokers unreachable, a name that does not resolve): logged."""
    logger.warning("Kafka client error", extra={"code": error.name(), "reason": error.str()})


def build(kind: Any, config: dict[str, Any]) -> Any:
    """A producer or consumer of ``config``; a setting the client refuses raises :class:`StreamError`.

    Errors the client meets later outside a message (all brokers down, say) are logged as warnings;
    the client keeps trying to reach them.
    """
    try:
        return kind({"error_cb": _client_error, "logger": client_logger, **config})
    except (kafka_client().KafkaException, ValueError, TypeError) as exc:
        raise StreamError(f"the Kafka client refused its settings: {exc}") from None


class KafkaSource:
    """The applications topic read by one member of a consumer group, offsets committed by hand.

    Auto-commit is off: an offset is committed only through :meth:`commit`, after its batch is
    written. A group with no committed offset starts at the earliest message.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        *,
        session_timeout_ms: int = 10_000,
        client_id: str = "tianwang-graph-writer",
    ) -> None:
        client = kafka_client()
        self._client = client
        self.topic = topic
        self._consumer: Any = build(client.Consumer, {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # a consumer killed without leaving the group holds its partitions this long
            "session.timeout.ms": session_timeout_ms,
        })
        self._consumer.subscribe([topic])

    def poll_batch(self, max_messages: int, timeout: float) -> list[StreamMessage]:
        batch: list[StreamMessage] = []
        for message in self._consumer.consume(num_messages=max_messages, timeout=timeout):
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise StreamError(f"the Kafka consumer failed: {error.str()}")
                # transient (a broker away, a partition's end): librdkafka retries on its own
                logger.warning("Kafka consumer error", extra={"code": error.name(), "reason": error.str()})
                continue
            batch.append(StreamMessage(message.topic(), message.partition(), message.offset(), message.key(),
                                       message.value()))
        return batch

    def commit(self, next_offsets: dict[tuple[str, int], int]) -> None:
        offsets = [self._client.TopicPartition(topic, partition, offset)
                   for (topic, partition), offset in next_offsets.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except self._client.KafkaException as exc:
            # The batch is written; a commit that fails (the group rebalanced, the coordinator moved)
            # only means its messages are read again, and written again as unchanged.
            logger.warning("offsets not committed; the batch will be read again",
                           extra={"reason": str(exc.args[0].str() if exc.args else exc)})

    def has_partitions(self) -> bool:
        return bool(self._consumer.assignment())

    def close(self) -> None:
        """Leave the group (its partitions go to the other members at once)."""
        self._consumer.close()

    def __enter__(self) -> KafkaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
