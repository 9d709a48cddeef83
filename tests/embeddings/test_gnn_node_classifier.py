"""SageSepNet and its classifier: shapes, a planted neighbourhood signal, early stopping, bad settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from embeddings.gnn_node_classifier import GnnNodeClassifier
from embeddings.sage_sep_net import SageSepNet
from tests.embeddings.conftest import PlantedGraph


def test_module_output_shape() -> None:
    torch.manual_seed(0)
    net = SageSepNet(4, hidden_channels=8, num_layers=3)
    logits = net(torch.randn(10, 4), torch.tensor([[0, 1, 2], [1, 2, 3]]))
    assert logits.shape == (10,)
    assert torch.isfinite(logits).all()


def test_finds_label_planted_in_neighbourhood(planted: PlantedGraph) -> None:
    model = GnnNodeClassifier(hidden_channels=32, epochs=80, eval_every=5, lr=1e-2, seed=0).fit(
        planted.features, planted.edge_index, planted.labels, planted.train_mask, planted.val_mask
    )
    scores = model.node_scores_
    assert scores.shape == (len(planted.labels),)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert 0 <= model.best_epoch_ < 80
    assert roc_auc_score(planted.labels[planted.test_mask], scores[planted.test_mask]) >= 0.8


def test_restores_thread_count(planted: PlantedGraph) -> None:
    before = torch.get_num_threads()
    GnnNodeClassifier(epochs=2, eval_every=1, num_threads=1).fit(
        planted.features, planted.edge_index, planted.labels, planted.train_mask, planted.val_mask
    )
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"epochs": 0}, "epochs and eval_every"), ({"lr": -1.0}, "lr must be positive")],
)
def test_bad_settings_fail_when_built(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GnnNodeClassifier(**settings)  # type: ignore[arg-type]


def test_bad_module_settings() -> None:
    with pytest.raises(ValueError, match="num_layers must be at least 1"):
        SageSepNet(4, num_layers=0)
    with pytest.raises(ValueError, match="dropout must be in"):
        SageSepNet(4, dropout=1.0)


def test_val_mask_needs_both_classes(planted: PlantedGraph) -> None:
    only_negatives = planted.val_mask & (planted.labels == 0)
    with pytest.raises(ValueError, match="both classes"):
        GnnNodeClassifier(epochs=1).fit(
            planted.features, planted.edge_index, planted.labels, planted.train_mask, only_negatives
        )


def test_seeded_runs_agree(planted: PlantedGraph) -> None:
    def run() -> np.ndarray:
        return (
            GnnNodeClassifier(epochs=5, eval_every=1, seed=4)
            .fit(planted.features, planted.edge_index, planted.labels, planted.train_mask, planted.val_mask)
            .node_scores_
        )

    np.testing.assert_allclose(run(), run(), rtol=1e-5)
