"""Small statistics every layer shares: the logistic function, one logistic fit, ranking metrics.

Kernel module: it imports numpy (and scipy for bounded fits) and nothing of the project,
so detectors, ring jobs, models and scoring all use the same definitions.

Examples
--------
>>> import numpy as np
>>> sigmoid(0.0)
0.5
>>> sigmoid(-1000.0), sigmoid(1000.0)
(0.0, 1.0)
>>> y = np.array([0, 0, 1, 1]); s = np.array([0.1, 0.4, 0.35, 0.8])
>>> auroc(y, s)
0.75
>>> round(auprc(y, s), 4)
0.8333
>>> recall_at_fpr(np.array([0] * 100 + [1, 1]), np.r_[np.arange(100) / 100, 0.995, 0.5], 0.01)
0.5
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
import numpy.typing as npt

__all__ = ["auprc", "auroc", "fit_logistic", "logit", "percentile", "pr_curve", "recall_at_fpr", "roc_curve",
           "sigmoid"]

FloatArray = npt.NDArray[np.float64]

_EPS = 1e-6


@overload
def sigmoid(z: float) -> float: ...


@overload
def sigmoid(z: npt.NDArray[np.floating]) -> FloatArray: ...


def sigmoid(z: float | npt.NDArray[np.floating]) -> float | FloatArray:
    """The logistic function ``1 / (1 + e^-z)``, without overflow for large ``|z|``.

    A number gives a float; an array gives an array of the same shape.
    """
    if isinstance(z, np.ndarray):
        return np.asarray(np.exp(-np.logaddexp(0.0, -z)), dtype=np.float64)
    z = float(z)
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def logit(p: float) -> float:
    """Log-odds of ``p``, with ``p`` kept within ``[1e-6, 1 - 1e-6]``."""
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def fit_logistic(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    l2: float = 1.0,
    anchor: npt.ArrayLike | None = None,
    bias: float | None = None,
    bounds: tuple[float | None, float | None] | None = None,
    iterations: int = 100,
) -> tuple[FloatArray, float]:
    """L2-penalised logistic regression of ``y`` on the columns of ``x``: ``(weights, bias)``.

    Minimises ``sum(log(1 + e^z) - y z) + l2 / 2 * |w - anchor|^2`` with
    ``z = x @ w + bias``; the bias is not penalised. ``anchor`` (zeros by default) is
    where the weights are pulled towards and, with ``bias``, where the fit starts (the
    bias starts at the log-odds of ``y`` when not given).

    Without ``bounds`` the fit takes damped Newton steps: each step is halved until the
    penalised loss goes down, so it cannot diverge on separable or collinear columns.
    With ``bounds = (low, high)`` every weight is kept within them (``None``: no limit on
    that side) and the fit is L-BFGS-B.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 1)); y = rng.random(400) < 1 / (1 + np.exp(-(2 * x[:, 0] - 1)))
    >>> w, b = fit_logistic(x, y, l2=1e-3)
    >>> bool(1.5 < w[0] < 2.6 and -1.5 < b < -0.5)
    True
    """
    features = np.asarray(x, dtype=np.float64)
    if features.ndim == 1:
        features = features[:, None]
    target = np.asarray(y, dtype=np.float64)
    n, k = features.shape
    if len(target) != n:
        raise ValueError(f"x has {n} rows but y has {len(target)}")
    centre = np.zeros(k) if anchor is None else np.asarray(anchor, dtype=np.float64).reshape(k)
    if bias is None:
        rate = float(target.mean()) if n else 0.5
        bias = logit(rate)
    design = np.hstack([features, np.ones((n, 1))])
    start = np.append(centre, bias)
    penalty = np.full(k + 1, float(l2))
    penalty[-1] = 0.0
    target_anchor = np.append(centre, 0.0)

    def loss(theta: FloatArray) -> float:
        z = design @ theta
        return float(np.sum(np.logaddexp(0.0, z) - target * z) + 0.5 * np.sum(penalty * (theta - target_anchor) ** 2))

    def gradient(theta: FloatArray) -> FloatArray:
        p = sigmoid(design @ theta)
        return np.asarray(design.T @ (p - target) + penalty * (theta - target_anchor), dtype=np.float64)

    if bounds is not None:
        from scipy.optimize import minimize

        result = minimize(lambda t: (loss(t), gradient(t)), _clip_start(start, bounds), jac=True,
                          method="L-BFGS-B", bounds=[bounds] * k + [(None, None)])
        theta = np.asarray(result.x, dtype=np.float64)
        return theta[:-1], float(theta[-1])

    theta = start
    current = loss(theta)
    for _ in range(iterations):
        p = sigmoid(design @ theta)
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient(theta))
        size = 1.0
        while size > 1e-4:
            candidate = theta - size * step
            value = loss(candidate)
            if value <= current:
                break
            size /= 2
        else:
            break
        theta, improvement, current = candidate, current - value, value
        if improvement < 1e-10 * max(1.0, abs(current)) or np.abs(size * step).max() < 1e-9:
            break
    return theta[:-1], float(theta[-1])


def _clip_start(start: FloatArray, bounds: tuple[float | None, float | None]) -> FloatArray:
    low, high = bounds
    out = start.copy()
    out[:-1] = np.clip(out[:-1], -np.inf if low is None else low, np.inf if high is None else high)
    return out


def _rank(values: FloatArray) -> FloatArray:
    """Ranks from 1, ties sharing their mean rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    mean_rank = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, counts)
    return ranks


def auroc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); NaN with one class only."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _rank(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Average precision (area under the precision-recall curve, step-wise, ties grouped)."""
    recall, precision = pr_curve(labels, scores)
    if len(recall) == 0:
        return float("nan")
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _ranked_counts(y: npt.NDArray[np.bool_], s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """True and false positives at each distinct threshold, highest score first (ties grouped)."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), len(s_sorted) - 1].astype(np.int64)
    tp = np.cumsum(y_sorted)[last_of_tie].astype(np.float64)
    return tp, (last_of_tie + 1) - tp


def roc_curve(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The ROC curve: ``(false positive rate, true positive rate)`` from ``(0, 0)`` to ``(1, 1)``.

    One point per distinct score, highest first; the area under it (trapezoids) is :func:`auroc`.
    Both arrays are empty when one class is missing.

    Examples
    --------
    >>> fpr, tpr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return np.empty(0), np.empty(0)
    tp, fp = _ranked_counts(y, s)
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def pr_curve(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The precision-recall curve: ``(recall, precision)``, one point per distinct score, highest first.

    The step-wise area under it is :func:`auprc`. Both arrays are empty without positives.

    Examples
    --------
    >>> recall, precision = pr_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> recall.tolist(), [round(float(p), 4) for p in precision]
    ([0.5, 0.5, 1.0, 1.0], [1.0, 0.5, 0.6667, 0.5])
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    if n_pos == 0:
        return np.empty(0), np.empty(0)
    tp, fp = _ranked_counts(y, s)
    return tp / n_pos, tp / (tp + fp)


def recall_at_fpr(labels: npt.ArrayLike, scores: npt.ArrayLike, fpr: float = 0.01) -> float:
    """Recall at the strictest threshold that lets at most ``fpr`` of negatives through.

    A positive counts when its score is strictly above the threshold, so ties with
    the threshold never add false positives.
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    negatives = np.sort(s[~y])[::-1]
    if len(negatives) == 0 or not y.any():
        return float("nan")
    allowed = int(np.floor(fpr * len(negatives)))
    threshold = negatives[allowed] if allowed < len(negatives) else -np.inf
    return float(np.mean(s[y] > threshold))


def percentile(values: npt.ArrayLike, q: float) -> float:
    """The ``q``-th percentile of ``values``; NaN when there are none."""
    v = np.asarray(values, dtype=np.float64)
    return float(np.percentile(v, q)) if len(v) else float("nan")
