"""Neighbour aggregates: values on a tiny graph, shapes, isolated nodes, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.aggregates import mean_adjacency, neighbour_aggregates


def test_values_on_a_star() -> None:
    x = np.array([[1.0], [2.0], [4.0], [7.0]])
    edge_index = np.array([[1, 2, 0, 0], [0, 0, 1, 2]])  # 0 — 1, 0 — 2; node 3 isolated
    out = neighbour_aggregates(x, edge_index, two_hop=False)
    assert out.shape == (4, 6 * 1 + 2)
    own, mean, std, high, low, total, log_degree, neighbour_log_degree = out.T
    np.testing.assert_allclose(own, [1, 2, 4, 7])
    np.testing.assert_allclose(mean, [3, 1, 1, 0])
    np.testing.assert_allclose(std, [1, 0, 0, 0])
    np.testing.assert_allclose(high, [4, 1, 1, 0])
    np.testing.assert_allclose(low, [2, 1, 1, 0])
    np.testing.assert_allclose(total, [6, 1, 1, 0])
    np.testing.assert_allclose(log_degree, np.log1p([2, 1, 1, 0]))
    np.testing.assert_allclose(neighbour_log_degree, [np.log(2), np.log(3), np.log(3), 0])


def test_two_hop_shape_and_finite() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3))
    edge_index = rng.integers(0, 30, size=(2, 80))
    out = neighbour_aggregates(x, edge_index)
    assert out.shape == (30, 10 * 3 + 2)
    assert np.isfinite(out).all()


def test_mean_adjacency_rows_sum_to_one_or_zero() -> None:
    adjacency = mean_adjacency(np.array([[0, 1, 2], [1, 2, 1]]), 4)
    np.testing.assert_allclose(np.asarray(adjacency.sum(axis=1)).ravel(), [0, 1, 1, 0])


def test_bad_shapes_are_named() -> None:
    with pytest.raises(ValueError, match="edge_index must have shape"):
        mean_adjacency(np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="x must be 2-dimensional"):
        neighbour_aggregates(np.zeros(3), np.array([[0], [1]]))
