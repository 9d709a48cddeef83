"""Scoring benchmark: in-process latency of one application on the embedded store.

    python bench/score.py [--applications 20000] [--seed 11] [--warm 0.6] [--db-dir DIR] [--checkpointer]

Generates applications, ingests and trains on the earliest ``--warm`` share (so the
graph and the detectors are those of a running service), then scores the rest one by
one through the full pipeline (validate from JSON, upsert, graph links, all detectors
under their budgets, vote, decide, record in an SQLite decision log) and prints the
p50, p90, p99 and max per application, overall, per step and per detector.

The store file goes in a temporary folder under ``--db-dir`` (default: the system's
temporary folder, on disk). ``--checkpointer`` moves SQLite's WAL checkpoints off the
request path (see :mod:`tianwang.scoring.maintenance`).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# run as a script, this file's folder comes first on sys.path, where bench/http.py would shadow the
# standard library's ``http`` package (httpx, imported while fitting, needs it): put the repository root there
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from detectors.context import LabelledContext  # noqa: E402
from detectors.registry import DetectorRegistry  # noqa: E402
from fixtures.generator import generate  # noqa: E402
from graph_schema.embedded import EmbeddedGraphStore  # noqa: E402
from tianwang.application import parse_application  # noqa: E402
from tianwang.privacy import PersonalDataKeyer  # noqa: E402
from tianwang.scoring import (  # noqa: E402
    DEFAULT_CONFIG_PATH,
    Decision,
    InMemoryWatchlist,
    ScoringPipeline,
    ScoringRecords,
    SqliteDecisionLog,
    SqliteDocumentIndex,
    load_config,
)
from tianwang.scoring.maintenance import WalCheckpointer  # noqa: E402

SECRET = b"tianwang-bench-secret-0123456789abcdef"


@dataclass
class ScoreTimings:
    """Milliseconds per application: overall, per pipeline step and per detector (its own time)."""

    totals: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    detectors: dict[str, list[float]] = field(default_factory=dict)
    degraded: int = 0
    """Decisions made without the graph store (it did not answer in time): not a fair latency."""


def time_scores(score: Callable[[bytes], Decision], lines: Iterable[bytes]) -> ScoreTimings:
    """Score ``lines`` one by one with ``score`` (``ScoringPipeline.score``), timing each call."""
    timings = ScoreTimings()
    for raw in lines:
        started = time.perf_counter()
        decision = score(raw)
        timings.totals.append((time.perf_counter() - started) * 1000)
        timings.degraded += decision.degraded is not None
        for step, ms in decision.timings_ms.items():
            timings.steps.setdefault(step, []).append(ms)
        for outcome in decision.outcomes:
            timings.detectors.setdefault(outcome.detector, []).append(outcome.ms)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--warm", type=float, default=0.6, help="share ingested and trained on before timing")
    parser.add_argument("--db-dir", type=Path, default=None)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    parser.add_argument("--checkpointer", action="store_true", help="checkpoint the WAL in a background thread")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    with tempfile.TemporaryDirectory(prefix="tianwang-bench-", dir=args.db_dir) as tmp:
        folder = Path(tmp)
        summary = generate(args.applications, args.seed, folder / "data")
        lines = summary.applications_path.read_bytes().splitlines()
        labels = {}
        import orjson

        for raw in summary.labels_path.read_bytes().splitlines():
            row = orjson.loads(raw)
            labels[row["application_id"]] = (row["label"] == "fraud", row["typology"])
        store = EmbeddedGraphStore(folder / "graph.db", PersonalDataKeyer(SECRET))
        records = ScoringRecords(InMemoryWatchlist(store.keyer), SqliteDocumentIndex(folder / "scoring.db"),
                                 SqliteDecisionLog(folder / "scoring.db"))
        pipeline = ScoringPipeline(store, load_config(args.config, DetectorRegistry.builtin()), records)
        warm = int(len(lines) * args.warm)
        history = []
        for raw in lines[:warm]:
            app = parse_application(raw)
            fraud, typology = labels[app.application_id]
            history.append(LabelledContext(pipeline.ingest(app), fraud, typology))
        pipeline.fit(history)
        del history
        gc.collect()
        gc.freeze()
        checkpointer = (WalCheckpointer(folder / "graph.db", exclusive=store.exclusive).start()
                        if args.checkpointer else None)
        timings = time_scores(pipeline.score, lines[warm:])
        totals, steps, detectors = timings.totals, timings.steps, timings.detectors
        if checkpointer is not None:
            checkpointer.stop()
        pipeline.close()
        store.close()

    def line(name: str, values: list[float]) -> str:
        p50, p90, p99 = np.percentile(values, [50, 90, 99])
        return f"{name:>10}: p50 {p50:6.2f}  p90 {p90:6.2f}  p99 {p99:6.2f}  max {max(values):7.2f} ms"

    print(f"scored {len(totals):,} applications after {warm:,} ingested and trained on "
          f"(seed {args.seed}, store in {args.db_dir or tempfile.gettempdir()}"
          f"{', background checkpoints' if args.checkpointer else ''})")
    print(line("per app", totals))
    for step in ("validate", "upsert", "context", "fast", "deep", "vote", "record"):
        print(line(step, steps[step]))
    print("each detector's own time (the detectors of a layer run at once):")
    for name, values in sorted(detectors.items(), key=lambda kv: -float(np.percentile(kv[1], 99))):
        print(line(name[:10], values) + ("" if len(name) <= 10 else f"  {name}"))


if __name__ == "__main__":
    main()
