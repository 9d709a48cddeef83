"""Strategies that learn their weights from labelled history (fit_weights)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import Detector, LabelledContext, Reason, ScoringContext, Vote
from graph_schema.embedded import EmbeddedGraphStore
from tianwang.application import parse_application
from tianwang.scoring import ScoringPipeline, parse_config
from tianwang.scoring.config import Thresholds
from tianwang.scoring.errors import ScoringConfigError
from tianwang.scoring.fusion import learn_weights, review_threshold
from tianwang.scoring.voting import band_for

from ..builders import application
from .helpers import registry


class IncomeDetector(Detector):
    """Suspicious of high declared incomes: informative on the history below."""

    name = "income"

    def _score(self, context: ScoringContext) -> Vote:
        high = context.application.applicant.monthly_income > 30_000
        return Vote(0.6 if high else 0.01, 1.0, (Reason("HIGH", "high income"),) if high else (), 0.01)


class CoinDetector(Detector):
    """Votes at random (by application number): no information."""

    name = "coin"

    def _score(self, context: ScoringContext) -> Vote:
        odd = int(context.application_id[-1]) % 2 == 1
        return Vote(0.6 if odd else 0.01, 1.0, (), 0.01)


def _history(pipeline: ScoringPipeline, n: int = 400) -> list[LabelledContext]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(1, n + 1):
        fraud = bool(rng.random() < 0.15)
        income = 40_000 if fraud and rng.random() < 0.8 else (40_000 if rng.random() < 0.05 else 12_000)
        app = parse_application(application(i, **{"applicant.monthly_income": income}))
        out.append(LabelledContext(pipeline.ingest(app), fraud))
    return out


def _config(fit: bool, share: float | None = None):
    reg = registry()
    reg.register(IncomeDetector)
    reg.register(CoinDetector)
    budget = "" if share is None else f", review_legit_share: {share}"
    text = f"""
version: 1
fusion: {{holdout: 0.5, l2: 1.0}}
detectors: {{income: {{weight: 1.0, budget_ms: 30000}}, coin: {{weight: 1.0, budget_ms: 30000}}}}
strategies:
  main: {{thresholds: {{review: 300, reject: 700}}, prior: 0.05, fit_weights: {str(fit).lower()}{budget}}}
champion: main
"""
    return parse_config(text, reg)


def test_a_strategy_learns_weights_that_favour_the_informative_detector(tmp_path, keyer, pipelines) -> None:
    store = EmbeddedGraphStore(tmp_path / "g.db", keyer)
    pipeline = pipelines(store, _config(fit=True))
    report = pipeline.fit(_history(pipeline))
    fusion = report["fusion"]
    assert fusion["holdout"] == 200 and fusion["main"]["learned"]
    weights = fusion["main"]["weights"]
    assert weights["income"] > 1.0 and weights["coin"] < 0.3
    assert 0.001 < fusion["main"]["prior"] < 0.15
    decision = pipeline.score(application(999, **{"applicant.monthly_income": 40_000}))
    by_name = {o.detector: o for o in decision.outcomes}
    assert by_name["income"].weight == weights["income"]
    assert decision.fraud_score > 500
    pipeline.close()
    store.close()


def test_without_fit_weights_the_configured_weights_stay(tmp_path, keyer, pipelines) -> None:
    store = EmbeddedGraphStore(tmp_path / "g.db", keyer)
    pipeline = pipelines(store, _config(fit=False))
    assert "fusion" not in pipeline.fit(_history(pipeline, 50))
    decision = pipeline.score(application(998, **{"applicant.monthly_income": 40_000}))
    assert {o.detector: o.weight for o in decision.outcomes if o.voting} == {"income": 1.0, "coin": 1.0}
    pipeline.close()
    store.close()


def test_too_few_examples_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least 10 fraud"):
        learn_weights(np.ones((20, 1)), np.zeros(20, dtype=bool), ["a"])


def test_a_detector_that_never_voted_keeps_its_configured_weight() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.2
    terms = np.column_stack([np.where(y, 2.0, 0.0) + rng.random(500), np.zeros(500)])
    learned = learn_weights(terms, y, ["useful", "watchlist"])
    assert set(learned.weights) == {"useful"} and learned.details["kept_configured"] == ["watchlist"]


def test_a_review_budget_sets_the_review_threshold_from_the_holdout(tmp_path, keyer, pipelines) -> None:
    store = EmbeddedGraphStore(tmp_path / "g.db", keyer)
    pipeline = pipelines(store, _config(fit=True, share=0.06))
    learned = pipeline.fit(_history(pipeline, 1200))["fusion"]["main"]
    assert learned["review_threshold_learned"] and learned["review_legit_share"] == 0.06
    threshold = learned["review_threshold"]
    assert threshold != 300 and learned["holdout_legit_reviewed"] <= 0.06
    assert learned["holdout_fraud_reviewed"] > 0.5  # the informative detector still sends most fraud to review
    main = pipeline.loaded.config.strategies["main"]
    assert pipeline.thresholds_of("main", main, pipeline.loaded) == Thresholds(review=threshold, reject=700)
    for n, income in ((2001, 40_000), (2002, 40_000), (2003, 12_000), (2004, 12_000)):
        decision = pipeline.score(application(n, **{"applicant.monthly_income": income}))
        assert decision.band == band_for(decision.fraud_score, Thresholds(review=threshold, reject=700))
    pipeline.close()
    store.close()


def test_a_holdout_too_small_for_the_budget_keeps_the_configured_threshold(tmp_path, keyer, pipelines) -> None:
    store = EmbeddedGraphStore(tmp_path / "g.db", keyer)
    pipeline = pipelines(store, _config(fit=True, share=0.001))
    learned = pipeline.fit(_history(pipeline))["fusion"]["main"]
    assert learned["learned"] and not learned["review_threshold_learned"]
    assert learned["review_threshold"] == 300 and "too few" in learned["review_threshold_why"]
    main = pipeline.loaded.config.strategies["main"]
    assert pipeline.thresholds_of("main", main, pipeline.loaded) == main.thresholds
    pipeline.close()
    store.close()


def test_a_review_budget_is_a_share() -> None:
    with pytest.raises(ScoringConfigError, match=r"review_legit_share: Input should be less than 0\.5"):
        _config(fit=True, share=0.6)


@pytest.mark.parametrize("share", [0.005, 0.01, 0.05])
def test_the_review_threshold_keeps_legitimate_reviews_within_the_budget(share: float) -> None:
    rng = np.random.default_rng(3)
    legit = rng.integers(0, 1000, 5000)
    t = review_threshold(legit, share, reject=1000)
    assert t is not None
    assert (legit >= t).mean() <= share < (legit >= t - 1).mean()
