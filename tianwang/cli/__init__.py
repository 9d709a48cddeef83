"""The ``tianwang`` command line.

One module per group of commands, each with a ``register(app)`` that adds its commands;
this module only creates the application and registers them, in the order ``--help``
lists them. Every command has ``--help``. Store selection follows the settings
(``TIANWANG_STORE``, ``TIANWANG_NEO4J_URI``, ``TIANWANG_DB_PATH``) unless ``--store`` /
``--db`` say otherwise; commands get their store and pipeline from the composition root
(:mod:`tianwang.runtime`).

| module | commands |
| --- | --- |
| :mod:`tianwang.cli.graph` | ``ingest``, ``stats``, ``migrate`` |
| :mod:`tianwang.cli.backup` | ``backup``, ``restore`` |
| :mod:`tianwang.cli.demo` | ``demo`` |
| :mod:`tianwang.cli.fixtures` | ``fixtures generate`` |
| :mod:`tianwang.cli.scoring` | ``score``, ``evaluate``, ``backtest`` |
| :mod:`tianwang.cli.train` | ``train`` |
| :mod:`tianwang.cli.rings` | ``rings detect`` |
| :mod:`tianwang.cli.similarity` | ``similarity rebuild`` |
| :mod:`tianwang.cli.service` | ``serve``, ``keys create/list/revoke``, ``users add``, ``audit verify`` |
| :mod:`tianwang.cli.vault` | ``vault status``, ``vault rotate``, ``vault new-key`` |
| :mod:`tianwang.cli.rekey` | ``rekey`` |
| :mod:`tianwang.cli.stream` | ``stream publish``, ``stream consume`` (Kafka; the ``stream`` extra) |
"""

from __future__ import annotations

from typing import Annotated

import typer

from tianwang.cli import (
    backup,
    demo,
    fixtures,
    graph,
    rekey,
    rings,
    scoring,
    service,
    similarity,
    stream,
    train,
    vault,
)
from tianwang.logs import configure_logging

__all__ = ["app"]

app = typer.Typer(
    name="tianwang",
    help="Tianwang (天网): graph-based anti-fraud for auto-loan applications.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    log_level: Annotated[str, typer.Option(help="Logging level: DEBUG, INFO, WARNING, ERROR.")] = "WARNING",
) -> None:
    """Tianwang (天网): graph-based anti-fraud for auto-loan applications."""
    configure_logging(log_level)


for _commands in (graph, backup, demo, fixtures, scoring, train, rings, similarity, service, vault, rekey, stream):
    _commands.register(app)
