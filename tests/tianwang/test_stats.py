from __future__ import annotations

import numpy as np
import pytest

from tianwang.stats import auprc, auroc, percentile, pr_curve, recall_at_fpr, roc_curve


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


def tied_scores(n: int = 3000, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.08
    return y, np.round(rng.random(n) * 600 + 350 * y).astype(np.int64)  # integer scores, many ties


def test_the_area_under_the_drawn_roc_curve_is_the_auroc() -> None:
    y, s = tied_scores()
    fpr, tpr = roc_curve(y, s)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2) == pytest.approx(auroc(y, s), abs=1e-12)
    assert len(fpr) == len(np.unique(s)) + 1  # one point per distinct score


def test_the_step_area_under_the_precision_recall_curve_is_the_auprc() -> None:
    y, s = tied_scores()
    recall, precision = pr_curve(y, s)
    assert recall[-1] == 1.0 and precision[-1] == pytest.approx(y.mean())
    assert np.sum(np.diff(np.r_[0.0, recall]) * precision) == pytest.approx(auprc(y, s), abs=1e-12)


def test_curves_match_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    y, s = tied_scores(800, 9)
    fpr, tpr = roc_curve(y, s)
    ref_fpr, ref_tpr, _ = metrics.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)


def test_curves_of_one_class_are_empty() -> None:
    assert [len(a) for a in roc_curve([1, 1], [0.2, 0.3])] == [0, 0]
    assert [len(a) for a in pr_curve([0, 0], [0.2, 0.3])] == [0, 0]
