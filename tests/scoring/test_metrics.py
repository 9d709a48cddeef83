from __future__ import annotations

import numpy as np
import pytest

from tianwang.scoring.metrics import auprc, auroc, percentile, recall_at_fpr


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
