"""A quality floor helper: fit a detector on its typology, check AUROC and recall on held-out data."""

from __future__ import annotations

import numpy as np

from detectors.base import Detector
from detectors.context import LabelledContext
from tianwang.stats import auroc, recall_at_fpr


def held_out_quality(detector: Detector, contexts: list[LabelledContext], typology: str) -> tuple[float, float]:
    kept = [c for c in contexts if not c.fraud or c.typology == typology]
    cut = int(len(kept) * 0.6)
    train, test = kept[:cut], kept[cut:]
    detector.fit(train)
    votes = detector.score_many([c.context for c in test])
    scores = np.array([v.score for v in votes])
    assert ((scores >= 0) & (scores <= 1)).all()
    y = np.array([c.fraud for c in test])
    return auroc(y, scores), recall_at_fpr(y, scores, 0.01)
