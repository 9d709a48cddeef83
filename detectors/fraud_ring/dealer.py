"""Dealer collusion: how much a dealer's share of applications in risky rings says of one application.

:class:`DealerCurve` tests a dealer's exposure (enough applications, some in risky
rings) and gives the dealer score at its share: when fitted (:meth:`DealerCurve.calibrate`),
the fraud rate the training history shows at such dealers among applicants in no risky
ring, a logistic curve in the share that never falls (at most ``dealer_max``); without
enough history (``dealer_min_fraud`` fraud cases) the hand-set
``dealer_max * sigmoid(dealer_share_slope * (share - dealer_share_mid))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tianwang.stats import fit_logistic, sigmoid

if TYPE_CHECKING:
    from detectors.context import LabelledContext
    from detectors.fraud_ring.settings import FraudRingSettings
    from tianwang.rings.index import DealerExposure, RingIndex

__all__ = ["DealerCurve", "fit_share_curve"]


class DealerCurve:
    """The dealer score in a dealer's risky-ring share: fitted, or hand-set until fitted."""

    def __init__(self, settings: FraudRingSettings) -> None:
        self.settings = settings
        self.curve: tuple[float, float] | None = None  # (intercept, slope) of logit P(fraud) in the share

    def exposure(self, index: RingIndex | None, dealer_id: str) -> DealerExposure | None:
        """The dealer's ring exposure when it says something: enough applications, some in risky rings."""
        exposure = index.dealer(dealer_id) if index is not None else None
        if exposure is None or exposure.applications < self.settings.dealer_min_applications:
            return None
        return exposure if exposure.in_risky_rings else None

    def score(self, share: float) -> float:
        """The fitted curve at a dealer's share of applications in risky rings, or the hand-set one."""
        s = self.settings
        if self.curve is not None:
            intercept, slope = self.curve
            return min(s.dealer_max, sigmoid(intercept + slope * share))
        return s.dealer_max * sigmoid(s.dealer_share_slope * (share - s.dealer_share_mid))

    def calibrate(self, history: Sequence[LabelledContext], index: RingIndex) -> dict[str, Any]:
        """Fit P(fraud | dealer share) on history applicants in no risky ring, at dealers with risky-ring members."""
        s = self.settings
        self.curve = None
        shares, fraud = [], []
        for h in history:
            exposure = self.exposure(index, h.context.application.dealer_id)
            if exposure is None:
                continue
            ring = index.ring_of_person(h.context.keys.id_hash)
            if ring is not None and ring.risk >= s.risky:
                continue
            shares.append(exposure.share)
            fraud.append(h.fraud)
        positives = sum(fraud)
        if positives < s.dealer_min_fraud:
            return {"applications": len(shares), "fraud": positives, "why": "too few fraud cases; hand-set curve"}
        self.curve = fit_share_curve(np.asarray(shares), np.asarray(fraud, dtype=np.float64))
        return {"applications": len(shares), "fraud": positives,
                "intercept": round(self.curve[0], 4), "slope": round(self.curve[1], 4)}


def fit_share_curve(share: np.ndarray, fraud: np.ndarray, l2: float = 1e-3) -> tuple[float, float]:
    """Intercept and non-negative slope of ``logit P(fraud) = a + b * share`` (a little ridge on the slope).

    A falling fit (a larger share making fraud less likely) gives way to the fraud rate alone.
    """
    rate = float(fraud.mean())
    base = math.log((rate + 1e-6) / (1.0 - rate + 1e-6))
    slope, intercept = fit_logistic(share[:, None], fraud, l2=l2, bias=base)
    if not (math.isfinite(intercept) and np.all(np.isfinite(slope))) or slope[0] < 0.0:
        return base, 0.0
    return intercept, float(slope[0])
