"""``tianwang demo``: the main job on the embedded store, from generated data to explained decisions and a report.

Steps, each timed and shown with a progress bar: generate applications with planted
fraud; ingest them into a new embedded store (and re-ingest a sample of them, to show
that writes are idempotent); detect rings with the labels as confirmed fraud; backtest
the shipped configuration (train on the earliest 60 %, score the rest in time order, as
the service would); write the HTML report (:mod:`tianwang.report`). Then a short summary.
With ``--serve``, :mod:`tianwang.cli.demo_serve` then readies the store for the service
and serves the investigator workbench on it until Ctrl-C.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress

from tianwang.cli.common import console, count_progress, fail_cleanly, out, settings_for
from tianwang.cli.demo_serve import (
    announce_text,
    listen,
    prepare_store,
    serve,
    serve_environment,
    sigterm_as_interrupt,
)
from tianwang.cli.demo_tables import rings_table, steps_table, summary_table
from tianwang.cli.graph import ingest_into, print_report
from tianwang.cli.terminal import safe
from tianwang.runtime import open_graph

if TYPE_CHECKING:
    from tianwang.backtest import BacktestReport, Label
    from tianwang.report.figures import ScoredApplication
    from tianwang.report.rings import RingDrawing
    from tianwang.rings.job import RingReport

__all__ = ["register"]

DEFAULT_REPORT = Path("tianwang-demo-report.html")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command()(demo)


def demo(
    applications: Annotated[int, typer.Option(min=1, help="How many synthetic applications to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 7,
    db: Annotated[Path | None, typer.Option("--db", help="SQLite file (default: a new temporary file).")] = None,
    report: Annotated[Path, typer.Option("--report", dir_okay=False,
                                         help="Where to write the HTML report (Chinese and English, no network "
                                              "needed to open it).")] = DEFAULT_REPORT,
    sample: Annotated[int, typer.Option(min=1, help="Applications re-ingested to show that writes are "
                                                    "idempotent.")] = 1000,
    replay: Annotated[int, typer.Option(min=0, help="Applications the backtest replays, the earliest in time "
                                                    "order: it trains on the earliest 60 % of them and scores "
                                                    "the rest (0: all of them).")] = 10_000,
    serve: Annotated[bool, typer.Option("--serve", help="Then serve the workbench on the demo's store (see "
                                                        "above) until Ctrl-C.")] = False,
    score: Annotated[int, typer.Option(min=1, help="With --serve: the most recent applications scored through "
                                                   "the service; their review decisions fill the case "
                                                   "queue.")] = 2000,
    train: Annotated[int, typer.Option(min=1, help="With --serve: the applications before those --score ones "
                                                   "that the service's model bundle learns from.")] = 6000,
    host: Annotated[str, typer.Option(help="With --serve: the address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="With --serve: the port to listen on (0: any free "
                                                             "one); a port in use fails at once.")] = 8000,
) -> None:
    """Run the main job on the embedded store: generate, ingest, find rings, train, score, report.

    Generates applications with planted fraud and ingests them into a new embedded store;
    re-ingests the first --sample of them (nothing new, counts unchanged: writes are
    idempotent); detects fraud rings over all of them, with the labels as confirmed fraud;
    backtests the shipped configuration on the earliest --replay applications (train on
    their earliest 60 %, score the rest in time order, one by one as the service would score
    them online; --replay 0 replays all of them, which takes longer). Prints the
    decisions by band, AUROC and AUPRC, the five riskiest rings, latency per application
    (p50/p99), one explained decision and where the time went; writes an HTML report (ROC
    and precision-recall curves, score distributions, recall per typology, detector
    contributions, the three riskiest rings drawn with their attributes masked, a latency
    histogram; Chinese and English; opens with no network) to --report.

    With --serve it then readies the store for the service and serves the investigator
    workbench on it: rings detected again as they stood before the most recent --score
    applications, with only the earlier labels as confirmed fraud (recorded as verdicts);
    a demo person per role; a model bundle ('demo') trained on the --train applications
    before them and activated; those --score applications scored one by one through the
    service, so that each review decision opens a case. It prints the workbench's address,
    the demo investigator's login and the cases waiting, and serves until Ctrl-C (or
    SIGTERM); then the temporary folder goes (a --db file stays, with the service's
    operations.db and scoring.db beside it).
    """
    from fixtures.generator import generate

    seconds: dict[str, float] = {}
    with fail_cleanly(), (sigterm_as_interrupt() if serve else nullcontext()), \
            tempfile.TemporaryDirectory(prefix="tianwang-demo-") as tmp, \
            (listen(host, port) if serve else nullcontext()) as listener:
        data_dir = Path(tmp) / "data"
        with _step(seconds, "generate"), count_progress() as bars:
            task = bars.add_task(f"generate (seed {seed})", total=applications)
            generate(applications, seed, data_dir, progress=lambda n: bars.update(task, completed=n))
        db_path = db or Path(tmp) / "demo.db"
        _ingest(data_dir / "applications.ndjson", db_path, Path(tmp) / "sample.ndjson", sample, seconds)
        from tianwang.backtest import read_labels

        labels = read_labels(data_dir / "labels.ndjson")
        with _step(seconds, "rings"), count_progress() as bars:
            rings, drawings = _rings(db_path, labels, bars)
        with count_progress() as bars:
            backtest, rows, riskiest = _backtest(data_dir, bars, seconds, replay or None)
        with _step(seconds, "report"):
            replayed = min(replay or applications, applications)
            written = _write_report(report, applications, replayed, seed, backtest, rows, rings, drawings)
        out.print(summary_table(backtest, applications, replayed))
        out.print(rings_table(rings, 5))
        _explain(riskiest)
        out.print(steps_table(seconds))
        out.print(f"report written to {safe(written)}")
        if listener is not None:
            _serve(listener, db_path, data_dir, score, train, kept=db is not None)


def _serve(listener: socket.socket, db_path: Path, data_dir: Path, score: int, train: int, *,
           kept: bool) -> None:
    """Ready the demo's store for the service, then serve the workbench on it until a signal stops it."""
    from fixtures.workbench import DEMO_PASSWORD, DEMO_USERS

    username = next(name for name, roles in DEMO_USERS.items() if "investigator" in roles)
    settings = serve_environment(db_path)
    started = time.perf_counter()
    prepared = prepare_store(settings, data_dir / "applications.ndjson", data_dir / "labels.ndjson", score, train)
    console.print(f"store ready for the service in {time.perf_counter() - started:.1f} s: {prepared.rings:,} rings, "
                  f"{prepared.confirmed:,} confirmed fraud, {prepared.scored:,} applications scored")

    def announce(url: str) -> None:
        for line in announce_text(url, prepared, username, DEMO_PASSWORD):
            out.print(line, highlight=False, soft_wrap=True)

    stopped = serve(listener, announce)
    stays = f" (the store stays: {safe(db_path)}, with operations.db and scoring.db beside it)" if kept else ""
    console.print(f"service stopped ({stopped}); removing the demo's temporary folder{stays}")


@contextmanager
def _step(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Time the block as the step ``name``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = time.perf_counter() - start


def _sample(source: Path, target: Path, lines: int) -> Path:
    """The first ``lines`` lines of ``source``, written to ``target``."""
    with source.open("rb") as read, target.open("wb") as write:
        write.writelines(islice(read, lines))
    return target


def _ingest(applications: Path, db_path: Path, sample_path: Path, sample: int, seconds: dict[str, float]) -> None:
    """Ingest the file, then a sample of it again: the second write must change nothing."""
    with open_graph(settings_for(db_path), "embedded") as graph:
        with _step(seconds, "ingest"):
            first = ingest_into(applications, graph, "skip", 5000)
        print_report(first)
        with _step(seconds, "re-ingest a sample"):
            before = graph.counts()
            second = ingest_into(_sample(applications, sample_path, sample), graph, "skip", 5000)
            after = graph.counts()
        print_report(second)
    same = before == after and second.created == 0
    out.print(f"re-ingest of {second.lines:,} applications changed nothing: counts identical" if same
              else "[red]re-ingest changed the graph[/red]")
    if not same or first.rejected:
        raise typer.Exit(1)


def _rings(db_path: Path, labels: dict[str, Label], bars: Progress) -> tuple[RingReport, list[RingDrawing]]:
    """Rings over the whole store, the labels as confirmed fraud; the three riskiest drawn for the report."""
    from tianwang.report.rings import ring_drawings
    from tianwang.rings.job import detect_rings

    confirmed = {application_id: label.fraud for application_id, label in labels.items()}
    task = bars.add_task("rings (projection, Leiden)", total=None)
    with open_graph(settings_for(db_path), "embedded") as graph:
        found = detect_rings(graph, labels=confirmed)
        bars.update(task, description="rings: drawing the top 3")
        drawings = ring_drawings(graph, found, confirmed, top=3)
    bars.update(task, description=f"rings ({len(found.rings):,})", total=len(found.rings), completed=len(found.rings))
    return found, drawings


_STAGES = {"train": "train: ingest in time order", "fit": "train: fit the detectors", "score": "score as if online"}


def _backtest(data_dir: Path, bars: Progress, seconds: dict[str, float], replay: int | None
              ) -> tuple[BacktestReport, list[ScoredApplication], Any]:
    """Backtest the shipped configuration, timing its stages into ``seconds``; keep what the report needs of each
    decision, and the riskiest fraud."""
    from detectors.registry import DetectorRegistry
    from tianwang.backtest import run_backtest
    from tianwang.report.figures import ScoredApplication
    from tianwang.scoring.config import DEFAULT_CONFIG_PATH, load_config

    rows: list[ScoredApplication] = []
    shown: list[Any] = []

    def keep(decision: Any, label: Any) -> None:
        rows.append(ScoredApplication.of(decision, label))
        if label is not None and label.fraud and (not shown or decision.fraud_score > shown[0].fraud_score):
            shown[:] = [decision]

    first = "train: read, open a store"
    tasks = {first: bars.add_task(first, total=None)}  # one bar per stage; those that cannot count pulse
    clock = _StageClock(seconds, first)

    def finish(name: str) -> None:
        done = max(int(next(t.completed for t in bars.tasks if t.id == tasks[name])), 1)
        bars.update(tasks[name], total=done, completed=done)

    def advance(stage: str, done: int, total: int) -> None:
        name = _STAGES[stage]
        if name != clock.stage:
            finish(clock.stage)
            counts = stage != "fit"
            tasks[name] = bars.add_task(name, total=total if counts else None, completed=done if counts else 0)
            clock.now(name)
        if stage != "fit":
            bars.update(tasks[name], completed=done)

    loaded = load_config(DEFAULT_CONFIG_PATH, DetectorRegistry.builtin())
    report = run_backtest(data_dir / "applications.ndjson", data_dir / "labels.ndjson", loaded,
                          on_decision=keep, progress=advance, limit=replay)
    finish(clock.stage)
    clock.stop()
    return report, rows, shown[0] if shown else None


class _StageClock:
    """Adds to ``seconds`` the time each stage took, as stages follow one another."""

    def __init__(self, seconds: dict[str, float], first: str) -> None:
        self.seconds, self.stage, self.since = seconds, first, time.perf_counter()

    def now(self, stage: str) -> None:
        """``stage`` runs from now on (nothing changes when it is the one running)."""
        if stage != self.stage:
            self.stop()
            self.stage = stage

    def stop(self) -> None:
        """Count the time of the stage running up to now."""
        now = time.perf_counter()
        self.seconds[self.stage] = self.seconds.get(self.stage, 0.0) + now - self.since
        self.since = now


def _write_report(path: Path, applications: int, replayed: int, seed: int, backtest: BacktestReport,
                  rows: list[ScoredApplication], rings: RingReport, drawings: list[RingDrawing]) -> Path:
    from tianwang.report.figures import figures_of
    from tianwang.report.page import ReportData, write_report

    data = ReportData(applications=applications, replayed=replayed, trained=backtest.n_trained,
                      figures=figures_of(rows), rings=drawings, ring_count=len(rings.rings), seed=seed,
                      generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return write_report(path, data).resolve()


def _explain(decision: Any) -> None:
    """One decision on a fraud application, with the reasons its detectors gave."""
    if decision is None:
        return
    out.print(f"riskiest fraud application {decision.application_id}: fraud_score {decision.fraud_score}, "
              f"{decision.band}, decided by {decision.decided_by}")
    for detector, reason in decision.reasons:
        out.print(f"  {detector}: {safe(reason.text)}")
