from __future__ import annotations

import math

import pytest

from detectors import Vote
from tianwang.scoring.config import Thresholds, VetoConfig
from tianwang.scoring.voting import apply_vetoes, band_for, fuse, logit


def test_fusion_is_weighted_log_odds_from_the_prior() -> None:
    votes = {"a": Vote(0.5, 1.0, baseline=0.1), "b": Vote(0.2, 0.5, baseline=0.1)}
    fused = fuse(votes, {"a": 2.0, "b": 1.0}, prior=0.05)
    expected = logit(0.05) + 2.0 * (logit(0.5) - logit(0.1)) + 0.5 * (logit(0.2) - logit(0.1))
    assert fused.log_odds == pytest.approx(expected)
    assert fused.fraud_score == round(1000 / (1 + math.exp(-expected)))
    assert fused.contributions["a"] == pytest.approx(2.0 * (logit(0.5) - logit(0.1)))


def test_votes_only_add_suspicion() -> None:
    fused = fuse({"a": Vote(0.001, baseline=0.1)}, {}, prior=0.05)
    assert fused.contributions["a"] == 0.0 and fused.fraud_score == 50


def test_bands_and_thresholds() -> None:
    thresholds = Thresholds(review=300, reject=700)
    assert [band_for(s, thresholds) for s in (0, 299, 300, 699, 700, 1000)] == [
        "approve", "approve", "review", "review", "reject", "reject"]
    with pytest.raises(ValueError, match="review threshold"):
        Thresholds(review=800, reject=700)


def test_vetoes_raise_the_band_and_the_score() -> None:
    thresholds = Thresholds(review=300, reject=700)
    votes = {"a": Vote(0.95), "b": Vote(0.5)}
    vetoes = {"a": VetoConfig(at=0.9, band="review"), "b": VetoConfig(at=0.9, band="reject")}
    assert apply_vetoes(100, "approve", votes, vetoes, thresholds) == (300, "review", ["a"])
    assert apply_vetoes(800, "reject", votes, vetoes, thresholds) == (800, "reject", ["a"])
