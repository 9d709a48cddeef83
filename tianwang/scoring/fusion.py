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

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.base import Vote
from tianwang.scoring.config import LoadedConfig, Thresholds
from tianwang.scoring.voting import fraud_score_of
from tianwang.stats import fit_logistic, logit, sigmoid

__all__ = ["LearnedWeights", "learn_review_threshold", "learn_strategies", "learn_weights", "review_threshold",
           "vote_terms"]

FloatArray = npt.NDArray[np.float64]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LearnedWeights:
    """Weights by detector, the prior (fraud rate the log-odds start from), and how they were learned;
    ``review_threshold``: the review threshold set from the strategy's ``review_legit_share``, if any."""

    weights: dict[str, float]
    prior: float
    details: dict[str, Any] = field(default_factory=dict)
    review_threshold: int | None = None


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


def review_threshold(legit_scores: npt.ArrayLike, share: float, *, reject: int, least: int = 10) -> int | None:
    """The lowest ``fraud_score`` at which no more than ``share`` of ``legit_scores`` would go to review.

    ``legit_scores`` are the fused scores of legitimate applications the detectors were not
    fitted on (the holdout). The result lies in ``[1, reject]``. ``None`` when so few are given
    that fewer than ``least`` of them would be reviewed at that share: the quantile would be
    noise, and the configured threshold holds.

    >>> review_threshold([10] * 990 + [400] * 5 + [700] * 5, 0.005, reject=900, least=5)
    401
    >>> review_threshold([10] * 99 + [700], 0.01, reject=900) is None
    True
    """
    scores = np.sort(np.asarray(legit_scores, dtype=np.int64))
    if len(scores) * share < least:
        return None
    allowed = int(np.floor(len(scores) * share))  # legitimate applications that may reach review
    # those scoring >= t are reviewed: t one above the (allowed+1)-th highest score reviews at most
    # ``allowed`` of them (fewer where scores tie)
    t = int(scores[len(scores) - allowed - 1]) + 1
    return int(min(max(t, 1), reject))


def learn_review_threshold(learned: LearnedWeights, terms: npt.ArrayLike, y: npt.ArrayLike, names: Sequence[str], *,
                           share: float, configured: Thresholds) -> tuple[LearnedWeights, dict[str, Any]]:
    """Set ``learned``'s review threshold from a review budget: ``share`` of the legitimate applications
    among the holdout's votes (``terms`` and ``y`` as for :func:`learn_weights`), fused with the learned
    weights and prior. Returns the learned weights with it and what to report of it."""
    target = np.asarray(y, dtype=bool)
    x = np.asarray(terms, dtype=np.float64).reshape(len(target), len(names))
    w = np.array([learned.weights.get(n, 0.0) for n in names])
    # scored as the vote scores them (a detector silent on the holdout adds nothing here)
    scores = np.array([fraud_score_of(z) for z in (logit(learned.prior) + x @ w).tolist()], dtype=np.int64)
    legit, fraud = scores[~target], scores[target]
    threshold = review_threshold(legit, share, reject=configured.reject)
    if threshold is None:
        why = (f"{len(legit)} legitimate applications in the holdout are too few for a review share of "
               f"{share:.2%}: the configured threshold {configured.review} holds")
        log.warning("review threshold not learned", extra={"why": why})
        return learned, {"review_threshold": configured.review, "review_threshold_learned": False,
                         "review_threshold_why": why}
    return replace(learned, review_threshold=threshold), {
        "review_threshold": threshold, "review_threshold_learned": True, "review_legit_share": share,
        "holdout_legit_reviewed": round(float((legit >= threshold).mean()), 5),
        "holdout_fraud_reviewed": round(float((fraud >= threshold).mean()), 5) if len(fraud) else None}


def learn_strategies(terms: Sequence[Sequence[float]], y: Sequence[bool], voting: Sequence[str], loaded: LoadedConfig,
                     strategies: Sequence[str]) -> tuple[dict[str, LearnedWeights], dict[str, Any]]:
    """Learn each of ``strategies`` from the holdout's vote terms (one column per name in ``voting``): its
    weights and prior, and its review threshold where it sets a review budget. Returns what each learned
    (strategies that could not learn are left out) and a report by strategy."""
    learned: dict[str, LearnedWeights] = {}
    report: dict[str, Any] = {"holdout": len(y)}
    for name in strategies:
        strategy = loaded.config.strategies[name]
        chosen = set(strategy.detectors or voting)
        members = [i for i, n in enumerate(voting) if n in chosen]
        x = [[row[i] for i in members] for row in terms]
        names = [voting[i] for i in members]
        try:
            fitted = learn_weights(x, y, names, l2=loaded.config.fusion.l2)
        except ValueError as exc:
            log.warning("strategy weights not learned", extra={"strategy": name, "why": str(exc)})
            report[name] = {"learned": False, "why": str(exc)}
            continue
        extra: dict[str, Any] = {}
        if strategy.review_legit_share is not None:
            fitted, extra = learn_review_threshold(fitted, x, y, names, share=strategy.review_legit_share,
                                                   configured=strategy.thresholds)
        learned[name] = fitted
        report[name] = {"learned": True, "weights": fitted.weights, "prior": round(fitted.prior, 5),
                        **fitted.details, **extra}
    return learned, report
