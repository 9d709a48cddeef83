"""Learning a strategy's vote weights from labelled history.

The vote (:mod:`tianwang.scoring.voting`) adds, for each detector, ``weight *
confidence * max(0, logit(score) - logit(baseline))`` to the log-odds of fraud. Hand-set
weights count twice what two detectors see alike (the rules and the ring detector both
notice a shared device); a strategy with ``fit_weights`` learns them instead: a
logistic regression on those per-detector terms, with weights held non-negative (a
detector may only add suspicion, as in the hand-set vote) and pulled towards zero by
``l2``, and the intercept giving the prior.

The votes it learns from must not be the training set's own: the pipeline fits the
detectors on the earlier part of the history, collects their votes on the later part
(``holdout``), learns the weights there, and then fits the detectors on the whole
history (:meth:`~tianwang.scoring.pipeline.ScoringPipeline.fit`).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.random(4000) < 0.1
>>> useful = np.where(y, rng.gamma(4.0, 1.0, 4000), rng.gamma(1.0, 0.5, 4000))
>>> noise = rng.gamma(1.0, 1.0, 4000)
>>> learned = learn_weights(np.column_stack([useful, noise]), y, ["useful", "noise"])
>>> learned.weights["useful"] > 0.5 > learned.weights["noise"]
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.base import Vote
from tianwang.stats import fit_logistic, logit, sigmoid

__all__ = ["LearnedWeights", "learn_weights", "vote_terms"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LearnedWeights:
    """Weights by detector, the prior (fraud rate the log-odds start from), and how they were learned."""

    weights: dict[str, float]
    prior: float
    details: dict[str, Any] = field(default_factory=dict)


def vote_terms(votes: Mapping[str, Vote], names: Sequence[str]) -> list[float]:
    """Each detector's unweighted term of the vote (0 where it did not vote)."""
    out = []
    for name in names:
        vote = votes.get(name)
        out.append(0.0 if vote is None else vote.confidence * max(0.0, logit(vote.score) - logit(vote.baseline)))
    return out


def learn_weights(
    terms: npt.ArrayLike, y: npt.ArrayLike, names: Sequence[str], *, l2: float = 1.0, max_weight: float = 10.0
) -> LearnedWeights:
    """Non-negative logistic regression of ``y`` on ``terms`` (one column per name in ``names``).

    Names whose column is never positive are left out of the result (listed in
    ``details["kept_configured"]``): the caller keeps their configured weights.

    Raises
    ------
    ValueError
        If there are fewer than 10 fraud or 10 legitimate examples.
    """
    x = np.asarray(terms, dtype=np.float64).reshape(len(np.asarray(y)), len(names))
    target = np.asarray(y, dtype=bool)
    n_fraud = int(target.sum())
    if n_fraud < 10 or len(target) - n_fraud < 10:
        n_legit = len(target) - n_fraud
        raise ValueError(f"need at least 10 fraud and 10 legitimate examples, got {n_fraud} and {n_legit}")
    t = target.astype(np.float64)
    n = len(t)
    # a detector that never raised suspicion here (a watchlist without hits) teaches nothing:
    # it keeps its configured weight
    silent = [name for j, name in enumerate(names) if not (x[:, j] > 0).any()]
    informative = [j for j, name in enumerate(names) if name not in silent]
    x = x[:, informative]
    names = [names[j] for j in informative]

    weights_fit, b = fit_logistic(x, t, l2=l2, bounds=(0.0, max_weight))
    z = b + x @ weights_fit
    loss = (float(np.sum(np.logaddexp(0.0, z) - t * z)) + 0.5 * l2 * float(weights_fit @ weights_fit)) / n
    weights = {name: round(float(w), 4) for name, w in zip(names, weights_fit, strict=True)}
    prior = sigmoid(b)
    return LearnedWeights(weights, min(max(prior, 1e-6), 1 - 1e-6),
                          {"samples": n, "fraud": n_fraud, "loss": round(loss, 5),
                           "kept_configured": silent})
