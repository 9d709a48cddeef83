"""``tianwang ingest``, ``stats``, ``migrate`` and ``outbox``: writing applications into the graph and looking at it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from graph_schema.store import GraphStore
from graph_schema.values import GraphCounts
from tianwang.cli.common import (
    DbOption,
    StoreOption,
    console,
    fail_cleanly,
    open_graph_for,
    out,
    progress,
    settings_for,
)
from tianwang.cli.terminal import safe
from tianwang.ingest import IngestReport, OnError, ingest_file
from tianwang.scoring.outbox import GraphGate, GraphOutbox, outbox_path
from tianwang.scoring.persistence import scoring_db_path

__all__ = ["counts_table", "ingest_into", "print_report", "register"]

_MAX_ERRORS_SHOWN = 20


class OnErrorChoice(StrEnum):
    skip = "skip"
    stop = "stop"


def ingest_into(
    path: Path, store: GraphStore, on_error: OnError, batch_size: int, workers: int | None = None
) -> IngestReport:
    size = path.stat().st_size
    with progress(f"ingest {safe(path.name)}") as bar, _stop_on_sigterm() as stop:
        task = bar.add_task("ingest", total=size)
        return ingest_file(
            path,
            store,
            on_error=on_error,
            batch_size=batch_size,
            progress=lambda n: bar.advance(task, n),
            workers=workers,
            stop=stop,
        )


@contextmanager
def _stop_on_sigterm() -> Iterator[threading.Event]:
    """An event set by the first SIGTERM (a second one ends the process at once), in the main thread only."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def asked_to_stop(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    previous = signal.signal(signal.SIGTERM, asked_to_stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_report(report: IngestReport) -> None:
    for error in report.errors[:_MAX_ERRORS_SHOWN]:
        console.print(f"[yellow]rejected[/yellow] {safe(error)}")
    if report.rejected > _MAX_ERRORS_SHOWN:
        console.print(f"… and {report.rejected - _MAX_ERRORS_SHOWN} more rejected lines")
    if report.stopped:
        state = "[red]stopped at the first bad line[/red]"
    elif report.interrupted:
        state = "[red]interrupted (SIGTERM) after the current batch; rerun the same file to resume[/red]"
    else:
        state = "done"
    out.print(
        f"{state}: {report.lines} lines, {report.created} new, {report.unchanged} unchanged, "
        f"{report.rejected} rejected in {report.seconds:.1f} s ({report.per_second:,.0f} applications/s)"
    )


def counts_table(counts: GraphCounts, title: str) -> Table:
    table = Table(title=title)
    table.add_column("kind")
    table.add_column("name")
    table.add_column("count", justify="right")
    for name, n in counts.nodes.items():
        table.add_row("node", name, f"{n:,}")
    for name, n in counts.relationships.items():
        table.add_row("relationship", name, f"{n:,}")
    table.add_row("", "[bold]total nodes", f"[bold]{counts.total_nodes:,}")
    table.add_row("", "[bold]total relationships", f"[bold]{counts.total_relationships:,}")
    return table


def register(app: typer.Typer) -> None:
    """Add ``ingest``, ``stats``, ``migrate`` and ``outbox`` to ``app``."""

    @app.command()
    def ingest(
        file: Annotated[
            Path,
            typer.Argument(exists=True, dir_okay=False, readable=True, help="NDJSON file, one application per line."),
        ],
        store: StoreOption = None,
        db: DbOption = None,
        on_error: Annotated[
            OnErrorChoice, typer.Option("--on-error", help="After a bad line: skip it and go on, or stop.")
        ] = OnErrorChoice.skip,
        batch_size: Annotated[int, typer.Option(min=1, help="Applications per transaction.")] = 5000,
        workers: Annotated[
            int | None,
            typer.Option(
                min=0, help="Processes that validate lines (0: none); default 1 per CPU, at most 4, from 4 MiB."
            ),
        ] = None,
    ) -> None:
        """Validate and write applications from an NDJSON file into the graph.

        Bad lines are reported with their line number and the fields that are wrong.
        What was committed stays committed; rerunning the same file is safe. SIGTERM stops
        after the current batch. Exit status: 0 when every line was ingested or skipped,
        1 when ingestion stopped at a bad line, 2 on a configuration or store error (the
        message says what was committed), 143 after SIGTERM.
        """
        with fail_cleanly(), open_graph_for(store, db) as graph:
            report = ingest_into(file, graph, "stop" if on_error is OnErrorChoice.stop else "skip", batch_size, workers)
        print_report(report)
        if report.stopped:
            raise typer.Exit(1)
        if report.interrupted:
            raise typer.Exit(128 + signal.SIGTERM)


    @app.command()
    def stats(store: StoreOption = None, db: DbOption = None) -> None:
        """Print node and relationship counts of the graph."""
        with fail_cleanly(), open_graph_for(store, db) as graph:
            out.print(counts_table(graph.counts(), f"graph ({graph.kind})"))


    @app.command()
    def migrate(store: StoreOption = None, db: DbOption = None) -> None:
        """Apply pending schema migrations (opening a store does this too) and say which ran."""
        with fail_cleanly(), open_graph_for(store, db) as graph:
            applied = getattr(graph, "applied_migrations", [])
            out.print(f"{graph.kind}: applied migrations {applied}" if applied else f"{graph.kind}: schema up to date")

    @app.command()
    def outbox(
        store: StoreOption = None,
        db: DbOption = None,
        drain: Annotated[bool, typer.Option("--drain", help="Write what waits to the graph store now.")] = False,
    ) -> None:
        """Show the graph outbox: applications scored while the graph store was down, waiting to be written.

        A serving process drains it by itself once the store answers; --drain does it from here (when no
        service runs, say). Entries the store refused as conflicts stay, counted, for an operator. Exit
        status: 0 when nothing waits (after --drain), 1 when something still does, 2 on a store error.
        """
        path = outbox_path(scoring_db_path(settings_for(db).db_path))
        if not path.exists():
            out.print(f"graph outbox {safe(path)}: empty (never used)")
            return
        box = GraphOutbox(path)
        try:
            if drain and box.pending:
                with fail_cleanly(), open_graph_for(store, db) as graph:
                    gate = GraphGate(graph, box, drain_on_start=False)  # drained here, in this thread
                    with progress("drain the graph outbox") as bar:
                        task = bar.add_task("drain", total=box.pending)
                        while box.pending:
                            before = box.pending
                            if gate.drain_once() < 0:
                                console.print("[red]error:[/red] the graph store did not take the batch")
                                break
                            bar.advance(task, before - box.pending)
            summary = box.summary()
        finally:
            box.close()
        table = Table(title=f"graph outbox ({safe(path)})")
        for column in ("pending", "conflicts", "oldest (s)", "most attempts"):
            table.add_column(column, justify="right")
        table.add_row(str(summary["pending"]), str(summary["conflicts"]), str(summary["oldest_seconds"] or "-"),
                      str(summary["max_attempts"]))
        out.print(table)
        if summary["pending"]:
            raise typer.Exit(1)
