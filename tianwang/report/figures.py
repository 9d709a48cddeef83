"""What the report's charts show, computed from the decisions of a backtest: numbers only, no drawing.

:class:`ScoredApplication` keeps what a figure needs of one decision (the full decisions
would hold every reason and vote of thousands of applications); :func:`figures_of` turns
a list of them into :class:`Figures`: ROC and precision-recall curves of the fraud score,
its distribution for fraud and for legitimate applications, recall per typology,
each detector's mean contribution to the fused log-odds, and a latency histogram.

Examples
--------
>>> rows = [ScoredApplication(900, "reject", True, "ring", {"rules": 1.5}, 3.0),
...         ScoredApplication(100, "approve", False, None, {"rules": -0.5}, 2.0)]
>>> f = figures_of(rows)
>>> f.auroc, f.typology_recall
(1.0, {'ring': (1.0, 1)})
>>> f.contributions
{'rules': (1.5, -0.5)}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tianwang.stats import auprc, auroc, percentile, pr_curve, roc_curve

if TYPE_CHECKING:
    from tianwang.backtest import Label
    from tianwang.scoring.decisions import Decision

__all__ = ["Curve", "Figures", "Histogram", "ScoredApplication", "figures_of", "histogram", "nice_ceiling", "thin"]

FLAGGED = ("review", "reject")
SCORE_MAX = 1000  # the fraud score's scale (Decision.fraud_score)
CURVE_POINTS = 300  # at most this many points of a curve are drawn


@dataclass(frozen=True, slots=True)
class ScoredApplication:
    """One decision as the report sees it.

    ``fraud`` is the label (``None``: unlabelled); ``contributions`` maps each voting
    detector to what it added to the log-odds; ``total_ms`` is the decision's latency.
    """

    fraud_score: int
    band: str
    fraud: bool | None
    typology: str | None
    contributions: dict[str, float]
    total_ms: float

    @classmethod
    def of(cls, decision: Decision, label: Label | None) -> ScoredApplication:
        """Keep what the figures need of ``decision`` and its ``label``."""
        contributions = {o.detector: float(o.contribution) for o in decision.outcomes if o.voting}
        return cls(int(decision.fraud_score), decision.band, None if label is None else label.fraud,
                   None if label is None else label.typology, contributions, float(decision.timings_ms["total"]))


@dataclass(frozen=True, slots=True)
class Curve:
    """Points of a curve, in drawing order."""

    x: list[float]
    y: list[float]


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts between consecutive ``edges`` (``len(edges) == len(counts) + 1``)."""

    edges: list[float]
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)

    def shares(self) -> list[float]:
        """Each bin's share of the total (zeros when empty)."""
        total = self.total
        return [c / total if total else 0.0 for c in self.counts]


@dataclass
class Figures:
    """Everything the report's charts draw."""

    n_scored: int
    n_fraud: int
    n_legit: int
    auroc: float
    auprc: float
    roc: Curve
    pr: Curve
    scores_fraud: Histogram
    scores_legit: Histogram
    typology_recall: dict[str, tuple[float, int]]
    contributions: dict[str, tuple[float, float]]
    latency: Histogram
    latency_p50: float
    latency_p99: float
    bands: dict[str, int] = field(default_factory=dict)


def thin(x: npt.ArrayLike, y: npt.ArrayLike, max_points: int = CURVE_POINTS) -> Curve:
    """At most ``max_points`` of a curve, evenly spaced along it, first and last kept.

    >>> thin(range(10), range(10), 4)
    Curve(x=[0.0, 3.0, 6.0, 9.0], y=[0.0, 3.0, 6.0, 9.0])
    """
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got: {max_points}")
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(xs) != len(ys):
        raise ValueError(f"x has {len(xs)} points but y has {len(ys)}")
    if len(xs) > max_points:
        keep = np.unique(np.round(np.linspace(0, len(xs) - 1, max_points)).astype(np.int64))
        xs, ys = xs[keep], ys[keep]
    return Curve([float(v) for v in xs], [float(v) for v in ys])


def histogram(values: npt.ArrayLike, edges: Sequence[float]) -> Histogram:
    """Counts of ``values`` between ``edges``; values past the last edge count in the last bin,
    values below the first in the first (so nothing measured is left out of the picture).

    >>> histogram([0, 1, 2, 9, 50], [0, 5, 10]).counts
    [3, 2]
    """
    if len(edges) < 2 or any(b <= a for a, b in pairwise(edges)):
        raise ValueError(f"edges must be at least two increasing numbers, got: {list(edges)}")
    v = np.clip(np.asarray(values, dtype=np.float64), edges[0], edges[-1])
    counts, _ = np.histogram(v, bins=np.asarray(edges, dtype=np.float64))
    return Histogram([float(e) for e in edges], [int(c) for c in counts])


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten at or above ``value`` (1 for nothing above zero).

    >>> nice_ceiling(0.37), nice_ceiling(7.2), nice_ceiling(0)
    (0.5, 10.0, 1.0)
    """
    if not value > 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(round(step * power, 12) for step in (1, 2, 5, 10) if step * power >= value * (1 - 1e-12))


def _latency_edges(ms: npt.NDArray[np.float64], bins: int = 30) -> list[float]:
    """Linear bins from zero to a round number at or above the 99.5th percentile (the tail piles in the last)."""
    top = nice_ceiling(percentile(ms, 99.5)) if len(ms) else 1.0
    return [top * i / bins for i in range(bins + 1)]


def _typology_recall(rows: Sequence[ScoredApplication]) -> dict[str, tuple[float, int]]:
    """Per typology of the fraud: the share sent to review or reject, and how many there were."""
    by: dict[str, list[bool]] = {}
    for row in rows:
        if row.fraud and row.typology:
            by.setdefault(row.typology, []).append(row.band in FLAGGED)
    return {t: (sum(flags) / len(flags), len(flags)) for t, flags in sorted(by.items())}


def _contributions(rows: Sequence[ScoredApplication]) -> dict[str, tuple[float, float]]:
    """Per detector: its mean contribution to the log-odds over fraud and over legitimate applications."""
    names = sorted({name for row in rows for name in row.contributions})
    out = {}
    for name in names:
        fraud = [row.contributions.get(name, 0.0) for row in rows if row.fraud is True]
        legit = [row.contributions.get(name, 0.0) for row in rows if row.fraud is False]
        out[name] = (float(np.mean(fraud)) if fraud else 0.0, float(np.mean(legit)) if legit else 0.0)
    return out


def _pr_drawn(y: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64]) -> Curve:
    """The precision-recall curve as drawn: from recall 0 at the precision of the highest threshold."""
    recall, precision = pr_curve(y, scores)
    if len(recall) == 0:
        return Curve([], [])
    return thin(np.r_[0.0, recall], np.r_[precision[0], precision])


def figures_of(rows: Sequence[ScoredApplication], score_bins: int = 20) -> Figures:
    """The figures of a backtest's scored applications (the labelled ones for curves and distributions)."""
    if score_bins < 1:
        raise ValueError(f"score_bins must be at least 1, got: {score_bins}")
    labelled = [r for r in rows if r.fraud is not None]
    y = np.array([bool(r.fraud) for r in labelled], dtype=bool)
    scores = np.array([r.fraud_score for r in labelled], dtype=np.float64)
    ms = np.array([r.total_ms for r in rows], dtype=np.float64)
    score_edges = [SCORE_MAX * i / score_bins for i in range(score_bins + 1)]
    return Figures(
        n_scored=len(rows),
        n_fraud=int(y.sum()),
        n_legit=int((~y).sum()),
        auroc=auroc(y, scores),
        auprc=auprc(y, scores),
        roc=thin(*roc_curve(y, scores)) if len(y) else Curve([], []),
        pr=_pr_drawn(y, scores),
        scores_fraud=histogram(scores[y], score_edges),
        scores_legit=histogram(scores[~y], score_edges),
        typology_recall=_typology_recall(rows),
        contributions=_contributions(rows),
        latency=histogram(ms, _latency_edges(ms)),
        latency_p50=percentile(ms, 50),
        latency_p99=percentile(ms, 99),
        bands={b: sum(r.band == b for r in rows) for b in ("approve", "review", "reject")},
    )
