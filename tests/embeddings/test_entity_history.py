"""Entity histories read only the past: counts, statistics, windows, no leakage from later rows."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.entity_history import HISTORY_FEATURES, entity_history


def test_counts_means_and_gaps() -> None:
    codes = np.array([0, 1, 0, 0, 1])
    time = np.array([0, 1, 2, 5, 9])
    amount = np.array([10.0, 1.0, 30.0, 20.0, 3.0])
    history = entity_history(codes, time, amount, windows=(3,))
    assert history.shape == (5, len(HISTORY_FEATURES) + 2)
    count, mean, _std, ratio, _z, gap, previous = history[:, :7].T
    np.testing.assert_array_equal(count, [0, 0, 1, 2, 1])
    np.testing.assert_allclose(mean[[2, 3, 4]], [10, 20, 1])
    assert np.isnan(mean[[0, 1]]).all()
    np.testing.assert_allclose(ratio[3], 1.0)
    np.testing.assert_allclose(gap[[2, 3, 4]], [2, 3, 8])
    np.testing.assert_allclose(previous[[2, 3, 4]], [10, 30, 1])
    window_count = history[:, 7]
    np.testing.assert_array_equal(window_count, [0, 0, 1, 1, 0])  # within [t - 3, t)


def test_later_rows_do_not_change_earlier_features() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=200)
    time = np.arange(200)
    amount = rng.gamma(2.0, 50.0, size=200)
    before = entity_history(codes, time, amount)
    changed = amount.copy()
    changed[150:] *= 100.0
    after = entity_history(codes, time, changed)
    # Equal up to rounding: the running sums are taken over all entities at once.
    np.testing.assert_allclose(before[:150], after[:150], rtol=1e-7, atol=1e-6, equal_nan=True)
    assert not np.allclose(np.nan_to_num(before[150:]), np.nan_to_num(after[150:]))


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="one length"):
        entity_history([0, 1], [0], [1.0, 2.0])
    with pytest.raises(ValueError, match="windows must be positive"):
        entity_history([0], [0], [1.0], windows=(0,))
