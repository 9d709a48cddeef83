"""Stacking features: out-of-fold scores never come from a model that saw the node's label."""

from __future__ import annotations

import numpy as np

from embeddings.stacking import label_adjacency, neighbour_label_features, neighbour_score_features, out_of_fold_scores


def test_training_nodes_are_scored_only_by_models_that_did_not_see_them() -> None:
    n = 40
    x = np.arange(n, dtype=np.float64).reshape(-1, 1)  # the row's id is its only feature
    labels = np.array([i % 2 for i in range(n)])
    train = np.arange(n) < 30

    def memorising_fit(xs, ys):
        seen = set(xs[:, 0].tolist())
        return lambda rows: np.array([1.0 if r in seen else 0.0 for r in np.asarray(rows)[:, 0]])

    scores = out_of_fold_scores(x, labels, train, memorising_fit, folds=3)
    assert not scores[train].any()  # no training node was scored by a model that had it
    assert not scores[~train].any()  # nor were the others (the full model never saw them)


def test_adjacency_is_symmetric_without_self_loops() -> None:
    a = label_adjacency(np.array([[0, 1, 2, 2], [1, 2, 2, 0]]), 4)
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0
    assert a[3].nnz == 0


def test_neighbour_label_features_count_only_training_labels() -> None:
    # path 0 - 1 - 2 - 3; nodes 0 and 2 train-labelled positive, node 3 positive but not training
    a = label_adjacency(np.array([[0, 1, 2], [1, 2, 3]]), 4)
    labels = np.array([1, 0, 1, 1])
    train = np.array([True, True, True, False])
    f = neighbour_label_features(a, labels, train)
    # node 1: one-hop neighbours 0 and 2, both training positives
    assert f[1, :3].tolist() == [2.0, 2.0, 1.0]
    # node 2: one-hop neighbours 1 (training, negative) and 3 (not training): 0 of 1
    assert f[2, :3].tolist() == [0.0, 1.0, 0.0]


def test_neighbour_scores_are_means_and_maximum() -> None:
    a = label_adjacency(np.array([[0, 0], [1, 2]]), 3)
    f = neighbour_score_features(a, np.array([0.2, 0.4, 0.8]))
    assert np.allclose(f[0], [0.6, 0.2, 0.8])  # node 0: neighbours 1 and 2
