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

from graph_schema.rollup import DealerRollup
from tianwang.rings.projection import ProjectionSettings

if TYPE_CHECKING:
    from graph_schema.export import GraphExport
    from graph_schema.values import RingRecord
    from tianwang.rings.job import DetectedRing

__all__ = ["DealerExposure", "InflatedDeals", "RingIndex", "RingSummary", "risky_people"]


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
        rollup = DealerRollup.of_export(export, risky_people(rings, risky))
        return cls.of_rollup(rollup, rings, risky=risky, detected_at=detected_at, settings=settings)

    @classmethod
    def of_rollup(
        cls,
        rollup: DealerRollup,
        rings: Sequence[RingSummary],
        *,
        risky: float = 0.5,
        detected_at: float | None = None,
        settings: ProjectionSettings | None = None,
    ) -> RingIndex:
        """An index of ``rings`` from a store's :class:`~graph_schema.rollup.DealerRollup`, read for the
        members of its risky rings (:func:`risky_people`)."""
        return cls(
            rings,
            dealer_exposure(rollup),
            risky=risky,
            detected_at=detected_at,
            inflated=inflated_deals(rollup, rings, risky=risky, settings=settings),
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


def risky_people(rings: Sequence[RingSummary], risky: float = 0.5) -> set[str]:
    """The members (``Person`` keys) of the rings of risk at least ``risky``."""
    return {m for r in rings if r.risk >= risky for m in r.members}


def dealer_exposure(rollup: DealerRollup) -> dict[str, DealerExposure]:
    """Per dealer of ``rollup``: its applications, and those of the people it was read for (the members of
    risky rings)."""
    return {dealer: DealerExposure(n, rollup.of_people(dealer)) for dealer, n in rollup.applications.items()}


def inflated_deals(
    rollup: DealerRollup,
    rings: Sequence[RingSummary],
    *,
    risky: float = 0.5,
    settings: ProjectionSettings | None = None,
) -> InflatedDeals:
    """Reference prices of the rollup's models, and where and when members of risky rings bought inflated
    deals (as :func:`~tianwang.rings.projection.inflated_deal_mask` finds them in an export)."""
    settings = settings or ProjectionSettings()
    if settings.inflated_price_ratio is None or not rollup.model_prices:
        return InflatedDeals()
    model_prices = {model: p95 for model, (n, p95) in rollup.model_prices.items()
                    if n >= settings.inflated_min_model_applications}
    ring_of = {m: r.ring_id for r in rings if r.risk >= risky for m in r.members}
    by_dealer: dict[str, list[tuple[float, str]]] = {}
    for person, _, dealer, at, price, model in rollup.deals:
        reference = model_prices.get(model) if model else None
        ring_id = ring_of.get(person)
        if ring_id is not None and reference is not None and price is not None and \
                price > settings.inflated_price_ratio * reference:
            by_dealer.setdefault(dealer, []).append((at, ring_id))
    return InflatedDeals(
        model_prices,
        {dealer: tuple(sorted(found)) for dealer, found in by_dealer.items()},
        ratio=settings.inflated_price_ratio,
        window_days=settings.inflated_window_days,
    )
