from __future__ import annotations

import numpy as np
import pytest

from tianwang.stats import auprc, auroc, percentile, recall_at_fpr


def test_against_scikit_learn_on_tied_scores() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.1
    s = np.round(rng.random(2000) + 0.4 * y, 1)
    assert auroc(y, s) == pytest.approx(sklearn_metrics.roc_auc_score(y, s))
    assert auprc(y, s) == pytest.approx(sklearn_metrics.average_precision_score(y, s))


def test_known_values() -> None:
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert np.isnan(auroc([1, 1], [0.1, 0.2]))
    assert auprc([0, 1], [0.2, 0.9]) == 1.0
    negatives = np.linspace(0, 1, 200)
    y = np.r_[np.zeros(200), np.ones(4)]
    s = np.r_[negatives, 0.999, 0.998, 0.5, 0.1]
    assert recall_at_fpr(y, s, 0.01) == 0.5  # 2 negatives may pass: threshold at the third highest
    assert percentile([1, 2, 3], 50) == 2


def test_fit_logistic_matches_a_reference_solver() -> None:
    from sklearn.linear_model import LogisticRegression

    from tianwang.stats import fit_logistic

    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 3))
    y = rng.random(2000) < 1 / (1 + np.exp(-(x @ np.array([1.5, -0.7, 0.0]) - 1.0)))
    weights, bias = fit_logistic(x, y, l2=2.0)
    reference = LogisticRegression(C=1 / 2.0, tol=1e-10, max_iter=1000).fit(x, y)
    np.testing.assert_allclose(weights, reference.coef_[0], atol=1e-5)
    assert abs(bias - reference.intercept_[0]) < 1e-5


def test_fit_logistic_pulls_towards_its_anchor_and_keeps_bounds() -> None:
    from tianwang.stats import fit_logistic

    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 2))
    y = rng.random(300) < 1 / (1 + np.exp(-(x @ np.array([1.0, -1.0]))))
    free, _ = fit_logistic(x, y, l2=1e-3)
    anchored, _ = fit_logistic(x, y, l2=1e4, anchor=[3.0, 3.0])
    bounded, _ = fit_logistic(x, y, l2=1e-3, bounds=(0.0, 0.5))
    assert free[0] > 0.5 and free[1] < 0
    np.testing.assert_allclose(anchored, [3.0, 3.0], atol=0.1)
    np.testing.assert_allclose(bounded, [0.5, 0.0], atol=1e-6)


def test_sigmoid_is_one_function_for_numbers_and_arrays() -> None:
    from tianwang.stats import sigmoid

    z = np.array([-800.0, -2.0, 0.0, 2.0, 800.0])
    expected = [0.0, 1 / (1 + np.exp(2.0)), 0.5, 1 / (1 + np.exp(-2.0)), 1.0]
    np.testing.assert_allclose(sigmoid(z), expected, atol=1e-15)
    assert [sigmoid(float(v)) for v in z] == pytest.approx(expected, abs=1e-15)
