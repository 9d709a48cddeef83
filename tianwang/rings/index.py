"""Rings in memory, for scoring: who is in which ring, how risky it is, and which dealers carry rings.

The batch job (:mod:`tianwang.rings.job`) finds rings over the whole graph; between
two runs, new applications arrive. :class:`RingIndex` holds the last run's rings in
memory so that the ``fraud_ring`` detector can look up, in microseconds, the ring of
each identity an application is linked to; an applicant attached to a ring online
is added to it (:meth:`RingIndex.join`) until the next run decides again.

It also keeps, per dealer, how many of its applications belong to risky rings: a
dealer behind an unusual share of ring applications is a dealer-collusion signal.

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

if TYPE_CHECKING:
    from graph_schema.store import GraphExport, RingRecord
    from tianwang.rings.job import DetectedRing

__all__ = ["DealerExposure", "RingIndex", "RingSummary"]

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
    """

    rings: Iterable[RingSummary] = ()
    dealers: Mapping[str, DealerExposure] = field(default_factory=dict)
    risky: float = 0.5
    detected_at: float | None = None

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

    # -- building ------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        export: GraphExport,
        rings: Sequence[RingSummary],
        *,
        risky: float = 0.5,
        detected_at: float | None = None,
    ) -> RingIndex:
        """An index of ``rings`` with dealer exposure counted over the applications of ``export``."""
        return cls(rings, dealer_exposure(export, rings, risky=risky), risky=risky, detected_at=detected_at)

    @classmethod
    def from_detected(
        cls,
        export: GraphExport,
        detected: Sequence[DetectedRing],
        *,
        labels: Mapping[str, bool] | None = None,
        risky: float = 0.5,
        detected_at: float | None = None,
    ) -> RingIndex:
        """An index of a ring job's result (``labels`` name the confirmed fraud members)."""
        return cls.build(export, [RingSummary.of_detected(r, labels) for r in detected], risky=risky,
                         detected_at=detected_at)


def dealer_exposure(
    export: GraphExport, rings: Sequence[RingSummary], *, risky: float = 0.5
) -> dict[str, DealerExposure]:
    """Per dealer of ``export``: its applications, and those whose applicant is in a ring of risk >= ``risky``."""
    keys = export.node_key
    src, dst = export.edge_index
    types = export.edge_type
    at_dealer = types == _AT_DEALER
    app_of_dealer, dealer_node = src[at_dealer], dst[at_dealer]
    submitted = types == _SUBMITTED
    person_of_app = np.full(export.num_nodes, -1, dtype=np.int64)
    person_of_app[dst[submitted]] = src[submitted]
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

