"""The scoring commands of the ``tianwang`` CLI: ``score``, ``backtest`` and ``evaluate``.

:func:`register` adds them to the main Typer app (:mod:`tianwang.cli`).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tianwang.cli.common import console, fail_cleanly, out

__all__ = ["register"]

log = logging.getLogger(__name__)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Detector and strategy YAML (default: the configuration shipped with Tianwang)."),
]
ApplicationsOption = Annotated[
    Path, typer.Option("--applications", exists=True, dir_okay=False, help="Applications, NDJSON (schema v1).")
]
LabelsOption = Annotated[
    Path, typer.Option("--labels", exists=True, dir_okay=False, help="Labels, NDJSON: application_id, label, typology.")
]
TrainOption = Annotated[
    float, typer.Option("--train-fraction", min=0.0, max=0.99, help="Share of labelled applications to train on.")
]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Write the metrics as JSON to this file.")]
CaseDaysOption = Annotated[
    float | None,
    typer.Option("--case-days", min=0.0, max=365.0,
                 help="Close each review case this many days after its application with its label, as an accurate "
                      "investigator would (off by default)."),
]
OutcomesOption = Annotated[
    Path | None,
    typer.Option("--outcomes", exists=True, dir_okay=False,
                 help="Repayment outcomes, NDJSON: application_id, kind, observed_on; replayed as they become known."),
]


def _registry() -> Any:
    from detectors.registry import DetectorRegistry

    return DetectorRegistry.with_plugins()


def _config_path(config: Path | None) -> Path:
    from tianwang.scoring.config import DEFAULT_CONFIG_PATH

    return config or DEFAULT_CONFIG_PATH


def _fmt(x: float) -> str:
    return "n/a" if isinstance(x, float) and math.isnan(x) else f"{x:.4f}"


def report_table(report: Any, title: str) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("AUROC", _fmt(report.auroc))
    table.add_row("AUPRC", _fmt(report.auprc))
    table.add_row("recall at 1 % FPR", _fmt(report.recall_at_1pct_fpr))
    table.add_row("applications scored", f"{report.n_scored:,}")
    table.add_row("applications trained on (labelled)", f"{report.n_trained:,}")
    table.add_row("legitimate sent to review or reject", _fmt(report.legit_flagged_rate))
    if report.outcomes:
        o = report.outcomes
        table.add_row("repayment outcomes replayed (fraud verdicts given / of loans not funded / other)",
                      f"{o['given']:,} / {o['not_funded']:,} / {o['not_scored'] + o['not_fraud']:,}")
        if o["cases_closed"]:
            table.add_row("review cases closed with their label (--case-days)", f"{o['cases_closed']:,}")
    table.add_row("latency p50 / p99 (ms)", f"{report.latency_ms['p50']:.2f} / {report.latency_ms['p99']:.2f}")
    for name, auc in report.per_detector.items():
        table.add_row(f"detector {name}: AUROC", _fmt(auc))
    for name, (typology, recall) in report.own_typology_recall.items():
        table.add_row(f"detector {name}: recall on {typology} at 1 % FPR", _fmt(recall))
    for typology, recall in report.per_typology.items():
        table.add_row(f"typology {typology}: recall in review or reject", _fmt(recall))
    for band, n in report.band_counts.items():
        table.add_row(f"band {band}", f"{n:,}")
    for name, learned in report.fit.get("fusion", {}).items():
        if isinstance(learned, dict) and "review_threshold" in learned:
            how = (f"learned: {learned['holdout_legit_reviewed']:.2%} of legitimate holdout applications"
                   if learned.get("review_threshold_learned") else "configured")
            table.add_row(f"strategy {name}: review threshold", f"{learned['review_threshold']} ({how})")
    return table


def _run_backtest(
    applications: Path,
    labels: Path,
    train_fraction: float,
    config: Path | None,
    json_out: Path | None,
    decisions_out: IO[bytes] | None,
    title: str,
    outcomes: Path | None = None,
    case_days: float | None = None,
) -> None:
    from tianwang.backtest import run_backtest
    from tianwang.scoring.config import load_config

    with fail_cleanly():
        loaded = load_config(_config_path(config), _registry())

        def write(decision: Any, label: Any) -> None:
            if decisions_out is not None:
                decisions_out.write(orjson.dumps(decision.as_dict()) + b"\n")

        with console.status("backtest: ingesting, training, scoring in time order …", spinner="dots"):
            report = run_backtest(
                applications,
                labels,
                loaded,
                train_fraction=train_fraction,
                on_decision=write if decisions_out is not None else None,
                outcomes_path=outcomes,
                case_days=case_days,
            )
    out.print(report_table(report, title))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
        console.print(f"metrics written to {json_out}")


def _evaluate_public(dataset: str, json_out: Path | None) -> None:
    from embeddings.public_eval import evaluate_public

    with fail_cleanly():
        result = evaluate_public(dataset)
    table = Table(title=f"{result.dataset}: {result.model}")
    table.add_column("split", justify="right")
    table.add_column("AUROC", justify="right")
    table.add_column("AUPRC", justify="right")
    for split in result.splits:
        table.add_row(str(split.split), f"{split.auroc:.4f}", f"{split.auprc:.4f}")
    table.add_row(
        "mean ± std",
        f"{result.auroc_mean:.4f} ± {result.auroc_std:.4f}",
        f"{result.auprc_mean:.4f} ± {result.auprc_std:.4f}",
    )
    Console().print(table)
    console.print(result.summary())
    if json_out is not None:
        payload = {
            "dataset": result.dataset,
            "model": result.model,
            "auroc_mean": result.auroc_mean,
            "auroc_std": result.auroc_std,
            "auprc_mean": result.auprc_mean,
            "auprc_std": result.auprc_std,
            "splits": [{"split": m.split, "auroc": m.auroc, "auprc": m.auprc, "f1": m.f1} for m in result.splits],
            "seconds": result.seconds,
        }
        json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"metrics written to {json_out}")


def register(app: typer.Typer) -> None:
    """Add ``score``, ``backtest`` and ``evaluate`` to ``app``."""

    @app.command()
    def score(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Applications, NDJSON.")],
        output: Annotated[Path | None, typer.Option("--out", help="Decisions NDJSON (default: stdout).")] = None,
        config: ConfigOption = None,
        db: Annotated[
            Path | None, typer.Option("--db", help="Embedded store file (default: TIANWANG_DB_PATH).")
        ] = None,
        bundle: Annotated[str | None, typer.Option("--bundle", help="Score with this trained bundle (`tianwang "
                                                   "train`), from TIANWANG_BUNDLE_DIR.")] = None,
    ) -> None:
        """Score applications in time order and write one decision per line (NDJSON).

        Without --bundle, detectors that need training (gnn_ring, graph_evidence) are skipped as not trained.

        Applications are validated, written into the graph and scored; decisions are
        also recorded in the decision log beside the store. A bad line is reported
        (fields and reasons, never values) and skipped, as is an application whose id is
        stored already with other content; the others are scored. Exit status 1 if any
        line was bad.
        """
        from tianwang.application import parse_application
        from tianwang.cli.terminal import safe
        from tianwang.errors import ApplicationConflictError, ApplicationValidationError
        from tianwang.ndjson import TOO_LONG, read_lines
        from tianwang.runtime import open_runtime
        from tianwang.settings import load_settings

        bad = scored = 0

        def reject(number: int, why: object) -> None:
            nonlocal bad
            bad += 1
            console.print(f"[yellow]rejected[/yellow] line {number}: {safe(why)}")

        with fail_cleanly():
            settings = load_settings(**({"db_path": db} if db is not None else {}))
            applications = []
            with file.open("rb") as lines:
                for number, raw, _ in read_lines(lines):
                    if raw is None:
                        reject(number, TOO_LONG)
                        continue
                    if not raw.strip():
                        continue
                    try:
                        applications.append((parse_application(raw), number))
                    except ApplicationValidationError as exc:
                        reject(number, exc)
            applications.sort(key=lambda a: (a[0].submitted_ts, a[0].application_id))
            kind = "neo4j" if settings.store == "neo4j" and db is None else "embedded"
            with open_runtime(settings, store=kind, config=_config_path(config)) as runtime:
                pipeline = runtime.pipeline
                if bundle is not None:
                    from tianwang.service.bundles import load_bundle

                    load_bundle(pipeline, settings.bundles_path / bundle)
                sink = output.open("wb") if output is not None else sys.stdout.buffer
                try:
                    for application, number in applications:
                        try:
                            decision = pipeline.score(application)
                        except (ApplicationConflictError, ApplicationValidationError) as exc:
                            reject(number, exc)  # like ingest: this application is refused, the others scored
                            continue
                        record = decision.as_dict()
                        if bundle is not None:
                            record["bundle"] = bundle
                        sink.write(orjson.dumps(record) + b"\n")
                        scored += 1
                finally:
                    if output is not None:
                        sink.close()
                    else:
                        sink.flush()
        console.print(f"scored {scored:,} applications, {bad} rejected lines")
        if bad:
            raise typer.Exit(1)

    @app.command()
    def evaluate(
        applications: Annotated[
            Path | None,
            typer.Option("--applications", exists=True, dir_okay=False, help="Applications, NDJSON (schema v1)."),
        ] = None,
        labels: Annotated[
            Path | None,
            typer.Option(
                "--labels", exists=True, dir_okay=False, help="Labels, NDJSON: application_id, label, typology."
            ),
        ] = None,
        train_fraction: TrainOption = 0.6,
        json_out: JsonOption = None,
        config: ConfigOption = None,
        outcomes: OutcomesOption = None,
        case_days: CaseDaysOption = None,
        dataset: Annotated[
            str | None,
            typer.Option(
                "--dataset",
                help="A public data set instead: tolokers (10 standard splits) or s-ffsd (stratified 80/20, seed 2).",
            ),
        ] = None,
    ) -> None:
        """Backtest on a fresh embedded store and print the metrics.

        Trains what needs training on the earliest share of labelled applications (by
        submitted_at), then scores the rest in time order, each seeing the graph as it
        stood at its own time. --json writes auroc, auprc, recall_at_1pct_fpr,
        n_scored, per_detector, per_typology and latency_ms.

        With --outcomes, repayment outcomes (what `tianwang fixtures generate` writes as
        outcomes.ndjson) reach the detectors as they become known, for the applications
        the replay approved: a first-payment default counts as a fraud verdict.
        With --case-days D, each review case is closed D days after its application
        with the application's label, and the detectors take that verdict in.

        With --dataset, evaluates the node classifier on a public data set from
        TIANWANG_DATA_DIR and prints mean and std of AUROC and AUPRC over its splits.
        """
        if dataset is not None:
            _evaluate_public(dataset, json_out)
            return
        if applications is None or labels is None:
            console.print("[red]error:[/red] give --applications and --labels, or --dataset")
            raise typer.Exit(2)
        _run_backtest(applications, labels, train_fraction, config, json_out, None, "evaluate", outcomes, case_days)

    @app.command()
    def backtest(
        applications: ApplicationsOption,
        labels: LabelsOption,
        train_fraction: TrainOption = 0.6,
        json_out: JsonOption = None,
        config: ConfigOption = None,
        decisions: Annotated[Path | None, typer.Option("--decisions", help="Write every decision (NDJSON).")] = None,
        outcomes: OutcomesOption = None,
        case_days: CaseDaysOption = None,
    ) -> None:
        """Like evaluate, and write every decision of the scored share with --decisions."""
        sink = decisions.open("wb") if decisions is not None else None
        try:
            _run_backtest(applications, labels, train_fraction, config, json_out, sink, "backtest", outcomes, case_days)
        finally:
            if sink is not None:
                sink.close()
