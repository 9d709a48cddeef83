"""Backtests: train on the earliest labelled applications, score the rest in time order.

:func:`run_backtest` ingests into a fresh embedded store **incrementally, in time
order**: every application is written just before it is looked at, so its graph links
(read through a view as of its own time) see only what was there then. The earliest
``train_fraction`` of the labelled applications (by ``submitted_at``) are ingested
and kept as labelled contexts; the detectors that train are fitted on them; the rest
go through the full :class:`~tianwang.scoring.pipeline.ScoringPipeline` (upsert,
detectors under their budgets, vote, decide, record), so the latencies measured are
those of the service.

Any data set in application schema v1 with labels ``{application_id, label,
typology}`` works; typologies are optional (``null``).
"""

from __future__ import annotations

import gc
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from detectors.context import LabelledContext
from tianwang.application import Application, parse_application
from tianwang.errors import ApplicationValidationError, DataSetMissingError
from tianwang.runtime import open_runtime
from tianwang.scoring.config import LoadedConfig
from tianwang.scoring.decisions import Decision
from tianwang.settings import load_settings
from tianwang.stats import auprc, auroc, percentile, recall_at_fpr

__all__ = ["BacktestReport", "Label", "read_applications", "read_labels", "run_backtest"]

log = logging.getLogger(__name__)

_FLAGGED = ("review", "reject")
_PROGRESS_EVERY = 250


@dataclass(frozen=True, slots=True)
class Label:
    fraud: bool
    typology: str | None


@dataclass
class BacktestReport:
    """Metrics of a backtest. :meth:`as_json` gives exactly the keys of the evaluate contract."""

    auroc: float
    auprc: float
    recall_at_1pct_fpr: float
    n_scored: int
    per_detector: dict[str, float]
    per_typology: dict[str, float]
    latency_ms: dict[str, float]
    n_trained: int = 0
    n_rejected_lines: int = 0
    own_typology_recall: dict[str, tuple[str, float]] = field(default_factory=dict)
    band_counts: dict[str, int] = field(default_factory=dict)
    legit_flagged_rate: float = float("nan")
    fit: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "auroc": self.auroc,
            "auprc": self.auprc,
            "recall_at_1pct_fpr": self.recall_at_1pct_fpr,
            "n_scored": self.n_scored,
            "per_detector": self.per_detector,
            "per_typology": self.per_typology,
            "latency_ms": self.latency_ms,
        }


def read_applications(path: Path) -> tuple[list[Application], int]:
    """Valid applications of an NDJSON file, and how many lines were rejected."""
    if not path.is_file():
        raise DataSetMissingError(f"applications file {path} does not exist")
    applications, rejected = [], 0
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.strip():
                continue
            try:
                applications.append(parse_application(raw))
            except ApplicationValidationError as exc:
                rejected += 1
                log.warning("application rejected", extra={"reason": str(exc)})
    return applications, rejected


def read_labels(path: Path) -> dict[str, Label]:
    """Labels by application id: ``label`` is ``fraud`` or ``legit`` (or a boolean/0-1)."""
    if not path.is_file():
        raise DataSetMissingError(f"labels file {path} does not exist")
    labels = {}
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.strip():
                continue
            row = orjson.loads(raw)
            value = row.get("label")
            fraud = value in ("fraud", True, 1, "1")
            labels[str(row["application_id"])] = Label(fraud, row.get("typology") if fraud else None)
    return labels


def _in_time_order(applications: list[Application]) -> list[Application]:
    return sorted(applications, key=lambda a: (a.submitted_ts, a.application_id))


def run_backtest(
    applications_path: Path,
    labels_path: Path,
    loaded: LoadedConfig,
    *,
    train_fraction: float = 0.6,
    secret: bytes = b"tianwang-backtest-secret-0123456789ab",
    db_path: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    on_decision: Callable[[Decision, Label | None], None] | None = None,
    limit: int | None = None,
) -> BacktestReport:
    """Train on the earliest ``train_fraction`` of labelled applications, score the rest.

    Parameters
    ----------
    loaded : LoadedConfig
        Detectors (fresh: they are fitted here) and strategies.
    db_path : Path, optional
        Embedded store file; a temporary one is used (and removed) when omitted.
    progress : callable, optional
        ``progress(stage, done, total)`` every 250 applications and at the end: ``done`` of the
        ``total`` applications in time order have been written (stage ``"train"``, the earliest)
        or scored (stage ``"score"``); stage ``"fit"`` just before the detectors are fitted.
    on_decision : callable, optional
        Called with each decision and its label (for writing decisions out).
    limit : int, optional
        Replay only the earliest ``limit`` applications in time order (all when omitted):
        the earliest ``train_fraction`` of their labelled ones train, the rest are scored.
    """
    if not 0.0 <= train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in [0, 1), got: {train_fraction}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 (or None for all), got: {limit}")
    applications, rejected = read_applications(Path(applications_path))
    labels = read_labels(Path(labels_path))
    ordered = _in_time_order(applications)[:limit]
    labelled = [a for a in ordered if a.application_id in labels]
    n_train = int(len(labelled) * train_fraction)
    cutoff = (labelled[n_train - 1].submitted_ts, labelled[n_train - 1].application_id) if n_train else None
    with _folder(db_path) as path:
        runtime = open_runtime(load_settings(db_path=path, secret=secret.decode()), store="embedded", config=loaded,
                               records="memory", checkpoints=False)
        pipeline = runtime.pipeline
        try:
            history: list[LabelledContext] = []
            scored: list[_Scored] = []
            fit: dict[str, Any] = {}
            history_size = 0
            for i, app in enumerate(ordered):
                in_training = cutoff is not None and (app.submitted_ts, app.application_id) <= cutoff
                if in_training:
                    context = pipeline.ingest(app)
                    pipeline.settle()
                    label = labels.get(app.application_id)
                    if label is not None:
                        history.append(LabelledContext(context, label.fraud, label.typology))
                    if progress is not None and i % _PROGRESS_EVERY == 0:
                        progress("train", i, len(ordered))
                    continue
                if not scored:
                    if progress is not None:
                        progress("fit", i, len(ordered))
                    fit = pipeline.fit(history)
                    history_size = len(history)
                    history = []  # free the contexts, then keep the collector off the survivors
                    gc.collect()
                    gc.freeze()
                decision = pipeline.score(app)
                pipeline.settle()
                label = labels.get(app.application_id)
                scored.append(_Scored.of(decision, label))
                if on_decision is not None:
                    on_decision(decision, label)
                if progress is not None and i % _PROGRESS_EVERY == 0:
                    progress("score", i, len(ordered))
            if not scored:
                fit, history_size = pipeline.fit(history), len(history)
            if progress is not None:
                progress("score", len(ordered), len(ordered))
        finally:
            runtime.close()
            gc.unfreeze()
    report = _report(scored, loaded)
    report.n_trained, report.n_rejected_lines, report.fit = history_size, rejected, fit
    return report


@dataclass(frozen=True, slots=True)
class _Scored:
    """What a backtest keeps of a decision (the full decisions would burden the collector)."""

    fraud_score: int
    band: str
    votes: dict[str, float]
    total_ms: float
    label: Label | None

    @classmethod
    def of(cls, decision: Decision, label: Label | None) -> _Scored:
        votes = {o.detector: o.vote.score for o in decision.outcomes if o.vote is not None}
        return cls(decision.fraud_score, decision.band, votes, decision.timings_ms["total"], label)


@contextmanager
def _folder(db_path: Path | None) -> Iterator[Path]:
    """``db_path``, or a file in a temporary folder removed afterwards."""
    if db_path is not None:
        yield db_path
        return
    with tempfile.TemporaryDirectory(prefix="tianwang-backtest-") as tmp:
        yield Path(tmp) / "backtest.db"


def _report(scored: list[_Scored], loaded: LoadedConfig) -> BacktestReport:
    latencies = [d.total_ms for d in scored]
    rows = [(d, d.label) for d in scored if d.label is not None]
    y = np.array([lab.fraud for _, lab in rows], dtype=bool)
    fused = np.array([d.fraud_score for d, _ in rows], dtype=np.float64)
    names = list(loaded.detectors)
    per = {n: np.array([d.votes.get(n, 0.0) for d, _ in rows]) for n in names}
    per_detector = {n: _round(auroc(y, s)) for n, s in per.items()}
    typologies = sorted({lab.typology for _, lab in rows if lab.typology})
    flagged = np.array([d.band in _FLAGGED for d, _ in rows], dtype=bool)
    typ = np.array([lab.typology or "" for _, lab in rows])
    per_typology = {t: _round(float(flagged[typ == t].mean())) for t in typologies}
    own = {}
    for name, detector in loaded.detectors.items():
        targets = getattr(detector.settings, "target_typologies", None) or ([name] if name in typologies else [])
        targets = [t for t in targets if t in typologies]
        if targets:
            keep = (~y) | np.isin(typ, targets)
            own[name] = ("+".join(targets), _round(recall_at_fpr(np.isin(typ[keep], targets), per[name][keep], 0.01)))
    bands = {b: int(sum(d.band == b for d in scored)) for b in ("approve", "review", "reject")}
    return BacktestReport(
        auroc=_round(auroc(y, fused)),
        auprc=_round(auprc(y, fused)),
        recall_at_1pct_fpr=_round(recall_at_fpr(y, fused, 0.01)),
        n_scored=len(scored),
        per_detector=per_detector,
        per_typology=per_typology,
        latency_ms={"p50": _round(percentile(latencies, 50)), "p99": _round(percentile(latencies, 99))},
        own_typology_recall=own,
        band_counts=bands,
        legit_flagged_rate=_round(float(flagged[~y].mean())) if (~y).any() else float("nan"),
    )


def _round(x: float) -> float:
    return round(float(x), 4) if np.isfinite(x) else float("nan")


