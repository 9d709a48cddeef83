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

**Repayment outcomes** (``outcomes_path``, NDJSON ``{application_id, kind, observed_on}``,
what ``tianwang fixtures generate`` writes as ``outcomes.ndjson``) are what a lender learns
of its funded loans weeks later. The replay hands each one to the pipeline as the service's
``POST /v1/outcomes`` would, once the replay clock passes the end of its ``observed_on`` day
(+08:00), and only for an application the replay **approved**: a loan sent to review or
rejected would not have been funded as it was, so its outcome is not known. A first-payment
default counts as fraud (:mod:`tianwang.outcomes`); it reaches every detector as a verdict,
so later applications linked to it, and its dealer's later deals, see it.
Outcomes of the training applications add nothing: their labels are known.

**Investigators' verdicts** (``case_days``): a review decision opens a case, and the
service hands the verdict that closes it to every detector. With ``case_days`` the replay
closes each case that many days after its application with the application's label, as an
accurate investigator would, so later ring members and the dealer's later deals see it.
It is off by default: the default replay learns no label of the scored period except by
outcomes, and its figures are the ones the issues measure.
"""

from __future__ import annotations

import datetime as dt
import gc
import heapq
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
from tianwang.errors import ApplicationValidationError, DataSetMissingError, InvalidRequestError
from tianwang.outcomes import OUTCOME_KINDS, counts_as_fraud
from tianwang.runtime import open_runtime
from tianwang.scoring.config import LoadedConfig
from tianwang.scoring.decisions import Decision
from tianwang.settings import load_settings
from tianwang.stats import auprc, auroc, percentile, recall_at_fpr

__all__ = ["BacktestReport", "Label", "Outcome", "read_applications", "read_labels", "read_outcomes", "run_backtest"]

log = logging.getLogger(__name__)

_FLAGGED = ("review", "reject")
_PROGRESS_EVERY = 250
_LOCAL = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class Label:
    fraud: bool
    typology: str | None


@dataclass(frozen=True, order=True, slots=True)
class Outcome:
    """A repayment outcome, known to the replay from ``known_ts`` (the end of its ``observed_on`` day)."""

    known_ts: float
    application_id: str
    kind: str


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
    #: repayment outcomes replayed: ``given`` (handed to the pipeline as fraud verdicts), ``not_funded``
    #: (of applications the replay sent to review or rejected), ``not_scored`` (training applications, ids not
    #: replayed) and ``not_fraud`` (a credit loss or a loan repaid: no news for the detectors); ``cases_closed``:
    #: review cases closed with a verdict (``case_days``)
    outcomes: dict[str, int] = field(default_factory=dict)

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


def read_outcomes(path: Path) -> list[Outcome]:
    """Repayment outcomes of an NDJSON file, in the order they became known.

    Raises
    ------
    DataSetMissingError
        If the file does not exist.
    InvalidRequestError
        For a line that is not a JSON object, without ``application_id``, with an unknown ``kind``
        or a bad ``observed_on`` (the field is named, with the line number).
    """
    if not path.is_file():
        raise DataSetMissingError(f"outcomes file {path} does not exist")
    outcomes = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError:
                row = None
            if not isinstance(row, dict):
                raise InvalidRequestError("outcome", f"a JSON object (outcomes line {number})")
            application_id, kind = row.get("application_id"), row.get("kind")
            if not isinstance(application_id, str) or not application_id:
                raise InvalidRequestError("application_id", f"an application id (outcomes line {number})")
            if kind not in OUTCOME_KINDS:
                raise InvalidRequestError("kind", f"one of {', '.join(OUTCOME_KINDS)} (outcomes line {number})")
            try:
                day = dt.date.fromisoformat(str(row.get("observed_on")))
            except ValueError:
                raise InvalidRequestError("observed_on", f"a date YYYY-MM-DD (outcomes line {number})") from None
            known = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), _LOCAL).timestamp()
            outcomes.append(Outcome(known, application_id, kind))
    outcomes.sort()
    return outcomes


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
    outcomes_path: Path | None = None,
    case_days: float | None = None,
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
    outcomes_path : Path, optional
        Repayment outcomes, replayed as they become known for the applications the replay
        approved (see the module docstring).
    case_days : float, optional
        Close each review case this many days after its application with the application's
        label (see the module docstring); off when omitted.
    """
    if not 0.0 <= train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in [0, 1), got: {train_fraction}")
    if case_days is not None and not 0.0 <= case_days <= 365.0:
        raise ValueError(f"case_days must be in [0, 365] (or None for no verdicts), got: {case_days}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 (or None for all), got: {limit}")
    applications, rejected = read_applications(Path(applications_path))
    labels = read_labels(Path(labels_path))
    pending = read_outcomes(Path(outcomes_path)) if outcomes_path is not None else []
    feedback = _Feedback(pending)
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
                feedback.until(app.submitted_ts, pipeline)
                decision = pipeline.score(app)
                pipeline.settle()
                label = labels.get(app.application_id)
                feedback.decided(app.application_id, decision.band)
                if case_days is not None and decision.band == "review" and label is not None:
                    feedback.close_case(app.application_id, label, app.submitted_ts + case_days * 86400.0)
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
    report.outcomes = feedback.counts if outcomes_path is not None or case_days is not None else {}
    return report


class _Feedback:
    """Hands repayment outcomes and closed review cases to the pipeline as the replay clock passes them (see the
    module docstring)."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        self._pending = list(outcomes)
        heapq.heapify(self._pending)
        self._funded: set[str] = set()
        self._scored: set[str] = set()
        self.counts = {"given": 0, "not_funded": 0, "not_scored": 0, "not_fraud": 0, "cases_closed": 0}
        self._cases: list[tuple[float, str, Label]] = []  # (closed at, application id, its label)

    def decided(self, application_id: str, band: str) -> None:
        self._scored.add(application_id)
        if band == "approve":
            self._funded.add(application_id)

    def close_case(self, application_id: str, label: Label, at: float) -> None:
        """Close ``application_id``'s review case at ``at`` with its label (a loan found legitimate is funded)."""
        heapq.heappush(self._cases, (at, application_id, label))

    def until(self, now: float, pipeline: Any) -> None:
        while self._cases and self._cases[0][0] <= now:
            _, application_id, label = heapq.heappop(self._cases)
            pipeline.verdict(application_id, label.fraud, label.typology)
            if not label.fraud:
                self._funded.add(application_id)
            self.counts["cases_closed"] += 1
        while self._pending and self._pending[0].known_ts <= now:
            outcome = heapq.heappop(self._pending)
            if outcome.application_id not in self._scored:
                self.counts["not_scored"] += 1
            elif outcome.application_id not in self._funded:
                self.counts["not_funded"] += 1
            elif not counts_as_fraud(outcome.kind):
                self.counts["not_fraud"] += 1
            else:
                pipeline.verdict(outcome.application_id, True, outcome.kind)
                self.counts["given"] += 1


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


