"""Statistics and risk of each ring, computed for all rings at once with numpy.

A ring's statistics: its size (applicants and applications), density (share of its
applicant pairs that the projection links), what its members share (attributes that
two or more members have, by label), the share of its applications confirmed as
fraud, its time spread, its dealers, and the share of its applications that are
inflated deals (priced far above their model's usual price). The risk score in [0, 1]
is a logistic function of these; :data:`RISK_WEIGHTS` gives its weights, fit (rings
weighted by their applications, rounded) on one generated run of 100,000 applications
(seed 11) with ``bench/fit_ring_risk.py`` and checked on others (seeds 12 and 13 there,
and 1,000,000 at seed 12 with ``bench/rings.py``). The confirmed-fraud weight is set by
hand: no labels went into the fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from graph_schema.export import GraphExport
from graph_schema.schema import NODE_TYPES, Label
from tianwang.rings.projection import INFLATED_DEAL, INFLATED_DEAL_CODE, Projection
from tianwang.stats import sigmoid

__all__ = ["BURST_DAYS", "RISK_WEIGHTS", "STRONG_LABELS", "RingStatistics", "ring_risk", "ring_statistics"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_DAY = 86_400.0
#: Labels whose sharing between two applicants is hard to explain innocently.
STRONG_LABELS: tuple[Label, ...] = (Label.PHONE, Label.DEVICE, Label.BANK_ACCOUNT, Label.PERSON, Label.VEHICLE)
_SHARED_LABELS: tuple[Label, ...] = (*STRONG_LABELS, Label.ADDRESS, Label.EMPLOYER)
_CODE = {label: NODE_TYPES[label].code for label in Label}
#: What ``shared`` counts, by name: these labels, and inflated deals at one dealer (derived).
_SHARED_CODES: dict[str, int] = {
    **{str(label): _CODE[label] for label in _SHARED_LABELS},
    INFLATED_DEAL: INFLATED_DEAL_CODE,
}

#: Weights of the risk score's logistic function.
RISK_WEIGHTS: dict[str, float] = {
    "bias": -24.7,
    "log2_size": 3.0,  # per doubling of applicants
    "strong_member_share": 3.5,  # members sharing a phone, device, account, vehicle or person with another
    "burst_share": 16.2,  # largest share of the applications within one 21-day window
    "top_dealer_share": 1.2,  # share of applications at the ring's busiest dealer
    "repeat_applicants": -10.6,  # 1.5 or more applications per applicant (fleets, reapplications)
    "density": -0.6,  # households are cliques; rings are webs of partial overlaps
    "inflated_share": 8.9,  # applications priced far above their model's usual price (dealer collusion)
    "confirmed_fraud_share": 6.0,
}
BURST_DAYS = 21.0
_BURST_DAYS = BURST_DAYS


@dataclass(frozen=True, slots=True)
class RingStatistics:
    """What describes one ring. Members are applicant indices of the projection."""

    members: IntArray
    applications: IntArray
    size: int
    num_applications: int
    density: float
    shared: dict[str, int]
    strong_member_share: float
    burst_share: float
    confirmed_fraud: int
    confirmed_fraud_share: float
    first_at: float
    last_at: float
    dealers: list[str]
    num_dealers: int
    top_dealer_share: float
    inflated_share: float
    risk: float

    @property
    def time_spread_days(self) -> float:
        return (self.last_at - self.first_at) / _DAY

    def properties(self) -> dict[str, Any]:
        """Flat properties for the ``Ring`` node."""
        return {
            "size": self.size,
            "applications": self.num_applications,
            "density": round(self.density, 4),
            "shared_labels": list(self.shared),
            "shared_counts": list(self.shared.values()),
            "strong_member_share": round(self.strong_member_share, 4),
            "burst_share": round(self.burst_share, 4),
            "confirmed_fraud": self.confirmed_fraud,
            "confirmed_fraud_share": round(self.confirmed_fraud_share, 4),
            "first_at": self.first_at,
            "last_at": self.last_at,
            "time_spread_days": round(self.time_spread_days, 3),
            "dealers": self.dealers,
            "num_dealers": self.num_dealers,
            "top_dealer_share": round(self.top_dealer_share, 4),
            "inflated_share": round(self.inflated_share, 4),
            "risk": round(self.risk, 4),
        }


def _group_reduce(ufunc: np.ufunc, groups: IntArray, values: FloatArray, n: int, empty: float) -> FloatArray:
    out = np.full(n, empty, dtype=np.float64)
    ufunc.at(out, groups, values)
    return out


def _burst_share(ring: IntArray, times: FloatArray, rings: int) -> FloatArray:
    """Per ring, the largest share of its applications that fall in one window of ``_BURST_DAYS``."""
    if not len(ring):
        return np.zeros(rings)
    order = np.lexsort((times, ring))
    ring, times = ring[order], times[order] - times.min()
    window = _BURST_DAYS * _DAY
    key = ring * (times.max() + 2 * window) + times
    in_window = np.searchsorted(key, key + window, side="right") - np.arange(len(key))
    best = np.zeros(rings)
    np.maximum.at(best, ring, in_window.astype(np.float64))
    return best / np.maximum(np.bincount(ring, minlength=rings), 1)


def ring_risk(
    size: npt.ArrayLike,
    strong_member_share: npt.ArrayLike,
    burst_share: npt.ArrayLike,
    top_dealer_share: npt.ArrayLike,
    repeat_applicants: npt.ArrayLike,
    density: npt.ArrayLike,
    confirmed_fraud_share: npt.ArrayLike,
    inflated_share: npt.ArrayLike = 0.0,
) -> FloatArray:
    """The risk of rings described by these statistics (arrays or scalars; see :data:`RISK_WEIGHTS`).

    ``inflated_share`` is the share of the ring's applications priced far above their
    model's usual price (:mod:`tianwang.rings.projection`); 0 where prices are unknown.
    """
    w = RISK_WEIGHTS
    z = (
        w["bias"]
        + w["log2_size"] * np.log2(np.asarray(size, dtype=np.float64))
        + w["strong_member_share"] * np.asarray(strong_member_share, dtype=np.float64)
        + w["burst_share"] * np.asarray(burst_share, dtype=np.float64)
        + w["top_dealer_share"] * np.asarray(top_dealer_share, dtype=np.float64)
        + w["repeat_applicants"] * np.asarray(repeat_applicants, dtype=np.float64)
        + w["density"] * np.asarray(density, dtype=np.float64)
        + w["confirmed_fraud_share"] * np.asarray(confirmed_fraud_share, dtype=np.float64)
        + w["inflated_share"] * np.asarray(inflated_share, dtype=np.float64)
    )
    return sigmoid(z)


def ring_statistics(
    export: GraphExport,
    projection: Projection,
    community: IntArray,
    *,
    min_size: int = 3,
    labels: Mapping[str, bool] | None = None,
    max_dealers_listed: int = 3,
) -> list[RingStatistics]:
    """Statistics of every community of at least ``min_size`` applicants, earliest ring first.

    ``labels`` maps application ids to confirmed fraud (``True``) or not; applications
    it does not name count as not confirmed.
    """
    found = projection.attributes
    n = found.num_applicants
    ids, sizes = np.unique(community[community >= 0], return_counts=True)
    kept = ids[sizes >= min_size]
    ring_of = np.full(n, -1, dtype=np.int64)
    lookup = np.searchsorted(kept, community)
    hit = (community >= 0) & (lookup < len(kept))
    hit[hit] = kept[lookup[hit]] == community[hit]
    ring_of[hit] = lookup[hit]
    rings = len(kept)
    if rings == 0:
        return []

    app_ring = ring_of[found.applicant_of]
    in_ring = np.flatnonzero(app_ring >= 0)
    size = np.bincount(ring_of[ring_of >= 0], minlength=rings)
    n_apps = np.bincount(app_ring[in_ring], minlength=rings)
    times = found.submitted_at[in_ring]
    first = _group_reduce(np.minimum, app_ring[in_ring], times, rings, math.inf)
    last = _group_reduce(np.maximum, app_ring[in_ring], times, rings, -math.inf)

    with_dealer = in_ring[found.dealer_of[in_ring] >= 0]
    pair, pair_count = np.unique(
        np.column_stack([app_ring[with_dealer], found.dealer_of[with_dealer]]), axis=0, return_counts=True
    )
    num_dealers = np.bincount(pair[:, 0], minlength=rings) if len(pair) else np.zeros(rings, dtype=np.int64)
    by_count = np.lexsort((pair[:, 1], -pair_count, pair[:, 0])) if len(pair) else np.empty(0, dtype=np.int64)
    pair, pair_count = pair[by_count], pair_count[by_count]
    top_count = _group_reduce(np.maximum, pair[:, 0], pair_count.astype(np.float64), rings, 0.0)

    member_pairs = np.flatnonzero(ring_of[found.pair_applicant] >= 0)
    pair_ring = ring_of[found.pair_applicant[member_pairs]]
    attribute = found.pair_attribute[member_pairs]
    shared_key, inverse, holders = np.unique(
        pair_ring * np.int64(found.num_attributes) + attribute, return_inverse=True, return_counts=True
    )
    shared_ring, shared_attribute = shared_key // found.num_attributes, shared_key % found.num_attributes
    shared_label = found.attribute_label[shared_attribute]
    is_shared = holders >= 2
    strong_codes = np.array([_CODE[label] for label in STRONG_LABELS])
    strong_pair = (is_shared & np.isin(shared_label, strong_codes))[inverse]
    strong_members = np.unique(found.pair_applicant[member_pairs[strong_pair]])
    strong_count = np.bincount(ring_of[strong_members], minlength=rings)
    shared_by_label = {
        name: np.bincount(shared_ring[is_shared & (shared_label == code)], minlength=rings)
        for name, code in _SHARED_CODES.items()
    }

    inside = ring_of[projection.source] == ring_of[projection.target]
    inside &= ring_of[projection.source] >= 0
    internal_links = np.bincount(ring_of[projection.source[inside]], minlength=rings)
    density = internal_links / np.maximum(size * (size - 1) / 2, 1)

    confirmed = np.zeros(rings, dtype=np.int64)
    if labels:
        fraud = np.fromiter(
            (bool(labels.get(export.node_key[node], False)) for node in found.applications[in_ring]),
            dtype=bool,
            count=len(in_ring),
        )
        confirmed = np.bincount(app_ring[in_ring][fraud], minlength=rings)

    strong_share = strong_count / size
    burst_share = _burst_share(app_ring[in_ring], times, rings)
    top_share = top_count / np.maximum(n_apps, 1)
    fraud_share = confirmed / np.maximum(n_apps, 1)
    inflated_share = np.bincount(app_ring[in_ring], weights=found.inflated[in_ring], minlength=rings) / np.maximum(
        n_apps, 1
    )
    risk = ring_risk(
        size, strong_share, burst_share, top_share, n_apps >= 1.5 * size, density, fraud_share, inflated_share
    )

    members_sorted = np.argsort(ring_of, kind="stable")[n - int((ring_of >= 0).sum()) :]
    member_bounds = np.concatenate([[0], np.cumsum(size)])
    app_sorted = in_ring[np.argsort(app_ring[in_ring], kind="stable")]
    app_bounds = np.concatenate([[0], np.cumsum(n_apps)])
    dealer_bounds = np.searchsorted(pair[:, 0], np.arange(rings + 1)) if len(pair) else np.zeros(rings + 1, int)
    result = []
    for r in range(rings):
        dealer_nodes = pair[dealer_bounds[r] : dealer_bounds[r + 1], 1][:max_dealers_listed]
        result.append(
            RingStatistics(
                members=members_sorted[member_bounds[r] : member_bounds[r + 1]],
                applications=app_sorted[app_bounds[r] : app_bounds[r + 1]],
                size=int(size[r]),
                num_applications=int(n_apps[r]),
                density=float(density[r]),
                shared={k: int(v[r]) for k, v in shared_by_label.items() if v[r]},
                strong_member_share=float(strong_share[r]),
                burst_share=float(burst_share[r]),
                confirmed_fraud=int(confirmed[r]),
                confirmed_fraud_share=float(fraud_share[r]),
                first_at=float(first[r]),
                last_at=float(last[r]),
                dealers=[export.node_key[int(d)] for d in dealer_nodes],
                num_dealers=int(num_dealers[r]),
                top_dealer_share=float(top_share[r]),
                inflated_share=float(inflated_share[r]),
                risk=float(risk[r]),
            )
        )
    result.sort(key=lambda s: (s.first_at, int(s.members[0])))
    return result
