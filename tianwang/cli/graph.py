"""``tianwang ingest``, ``stats``, ``migrate`` and ``outbox``: writing applications into the graph and looking at it."""

from __future__ import annotations

import signal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    stop_on_signals,
)
from tianwang.cli.terminal import safe
from tianwang.errors import ConfigurationError
from tianwang.ingest import IngestReport, OnError, ingest_file
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring.outbox import GraphGate, GraphOutbox, outbox_path
from tianwang.scoring.persistence import scoring_db_path

if TYPE_CHECKING:
    from tianwang.bulk_import import BulkImportReport

__all__ = ["bulk_import_into", "counts_table", "ingest_into", "print_report", "register"]

_MAX_ERRORS_SHOWN = 20


class OnErrorChoice(StrEnum):
    skip = "skip"
    stop = "stop"


def ingest_into(
    path: Path, store: GraphStore, on_error: OnError, batch_size: int, workers: int | None = None
) -> IngestReport:
    size = path.stat().st_size
    with progress(f"ingest {safe(path.name)}") as bar, stop_on_signals(signal.SIGTERM) as stop:
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


def bulk_import_into(
    path: Path, home: Path, on_error: OnError, batch_size: int, workers: int | None, keep_csv: bool
) -> BulkImportReport:
    from tianwang.bulk_import import bulk_import_file

    size = path.stat().st_size
    with progress(f"bulk import {safe(path.name)}") as bar, stop_on_signals(signal.SIGTERM) as stop:
        task = bar.add_task("files", total=size)
        return bulk_import_file(
            path,
            home,
            PersonalDataKeyer(settings_for().secret_bytes),
            on_error=on_error,
            batch_size=batch_size,
            workers=workers,
            keep_csv=keep_csv,
            progress=lambda n: bar.advance(task, n),
            stop=stop,
        )


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
        neo4j_import: Annotated[
            Path | None,
            typer.Option(
                "--neo4j-import",
                file_okay=False,
                help="Bulk backfill: build a NEW Neo4j database in this Neo4j home with neo4j-admin's importer "
                "(data/databases/neo4j) instead of writing to a store; serve it with "
                "TIANWANG_NEO4J_HOME=HOME scripts/neo4j-dev.sh start.",
            ),
        ] = None,
        keep_csv: Annotated[
            bool,
            typer.Option("--keep-csv", help="With --neo4j-import: keep the importer's CSV files (HOME/import-csv)."),
        ] = False,
    ) -> None:
        """Validate and write applications from an NDJSON file into the graph.

        Bad lines are reported with their line number and the fields that are wrong.
        What was committed stays committed; rerunning the same file is safe. SIGTERM stops
        after the current batch. Exit status: 0 when every line was ingested or skipped,
        1 when ingestion stopped at a bad line, 2 on a configuration or store error (the
        message says what was committed), 143 after SIGTERM.

        With --neo4j-import HOME the same validation and mapping feed CSV files for
        `neo4j-admin database import full` into a new database under HOME (the secret of
        TIANWANG_SECRET binds it); the schema migrations are applied by starting it once.
        Nothing is imported after SIGTERM; with --on-error stop the lines before the bad
        one are imported.
        """
        choice: OnError = "stop" if on_error is OnErrorChoice.stop else "skip"
        if neo4j_import is not None:
            with fail_cleanly():
                if store is not None or db is not None:
                    raise ConfigurationError("--neo4j-import builds a new Neo4j database: drop --store and --db")
                bulk = bulk_import_into(file, neo4j_import, choice, batch_size, workers, keep_csv)
            print_report(bulk.ingest)
            if bulk.imported:
                out.print(
                    f"imported {bulk.ingest.created:,} applications into {safe(bulk.home)} in {bulk.seconds:.1f} s "
                    f"({bulk.per_second:,.0f} applications/s: files {bulk.files_seconds:.1f} s, "
                    f"import {bulk.import_seconds:.1f} s, schema {bulk.schema_seconds:.1f} s; migrations applied "
                    f"{bulk.applied_migrations})"
                )
                if bulk.csv_kept is not None:
                    out.print(f"CSV files kept in {safe(bulk.csv_kept)}")
            else:
                out.print("[red]nothing imported[/red]")
            if bulk.ingest.stopped:
                raise typer.Exit(1)
            if bulk.ingest.interrupted:
                raise typer.Exit(128 + signal.SIGTERM)
            return
        with fail_cleanly(), open_graph_for(store, db) as graph:
            report = ingest_into(file, graph, choice, batch_size, workers)
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
