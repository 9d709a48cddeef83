"""``tianwang stream publish`` and ``tianwang stream consume``: the event stream on Apache Kafka.

Both need the ``stream`` extra (``pip install -e '.[stream]'``) and the brokers in
``TIANWANG_KAFKA_BOOTSTRAP`` (or ``--bootstrap``); without either they say so and exit with status 2.
"""

from __future__ import annotations

import signal
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from tianwang.cli.common import (
    DbOption,
    StoreOption,
    console,
    fail_cleanly,
    open_graph_for,
    out,
    settings_for,
    stop_on_signals,
)
from tianwang.cli.terminal import safe
from tianwang.stream.consumer import ConsumeReport, consume_applications
from tianwang.stream.kafka import KafkaSource, bootstrap_servers
from tianwang.stream.publisher import DeadLetterTopic, EventPublisher, publish_file
from tianwang.stream.topics import APPLICATIONS, DEAD_LETTERS, DEFAULT_GROUP

__all__ = ["register"]

_MAX_ERRORS_SHOWN = 20

BootstrapOption = Annotated[
    str | None,
    typer.Option("--bootstrap", help="Kafka brokers, host:port[,host:port...]; default TIANWANG_KAFKA_BOOTSTRAP."),
]
TopicOption = Annotated[str, typer.Option("--topic", help="The applications topic.")]


def _print_consume_report(report: ConsumeReport) -> None:
    for rejected in list(report.rejections)[-_MAX_ERRORS_SHOWN:]:
        console.print(f"[yellow]rejected[/yellow] {safe(rejected)}")
    if report.rejected > min(len(report.rejections), _MAX_ERRORS_SHOWN):
        console.print(f"… {report.rejected} rejected in all (the dead-letter topic has each one)")
    state = "[yellow]stopped on a signal after the batch in hand[/yellow]" if report.interrupted else "done"
    out.print(
        f"{state}: {report.messages} messages in {report.batches} batches, {report.created} new, "
        f"{report.unchanged} unchanged, {report.rejected} rejected in {report.seconds:.1f} s "
        f"({report.per_second:,.0f} messages/s)"
    )


def register(app: typer.Typer) -> None:
    """Add the ``stream`` group (``publish``, ``consume``) to ``app``."""
    stream = typer.Typer(help="The event stream on Apache Kafka (needs pip install -e '.\\[stream]').",
                         no_args_is_help=True)
    app.add_typer(stream, name="stream")

    @stream.command()
    def publish(
        file: Annotated[
            Path,
            typer.Argument(exists=True, dir_okay=False, readable=True, help="NDJSON file, one application per line."),
        ],
        topic: TopicOption = APPLICATIONS,
        bootstrap: BootstrapOption = None,
    ) -> None:
        """Publish the valid applications of an NDJSON file to the applications topic, keyed by id.

        Each line is validated as `tianwang ingest` validates it; bad lines are reported by line
        number and not published. Returns once the broker acknowledged every published line.
        Exit status: 0 when done (bad lines included), 2 on a configuration or Kafka error.
        """
        with fail_cleanly():
            servers = bootstrap_servers(settings_for(), bootstrap)
            with EventPublisher(servers, client_id="tianwang-publish") as publisher:
                report = publish_file(file, publisher, topic=topic)
        for error in report.errors[:_MAX_ERRORS_SHOWN]:
            console.print(f"[yellow]rejected[/yellow] {safe(error)}")
        if report.rejected > _MAX_ERRORS_SHOWN:
            console.print(f"… and {report.rejected - _MAX_ERRORS_SHOWN} more rejected lines")
        out.print(f"published {report.published} of {report.lines} lines to {safe(topic)} "
                  f"({report.rejected} rejected)")

    @stream.command()
    def consume(
        topic: TopicOption = APPLICATIONS,
        group: Annotated[str, typer.Option("--group", help="Consumer group; its committed offsets say where "
                                                         "to go on.")] = DEFAULT_GROUP,
        batch_size: Annotated[int, typer.Option(min=1, help="Messages per batch: one write, one commit.")] = 500,
        max_messages: Annotated[
            int | None, typer.Option(min=1, help="Stop after this many messages (default: run until a signal).")
        ] = None,
        idle_exit: Annotated[
            float | None,
            typer.Option("--idle-exit", min=0, help="Stop once no message came for this many seconds."),
        ] = None,
        dead_letter_topic: Annotated[
            str, typer.Option("--dead-letter-topic", help="Where rejected messages go, with their reason.")
        ] = DEAD_LETTERS,
        session_timeout: Annotated[
            float, typer.Option(min=6, max=300, help="Seconds a consumer that died holds its partitions.")
        ] = 10.0,
        bootstrap: BootstrapOption = None,
        store: StoreOption = None,
        db: DbOption = None,
    ) -> None:
        """Write the applications of the stream into the graph, in idempotent batches.

        Offsets are committed only after a batch is written: a consumer killed at any point loses
        nothing, and the batch it read again is stored once (applications already stored count
        as unchanged). Messages that do not validate go to the dead-letter topic with their
        reason. SIGTERM or Ctrl-C stop after the batch in hand. Exit status: 0 when stopped,
        2 on a configuration, store or Kafka error (the batch in hand is then read again later).
        """
        with fail_cleanly(), ExitStack() as stack:
            servers = bootstrap_servers(settings_for(db), bootstrap)
            source = stack.enter_context(KafkaSource(servers, topic, group,
                                                     session_timeout_ms=int(session_timeout * 1000)))
            graph = open_graph_for(store, db)
            stack.callback(graph.close)
            publisher = stack.enter_context(EventPublisher(servers, client_id="tianwang-dead-letters"))
            stop = stack.enter_context(stop_on_signals(signal.SIGTERM, signal.SIGINT))
            report = consume_applications(
                source, graph, dead_letters=DeadLetterTopic(publisher, dead_letter_topic), batch_size=batch_size,
                max_messages=max_messages, idle_seconds=idle_exit, stop=stop)
        _print_consume_report(report)
