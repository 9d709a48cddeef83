"""The fraud_ring detector's settings (what each means: :mod:`detectors.fraud_ring`)."""

from __future__ import annotations

from pydantic import Field

from detectors.base import DetectorSettings
from tianwang.rings.links import LANDLINE_WEIGHT

__all__ = ["FraudRingSettings"]


class FraudRingSettings(DetectorSettings):
    """See :mod:`detectors.fraud_ring`. ``link_weights`` by link kind (:mod:`tianwang.rings.links`;
    ``contact`` for contact mobiles, ``landline`` for numbers that are not mobiles)."""

    refresh_every: int = Field(default=0, ge=0)
    refresh_in_background: bool = False
    reload_seconds: float = Field(default=300.0, gt=0)
    min_risk: float = Field(default=0.05, ge=0, le=1)
    max_sharing: int = Field(default=10, ge=1)
    join_at: float = Field(default=0.7, ge=0, le=1)
    link_weights: dict[str, float] = Field(default_factory=lambda: {
        "person": 1.0, "phone": 1.0, "device": 1.0, "account": 1.0, "vehicle": 1.0, "vehicle_user": 1.0,
        "driver_in_ring": 1.0, "inflated_deal": 1.0, "contact": 0.8, "address": 0.5, "landline": LANDLINE_WEIGHT,
    })
    dealer_min_applications: int = Field(default=20, ge=1)
    dealer_share_mid: float = Field(default=0.15, ge=0, le=1)
    dealer_share_slope: float = Field(default=25.0, ge=0)
    dealer_max: float = Field(default=0.6, ge=0, le=1)
    calibrate_dealer: bool = True
    dealer_min_fraud: int = Field(default=5, ge=1)
    risky: float = Field(default=0.5, ge=0, le=1)
    resolution: float = Field(default=1.0, gt=0)
    min_size: int = Field(default=3, ge=2)
    baseline: float = Field(default=0.02, gt=0, lt=1)
    local_rings: bool = True
    max_local: int = Field(default=30, ge=3)
    verdict_capacity: int = Field(default=1_000_000, ge=0)
    target_typologies: list[str] | None = None
