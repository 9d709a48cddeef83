"""Rings in memory, for scoring: who is in which ring, how risky it is, and which dealers carry rings.

The batch job (:mod:`tianwang.rings.job`) finds rings over the whole graph; between
two runs, new applications arrive. :class:`RingIndex` holds the last run's rings in
memory so that the ``fraud_ring`` detector can look up, in microseconds, the ring of
each identity an application is linked to; an applicant attached to a ring online
is added to it (:meth:`RingIndex.join`) until the next run decides again.

It also keeps, per dealer, how many of its applications belong to risky rings: a
dealer behind an unusual share of ring applications is a dealer-collusion signal. And
it keeps each model's reference price and, per dealer, when members of risky rings
bought inflated deals there (:mod:`tianwang.rings.projection`), so that a new inflated
deal at that dealer in the same weeks joins the ring as the batch job would join it
(:meth:`RingIndex.inflated_ring`).

Examples
--------
>>> index = RingIndex([RingSummary("R-000001", 0.9, 4, ("p1", "p2", "p3", "p4"))])
>>> index.ring_of_person("p2").ring_id
'R-000001'
>>> index.join("p9", "R-000001")
True
>>> index.ring_of_person("p9").ring_id, index.joined
('R-000001', 1)
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType
from tianwang.rings.projection import ProjectionSettings, inflated_deal_mask, model_reference_prices

if TYPE_CHECKING:
    from graph_schema.export import GraphExport
    from graph_schema.values import RingRecord
    from tianwang.rings.job import DetectedRing

__all__ = ["DealerExposure", "InflatedDeals", "RingIndex", "RingSummary"]

_SUBMITTED = RELATIONSHIP_TYPES[RelType.SUBMITTED].code
_AT_DEALER = RELATIONSHIP_TYPES[RelType.AT_DEALER].code
_PERSON = NODE_TYPES[Label.PERSON].code


@dataclass(frozen=True, slots=True)
class RingSummary:
    """What scoring needs of one ring (members are ``Person`` keys, never shown)."""

    ring_id: str
    risk: float
    size: int
    members: tuple[str, ...]
    confirmed: tuple[str, ...] = ()
    shared_labels: tuple[str, ...] = ()
    dealers: tuple[str, ...] = ()
    num_applications: int = 0

    @classmethod
    def of_record(cls, record: RingRecord, confirmed: Sequence[str] = ()) -> RingSummary:
        p = record.properties
        return cls(record.ring_id, float(p.get("risk", 0.0)), int(p.get("size", len(record.members))),
                   tuple(record.members), tuple(confirmed), tuple(p.get("shared_labels", ())),
                   tuple(p.get("dealers", ())), int(p.get("applications", 0)))

    @classmethod
    def of_detected(cls, ring: DetectedRing, labels: Mapping[str, bool] | None = None) -> RingSummary:
        s = ring.statistics
        confirmed = tuple(a for a in ring.application_ids if labels and labels.get(a))
        return cls(ring.ring_id, float(s.risk), s.size, ring.members, confirmed, tuple(s.shared), tuple(s.dealers),
                   s.num_applications)


@dataclass(frozen=True, slots=True)
class DealerExposure:
    """A dealer's applications, and how many belong to rings at or above the risk threshold."""

    applications: int
    in_risky_rings: int

    @property
    def share(self) -> float:
        return self.in_risky_rings / self.applications if self.applications else 0.0


@dataclass(frozen=True, slots=True)
class InflatedDeals:
    """What finding inflated deals online needs: reference prices, and risky rings' inflated deals by dealer.

    A price is inflated above ``ratio`` times its model's ``model_prices`` entry (brand and
    model, as ``"Toyota Camry"``). ``by_dealer[d]`` lists ``(time, ring id)`` of the inflated
    deals of risky rings' members at dealer ``d``, in time order; two deals within
    ``window_days`` of each other are in the same window.
    """

    model_prices: Mapping[str, float] = field(default_factory=dict)
    by_dealer: Mapping[str, tuple[tuple[float, str], ...]] = field(default_factory=dict)
    ratio: float = 1.1
    window_days: float = 30.0

    def ratio_of(self, price: float, model: str) -> float | None:
        """``price`` over ``model``'s reference price when that makes the deal inflated, else None."""
        reference = self.model_prices.get(model)
        if reference is None or not reference > 0 or not price > self.ratio * reference:
            return None
        return price / reference


@dataclass
class RingIndex:
    """The rings of the last batch run, plus online joins since.

    Parameters
    ----------
    rings : iterable of RingSummary
        The rings; a person is in at most one.
    dealers : mapping, optional
        Dealer id -> :class:`DealerExposure`.
    risky : float
        The risk from which a ring counts as risky for dealer exposure.
    detected_at : float, optional
        When the rings were detected (the graph's time, seconds since the epoch).
    inflated : InflatedDeals, optional
        Reference prices and risky rings' inflated deals (none: no inflated-deal joins).
    """

    rings: Iterable[RingSummary] = ()
    dealers: Mapping[str, DealerExposure] = field(default_factory=dict)
    risky: float = 0.5
    detected_at: float | None = None
    inflated: InflatedDeals = field(default_factory=InflatedDeals)

    def __post_init__(self) -> None:
        self._rings: dict[str, RingSummary] = {r.ring_id: r for r in self.rings}
        self._person: dict[str, str] = {m: r.ring_id for r in self._rings.values() for m in r.members}
        self._joined: dict[str, str] = {}
        self._join_counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rings)

    @property
    def joined(self) -> int:
        """Identities attached online since the batch run."""
        return len(self._joined)

    def summaries(self) -> list[RingSummary]:
        """Every ring of the index."""
        return list(self._rings.values())

    def ring(self, ring_id: str) -> RingSummary | None:
        return self._rings.get(ring_id)

    def ring_of_person(self, person_key: str) -> RingSummary | None:
        """The ring of an identity (by its ``Person`` key): from the batch run, else joined online."""
        ring_id = self._person.get(person_key) or self._joined.get(person_key)
        return self._rings.get(ring_id) if ring_id is not None else None

    def joined_since(self, ring_id: str) -> int:
        """How many identities joined ``ring_id`` online since the batch run."""
        return self._join_counts[ring_id]

    def join(self, person_key: str, ring_id: str) -> bool:
        """Attach an identity to a ring until the next run; ``False`` if it is in one already."""
        if ring_id not in self._rings:
            raise KeyError(ring_id)
        with self._lock:
            if person_key in self._person or person_key in self._joined:
                return False
            self._joined[person_key] = ring_id
            self._join_counts[ring_id] += 1
            return True

    def dealer(self, dealer_id: str) -> DealerExposure | None:
        return self.dealers.get(dealer_id)

    def inflated_ring(self, dealer_id: str, at: float, price: float, model: str) -> tuple[RingSummary, float] | None:
        """The risky ring whose members bought inflated deals at ``dealer_id`` within the window around ``at``,
        when this deal (``price`` for ``model``) is inflated too, with the price's ratio to the model's reference."""
        deals = self.inflated
        ratio = deals.ratio_of(price, model)
        if ratio is None:
            return None
        window = deals.window_days * 86_400.0
        nearest: tuple[float, str] | None = None
        for when, ring_id in deals.by_dealer.get(dealer_id, ()):
            gap = abs(when - at)
            if gap <= window and (nearest is None or gap < nearest[0]):
                nearest = (gap, ring_id)
        ring = self._rings.get(nearest[1]) if nearest is not None else None
        return (ring, ratio) if ring is not None else None

    # -- building ------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        export: GraphExport,
        rings: Sequence[RingSummary],
        *,
        risky: float = 0.5,
        detected_at: float | None = None,
        settings: ProjectionSettings | None = None,
    ) -> RingIndex:
        """An index of ``rings`` with dealer exposure counted over the applications of ``export``, and its
        inflated deals as ``settings`` (the ring job's projection settings) define them."""
        return cls(
            rings,
            dealer_exposure(export, rings, risky=risky),
            risky=risky,
            detected_at=detected_at,
            inflated=inflated_deals(export, rings, risky=risky, settings=settings),
        )

    @classmethod
    def from_detected(
        cls,
        export: GraphExport,
        detected: Sequence[DetectedRing],
        *,
        labels: Mapping[str, bool] | None = None,
        risky: float = 0.5,
        detected_at: float | None = None,
        settings: ProjectionSettings | None = None,
    ) -> RingIndex:
        """An index of a ring job's result (``labels`` name the confirmed fraud members)."""
        return cls.build(export, [RingSummary.of_detected(r, labels) for r in detected], risky=risky,
                         detected_at=detected_at, settings=settings)


def dealer_exposure(
    export: GraphExport, rings: Sequence[RingSummary], *, risky: float = 0.5
) -> dict[str, DealerExposure]:
    """Per dealer of ``export``: its applications, and those whose applicant is in a ring of risk >= ``risky``."""
    keys = export.node_key
    person_of_app, dealer_of, _ = _application_nodes(export)
    app_of_dealer = np.flatnonzero(dealer_of >= 0)
    dealer_node = dealer_of[app_of_dealer]
    risky_people = {m for r in rings if r.risk >= risky for m in r.members}
    in_ring = np.zeros(export.num_nodes, dtype=bool)
    for i in np.flatnonzero(export.node_label == _PERSON).tolist():
        if keys[i] in risky_people:
            in_ring[i] = True
    persons = person_of_app[app_of_dealer]
    flagged = np.where(persons >= 0, in_ring[np.maximum(persons, 0)], False)
    totals = np.bincount(dealer_node, minlength=export.num_nodes)
    hits = np.bincount(dealer_node, weights=flagged.astype(np.float64), minlength=export.num_nodes)
    return {keys[d]: DealerExposure(int(totals[d]), int(hits[d])) for d in np.unique(dealer_node).tolist()}


def _application_nodes(export: GraphExport) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per export node that is an application: its applicant's node, its dealer's node (-1 elsewhere) and
    its submission time (0 elsewhere)."""
    src, dst = export.edge_index
    types = export.edge_type
    person_of = np.full(export.num_nodes, -1, dtype=np.int64)
    dealer_of = np.full(export.num_nodes, -1, dtype=np.int64)
    at = np.zeros(export.num_nodes)
    submitted = types == _SUBMITTED
    person_of[dst[submitted]] = src[submitted]
    at[dst[submitted]] = export.edge_at[submitted]
    at_dealer = types == _AT_DEALER
    dealer_of[src[at_dealer]] = dst[at_dealer]
    return person_of, dealer_of, at


def inflated_deals(
    export: GraphExport,
    rings: Sequence[RingSummary],
    *,
    risky: float = 0.5,
    settings: ProjectionSettings | None = None,
) -> InflatedDeals:
    """Reference prices of ``export``'s models, and where and when members of risky rings bought inflated deals."""
    settings = settings or ProjectionSettings()
    deals = export.deals
    if deals is None or settings.inflated_price_ratio is None or not deals.model_names:
        return InflatedDeals()
    reference = model_reference_prices(deals, settings.inflated_min_model_applications)
    model_prices = {
        deals.model_names[m]: float(reference[m]) for m in np.flatnonzero(np.isfinite(reference)).tolist()
    }
    keys = export.node_key
    person_of, dealer_of, at = _application_nodes(export)
    ring_of = {m: r.ring_id for r in rings if r.risk >= risky for m in r.members}
    by_dealer: dict[str, list[tuple[float, str]]] = {}
    for node in deals.node[inflated_deal_mask(deals, settings, reference)].tolist():
        person, dealer = int(person_of[node]), int(dealer_of[node])
        ring_id = ring_of.get(keys[person]) if person >= 0 else None
        if ring_id is not None and dealer >= 0:
            by_dealer.setdefault(keys[dealer], []).append((float(at[node]), ring_id))
    return InflatedDeals(
        model_prices,
        {dealer: tuple(sorted(found)) for dealer, found in by_dealer.items()},
        ratio=settings.inflated_price_ratio,
        window_days=settings.inflated_window_days,
    )
