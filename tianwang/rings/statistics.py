"""Statistics and risk of each ring, computed for all rings at once with numpy.

A ring's statistics: its size (applicants and applications), density (share of its
applicant pairs that the projection links), what its members share (attributes that
two or more members have, by label), the share of its applications confirmed as
fraud, its time spread, its dealers, and the share of its applications that are
inflated deals (priced far above their model's usual price). The risk score in [0, 1]
is a logistic function of these (:func:`ring_risk`, weights :data:`RISK_WEIGHTS`; how
they were fit is in ``docs/rings.md``).

:func:`ring_shares` turns a ring's counts (members, applications, internal links,
members with a strong link as :mod:`tianwang.rings.links` defines it, applications at
the busiest dealer, confirmed fraud, inflated deals, application times) into these
shares and the risk. :func:`ring_statistics` applies it to every community of the
batch job at once; the ``fraud_ring`` detector applies it to the one ring an
application forms with the applicants it links to between two runs.
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
from tianwang.rings.links import INFLATED_DEAL, INFLATED_DEAL_CODE, LANDLINE, LANDLINE_CODE, STRONG_LABELS
from tianwang.rings.projection import Projection
from tianwang.stats import sigmoid

__all__ = [
    "BURST_DAYS",
    "RISK_WEIGHTS",
    "STRONG_LABELS",
    "RingShares",
    "RingStatistics",
    "ring_risk",
    "ring_shares",
    "ring_statistics",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_DAY = 86_400.0
_SHARED_LABELS: tuple[str, ...] = (*STRONG_LABELS, Label.ADDRESS, Label.EMPLOYER)
_CODE = {label: NODE_TYPES[label].code for label in Label}
#: What ``shared`` counts, by name: these labels, landlines and inflated deals at one dealer (derived).
_SHARED_CODES: dict[str, int] = {
    **{str(label): _CODE[Label(label)] for label in _SHARED_LABELS},
    LANDLINE: LANDLINE_CODE,
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
    """Per ring, the largest share of its applications that fall in one window of ``BURST_DAYS``."""
    if not len(ring):
        return np.zeros(rings)
    order = np.lexsort((times, ring))
    ring, times = ring[order], times[order] - times.min()
    window = BURST_DAYS * _DAY
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


@dataclass(frozen=True, slots=True)
class RingShares:
    """What :func:`ring_risk` reads of rings, one entry per ring."""

    density: FloatArray
    strong_member_share: FloatArray
    burst_share: FloatArray
    top_dealer_share: FloatArray
    confirmed_fraud_share: FloatArray
    inflated_share: FloatArray
    risk: FloatArray


def ring_shares(
    *,
    size: npt.ArrayLike,
    applications: npt.ArrayLike,
    internal_links: npt.ArrayLike,
    strong_members: npt.ArrayLike,
    top_dealer_applications: npt.ArrayLike,
    confirmed: npt.ArrayLike,
    inflated: npt.ArrayLike,
    application_ring: IntArray,
    application_times: FloatArray,
) -> RingShares:
    """Shares and risk of rings from their counts (one entry per ring).

    ``size``: members; ``applications``: their applications; ``internal_links``: pairs of
    members linked; ``strong_members``: members with a strong link; the others count
    applications (at the ring's busiest dealer, confirmed fraud, inflated deals);
    ``application_ring[k]`` and ``application_times[k]`` give each application's ring
    and time, for the burst share. Shares are capped at 1.

    Examples
    --------
    >>> found = ring_shares(size=[3], applications=[3], internal_links=[3], strong_members=[3],
    ...                     top_dealer_applications=[3], confirmed=[0], inflated=[0],
    ...                     application_ring=np.zeros(3, dtype=np.int64), application_times=np.array([0.0, 1.0, 2.0]))
    >>> float(found.density[0]), float(found.burst_share[0]), float(found.strong_member_share[0])
    (1.0, 1.0, 1.0)
    """
    size = np.asarray(size, dtype=np.float64)
    n_apps = np.asarray(applications, dtype=np.float64)
    per_app = np.maximum(n_apps, 1)

    def share(count: npt.ArrayLike, of: FloatArray) -> FloatArray:
        return np.minimum(1.0, np.asarray(count, dtype=np.float64) / of)

    density = share(internal_links, np.maximum(size * (size - 1) / 2, 1))
    strong_share = share(strong_members, np.maximum(size, 1))
    burst = _burst_share(np.asarray(application_ring, dtype=np.int64),
                         np.asarray(application_times, dtype=np.float64), len(size))
    top_share = share(top_dealer_applications, per_app)
    fraud_share = share(confirmed, per_app)
    inflated_share = share(inflated, per_app)
    risk = ring_risk(size, strong_share, burst, top_share, n_apps >= 1.5 * size, density, fraud_share, inflated_share)
    return RingShares(density, strong_share, burst, top_share, fraud_share, inflated_share, risk)


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
    strong_codes = np.array([_CODE[Label(label)] for label in STRONG_LABELS])
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

    confirmed = np.zeros(rings, dtype=np.int64)
    if labels:
        fraud = np.fromiter(
            (bool(labels.get(export.node_key[node], False)) for node in found.applications[in_ring]),
            dtype=bool,
            count=len(in_ring),
        )
        confirmed = np.bincount(app_ring[in_ring][fraud], minlength=rings)

    shares = ring_shares(
        size=size,
        applications=n_apps,
        internal_links=internal_links,
        strong_members=strong_count,
        top_dealer_applications=top_count,
        confirmed=confirmed,
        inflated=np.bincount(app_ring[in_ring], weights=found.inflated[in_ring], minlength=rings),
        application_ring=app_ring[in_ring],
        application_times=times,
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
                density=float(shares.density[r]),
                shared={k: int(v[r]) for k, v in shared_by_label.items() if v[r]},
                strong_member_share=float(shares.strong_member_share[r]),
                burst_share=float(shares.burst_share[r]),
                confirmed_fraud=int(confirmed[r]),
                confirmed_fraud_share=float(shares.confirmed_fraud_share[r]),
                first_at=float(first[r]),
                last_at=float(last[r]),
                dealers=[export.node_key[int(d)] for d in dealer_nodes],
                num_dealers=int(num_dealers[r]),
                top_dealer_share=float(shares.top_dealer_share[r]),
                inflated_share=float(shares.inflated_share[r]),
                risk=float(shares.risk[r]),
            )
        )
    result.sort(key=lambda s: (s.first_at, int(s.members[0])))
    return result
