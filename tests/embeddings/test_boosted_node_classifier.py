"""Bagged boosting on neighbour aggregates finds a label planted in the neighbourhood."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from embeddings.aggregates import neighbour_aggregates
from embeddings.boosted_node_classifier import BoostedNodeClassifier
from tests.embeddings.conftest import PlantedGraph


def test_quality_floor_on_planted_graph(planted: PlantedGraph) -> None:
    features = neighbour_aggregates(planted.features, planted.edge_index)
    train, val, test = planted.train_mask, planted.val_mask, planted.test_mask
    model = BoostedNodeClassifier(bags=2, max_iter=200).fit(
        features[train], planted.labels[train], val_features=features[val], val_labels=planted.labels[val]
    )
    scores = model.predict_proba(features[test])
    assert scores.shape == (int(test.sum()),)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert roc_auc_score(planted.labels[test], scores) >= 0.85
    assert len(model.models_) == 2 and all(rounds >= 1 for rounds in model.n_iter_)


def test_own_features_alone_do_not_find_it(planted: PlantedGraph) -> None:
    """The signal is in the graph: without aggregates the model is near chance."""
    train, test = planted.train_mask, planted.test_mask
    model = BoostedNodeClassifier(bags=1, max_iter=100).fit(planted.features[train], planted.labels[train])
    assert roc_auc_score(planted.labels[test], model.predict_proba(planted.features[test])) < 0.7


def test_seeded_runs_agree(planted: PlantedGraph) -> None:
    features = neighbour_aggregates(planted.features, planted.edge_index)
    first = BoostedNodeClassifier(bags=2, max_iter=50, seed=3).fit(features, planted.labels).predict_proba(features)
    second = BoostedNodeClassifier(bags=2, max_iter=50, seed=3).fit(features, planted.labels).predict_proba(features)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"bags": 0}, "bags must be at least 1, got: 0"),
        ({"bag_fraction": 1.5}, "bag_fraction must be in"),
        ({"learning_rate": 0.0}, "learning_rate must be in"),
        ({"n_threads": 0}, "n_threads must be at least 1"),
    ],
)
def test_bad_settings_fail_when_built(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BoostedNodeClassifier(**settings)  # type: ignore[arg-type]


def test_unfitted_and_one_class() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        BoostedNodeClassifier().predict_proba(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="both 0 and 1"):
        BoostedNodeClassifier().fit(np.zeros((4, 2)), np.zeros(4))
