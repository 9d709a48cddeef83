"""The ``tianwang`` command line.

Every command has ``--help``. Store selection follows the settings (``TIANWANG_STORE``,
``TIANWANG_NEO4J_URI``, ``TIANWANG_DB_PATH``) unless ``--store`` / ``--db`` say otherwise.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from graph_schema import open_store
from graph_schema.store import GraphStore
from graph_schema.values import GraphCounts
from tianwang.errors import TianwangError
from tianwang.ingest import IngestReport, OnError, ingest_file
from tianwang.logs import configure_logging
from tianwang.settings import Settings, load_settings
from tianwang.terminal import safe

app = typer.Typer(
    name="tianwang",
    help="Tianwang (天网): graph-based anti-fraud for auto-loan applications.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
out = Console()

_MAX_ERRORS_SHOWN = 20


class StoreKind(StrEnum):
    embedded = "embedded"
    neo4j = "neo4j"


class OnErrorChoice(StrEnum):
    skip = "skip"
    stop = "stop"


StoreOption = Annotated[
    StoreKind | None,
    typer.Option(
        "--store",
        help="Graph store; default from TIANWANG_STORE, else neo4j if TIANWANG_NEO4J_URI is set, else embedded.",
    ),
]
DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", help="SQLite file of the embedded store (default TIANWANG_DB_PATH); implies --store embedded."
    ),
]


@app.callback()
def main(
    log_level: Annotated[str, typer.Option(help="Logging level: DEBUG, INFO, WARNING, ERROR.")] = "WARNING",
) -> None:
    """Tianwang (天网): graph-based anti-fraud for auto-loan applications."""
    configure_logging(log_level)


def _settings(db: Path | None = None) -> Settings:
    overrides = {"db_path": db} if db is not None else {}
    return load_settings(**overrides)


def _open(store: StoreKind | None, db: Path | None) -> GraphStore:
    """The store asked for; ``--db`` alone means the embedded store."""
    kind = store.value if store else ("embedded" if db is not None else None)
    return open_store(_settings(db), kind)


@contextmanager
def _fail_cleanly():
    """Turn Tianwang errors into one red line and exit status 2."""
    try:
        yield
    except TianwangError as exc:
        console.print(f"[red]error:[/red] {safe(exc)}")
        raise typer.Exit(2) from None


def _progress(what: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )


def _ingest(
    path: Path, store: GraphStore, on_error: OnError, batch_size: int, workers: int | None = None
) -> IngestReport:
    size = path.stat().st_size
    with _progress(f"ingest {safe(path.name)}") as bar, _stop_on_sigterm() as stop:
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


def _print_report(report: IngestReport) -> None:
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


def _counts_table(counts: GraphCounts, title: str) -> Table:
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


@app.command()
def ingest(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="NDJSON file, one application per line.")
    ],
    store: StoreOption = None,
    db: DbOption = None,
    on_error: Annotated[
        OnErrorChoice, typer.Option("--on-error", help="After a bad line: skip it and go on, or stop.")
    ] = OnErrorChoice.skip,
    batch_size: Annotated[int, typer.Option(min=1, help="Applications per transaction.")] = 5000,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Processes that validate lines (0: none); default 1 per CPU, at most 4, from 4 MiB."),
    ] = None,
) -> None:
    """Validate and write applications from an NDJSON file into the graph.

    Bad lines are reported with their line number and the fields that are wrong.
    What was committed stays committed; rerunning the same file is safe. SIGTERM stops
    after the current batch. Exit status: 0 when every line was ingested or skipped,
    1 when ingestion stopped at a bad line, 2 on a configuration or store error (the
    message says what was committed), 143 after SIGTERM.
    """
    with _fail_cleanly(), _open(store, db) as graph:
        report = _ingest(file, graph, "stop" if on_error is OnErrorChoice.stop else "skip", batch_size, workers)
    _print_report(report)
    if report.stopped:
        raise typer.Exit(1)
    if report.interrupted:
        raise typer.Exit(128 + signal.SIGTERM)


@app.command()
def stats(store: StoreOption = None, db: DbOption = None) -> None:
    """Print node and relationship counts of the graph."""
    with _fail_cleanly(), _open(store, db) as graph:
        out.print(_counts_table(graph.counts(), f"graph ({graph.kind})"))


@app.command()
def migrate(store: StoreOption = None, db: DbOption = None) -> None:
    """Apply pending schema migrations (opening a store does this too) and say which ran."""
    with _fail_cleanly(), _open(store, db) as graph:
        applied = getattr(graph, "applied_migrations", [])
        out.print(f"{graph.kind}: applied migrations {applied}" if applied else f"{graph.kind}: schema up to date")


@app.command()
def demo(
    applications: Annotated[int, typer.Option(min=1, help="How many synthetic applications to generate.")] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 7,
    db: Annotated[Path | None, typer.Option("--db", help="SQLite file (default: a new temporary file).")] = None,
) -> None:
    """Run the main job on the embedded store: generate, ingest, find rings, train and score.

    Generates applications with planted fraud, ingests them twice (the second ingest
    shows that writes are idempotent: nothing new, counts unchanged) and prints graph
    stats; detects fraud rings with the labels as confirmed fraud and shows the riskiest;
    then backtests the shipped configuration (train on the earliest 60 %, score the rest
    in time order) and shows its metrics and one explained decision.
    """
    from fixtures.generator import generate

    with _fail_cleanly(), tempfile.TemporaryDirectory(prefix="tianwang-demo-") as tmp:
        data_dir = Path(tmp) / "data"
        console.print(f"generating {applications:,} applications (seed {seed}) …")
        generate(applications, seed, data_dir)
        db_path = db or Path(tmp) / "demo.db"
        with open_store(_settings(db_path), "embedded") as graph:
            first = _ingest(data_dir / "applications.ndjson", graph, "skip", 5000)
            _print_report(first)
            before = graph.counts()
            second = _ingest(data_dir / "applications.ndjson", graph, "skip", 5000)
            _print_report(second)
            after = graph.counts()
            out.print(_counts_table(after, f"graph after ingesting twice ({db_path})"))
        same = before == after and second.created == 0
        out.print("re-ingest changed nothing: counts identical" if same else "[red]re-ingest changed the graph[/red]")
        if not same or first.rejected:
            raise typer.Exit(1)
        _demo_rings(data_dir, db_path)
        _demo_scoring(data_dir)


def _demo_rings(data_dir: Path, db_path: Path) -> None:
    from tianwang.rings.cli import read_labels, ring_table
    from tianwang.rings.job import detect_rings

    with (open_store(_settings(db_path), "embedded") as graph,
          console.status("rings: projecting, Leiden, statistics …", spinner="dots")):
        report = detect_rings(graph, labels=read_labels(data_dir / "labels.ndjson"))
    out.print(ring_table(report, 5))
    console.print(f"{len(report.rings):,} rings written to the store in {report.seconds:.1f} s "
                  f"({report.applicants:,} applicants, {report.links:,} links)")


def _demo_scoring(data_dir: Path) -> None:
    from detectors.registry import DetectorRegistry
    from tianwang.backtest import run_backtest
    from tianwang.scoring.config import DEFAULT_CONFIG_PATH, load_config
    from tianwang.scoring_cli import report_table

    shown: list[Any] = []

    def keep_riskiest(decision: Any, label: Any) -> None:
        if label is not None and label.fraud and (not shown or decision.fraud_score > shown[0].fraud_score):
            shown[:] = [decision]

    loaded = load_config(DEFAULT_CONFIG_PATH, DetectorRegistry.builtin())
    with console.status("scoring: ingesting, training, scoring in time order …", spinner="dots"):
        report = run_backtest(data_dir / "applications.ndjson", data_dir / "labels.ndjson", loaded,
                              on_decision=keep_riskiest)
    out.print(report_table(report, "backtest of the shipped configuration (trained on the earliest 60 %)"))
    if shown:
        decision = shown[0]
        out.print(f"application {decision.application_id}: fraud_score {decision.fraud_score}, {decision.band}, "
                  f"decided by {decision.decided_by}")
        for detector, reason in decision.reasons:
            out.print(f"  {detector}: {reason.text}")


from fixtures.cli import app as fixtures_app  # noqa: E402 - mounted after the commands above

app.add_typer(fixtures_app, name="fixtures", help="Synthetic applications with planted fraud.")

from tianwang.scoring_cli import register as register_scoring  # noqa: E402

register_scoring(app)

from tianwang.rings.cli import register_rings  # noqa: E402

register_rings(app)

from tianwang.similarity_cli import register_similarity  # noqa: E402

register_similarity(app)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
