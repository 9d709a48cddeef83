"""Fusing votes into one ``fraud_score`` and a band.

Each voting detector ``d`` raises the log-odds of fraud above the strategy's prior
by how far its score lies above its own baseline, scaled by its weight and confidence::

    z = logit(prior) + sum_d  weight_d * confidence_d * max(0, logit(score_d) - logit(baseline_d))
    fraud_score = round(1000 * sigmoid(z))

A detector only ever adds suspicion: each looks for its own kind of fraud, and finding
none of it says nothing about the others (an application with a perfect identity
check may still carry a forged statement). A clean application (every detector at or
below its baseline) therefore gets the prior.
Vetoes then raise the band: a detector whose score reaches its veto level puts the
application in the veto's band at least (and its ``fraud_score`` to that band's
threshold at least).

Examples
--------
>>> from detectors.base import Vote
>>> fused = fuse({"a": Vote(0.01, baseline=0.01)}, {"a": 1.0}, prior=0.05)
>>> fused.fraud_score
50
>>> band_for(50, Thresholds(review=300, reject=700))
'approve'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from detectors.base import Vote
from tianwang.scoring.config import Thresholds, VetoConfig
from tianwang.stats import logit, sigmoid

__all__ = ["FusedVote", "apply_vetoes", "band_for", "fraud_score_of", "fuse", "logit"]

_BAND_RANK = {"approve": 0, "review": 1, "reject": 2}




@dataclass(frozen=True, slots=True)
class FusedVote:
    """The fused log-odds, ``fraud_score`` and each detector's contribution (log-odds)."""

    log_odds: float
    fraud_score: int
    contributions: dict[str, float]


def fuse(votes: Mapping[str, Vote], weights: Mapping[str, float], prior: float) -> FusedVote:
    """Fuse ``votes`` by ``weights`` (missing weight: 1) in log-odds space, starting at ``prior``."""
    z = logit(prior)
    contributions = {}
    for name, vote in votes.items():
        c = weights.get(name, 1.0) * vote.confidence * max(0.0, logit(vote.score) - logit(vote.baseline))
        contributions[name] = c
        z += c
    z = max(min(z, 50.0), -50.0)
    return FusedVote(z, fraud_score_of(z), contributions)


def fraud_score_of(log_odds: float) -> int:
    """The 0-1000 ``fraud_score`` of fused log-odds (clipped to +-50 as :func:`fuse` does)."""
    return round(1000 * sigmoid(max(min(log_odds, 50.0), -50.0)))


def band_for(fraud_score: int, thresholds: Thresholds) -> str:
    """``reject`` at or above the reject threshold, ``review`` at or above review, else ``approve``."""
    if fraud_score >= thresholds.reject:
        return "reject"
    if fraud_score >= thresholds.review:
        return "review"
    return "approve"


def apply_vetoes(
    fraud_score: int, band: str, votes: Mapping[str, Vote], vetoes: Mapping[str, VetoConfig], thresholds: Thresholds
) -> tuple[int, str, list[str]]:
    """Raise ``band`` (and ``fraud_score``) for every veto that fires; return the vetoing detectors."""
    fired = []
    for name, veto in vetoes.items():
        vote = votes.get(name)
        if vote is None or vote.score < veto.at:
            continue
        fired.append(name)
        if _BAND_RANK[veto.band] > _BAND_RANK[band]:
            band = veto.band
        floor = thresholds.reject if band == "reject" else thresholds.review if band == "review" else 0
        fraud_score = max(fraud_score, floor)
    return fraud_score, band, fired
