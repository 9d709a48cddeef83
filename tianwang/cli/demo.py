"""``tianwang demo``: the main job on the embedded store, from generated data to explained decisions."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from tianwang.cli.common import console, fail_cleanly, out, settings_for
from tianwang.cli.graph import counts_table, ingest_into, print_report
from tianwang.runtime import open_graph

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command()(demo)


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

    with fail_cleanly(), tempfile.TemporaryDirectory(prefix="tianwang-demo-") as tmp:
        data_dir = Path(tmp) / "data"
        console.print(f"generating {applications:,} applications (seed {seed}) …")
        generate(applications, seed, data_dir)
        db_path = db or Path(tmp) / "demo.db"
        with open_graph(settings_for(db_path), "embedded") as graph:
            first = ingest_into(data_dir / "applications.ndjson", graph, "skip", 5000)
            print_report(first)
            before = graph.counts()
            second = ingest_into(data_dir / "applications.ndjson", graph, "skip", 5000)
            print_report(second)
            after = graph.counts()
            out.print(counts_table(after, f"graph after ingesting twice ({db_path})"))
        same = before == after and second.created == 0
        out.print("re-ingest changed nothing: counts identical" if same else "[red]re-ingest changed the graph[/red]")
        if not same or first.rejected:
            raise typer.Exit(1)
        _demo_rings(data_dir, db_path)
        _demo_scoring(data_dir)


def _demo_rings(data_dir: Path, db_path: Path) -> None:
    from tianwang.cli.rings import read_labels, ring_table
    from tianwang.rings.job import detect_rings

    with (open_graph(settings_for(db_path), "embedded") as graph,
          console.status("rings: projecting, Leiden, statistics …", spinner="dots")):
        report = detect_rings(graph, labels=read_labels(data_dir / "labels.ndjson"))
    out.print(ring_table(report, 5))
    console.print(f"{len(report.rings):,} rings written to the store in {report.seconds:.1f} s "
                  f"({report.applicants:,} applicants, {report.links:,} links)")


def _demo_scoring(data_dir: Path) -> None:
    from detectors.registry import DetectorRegistry
    from tianwang.backtest import run_backtest
    from tianwang.cli.scoring import report_table
    from tianwang.scoring.config import DEFAULT_CONFIG_PATH, load_config

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
