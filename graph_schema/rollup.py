"""Who applied at which dealer, counted: what the ring index keeps of the graph.

The ring index (:mod:`tianwang.rings.index`) needs, per dealer, how many applications it
has and how many of them come from members of risky rings, each model's reference price
(the 95th percentile of its prices) and where and when the risky members bought. A store
that can count by itself answers that in a few aggregate queries
(:meth:`~graph_schema.store.GraphStore.dealer_rollup`): on Neo4j at a million applications,
exporting who applied where over Bolt to count it here took about half a minute of a
service's start. :meth:`DealerRollup.of_export` counts the same from an export, which the
embedded store (and a Neo4j database holding applications stored before their node
carried the vehicle model) reads instead.

Examples
--------
>>> rollup = DealerRollup({"D1": 3}, {"Toyota Camry": (3, 210000.0)},
...                       (("p1", "APP-1", "D1", 1.0, 250000.0, "Toyota Camry"),))
>>> rollup.of_people("D1")
1
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from graph_schema.export import GraphExport, model_percentile_prices
from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType

__all__ = ["DealerRollup", "PersonDeal", "sort_deals"]

#: One application of a person asked about: (person key, application id, dealer key, submitted at, vehicle
#: price, model).
PersonDeal = tuple[str, str, str, float, float | None, str | None]

_SUBMITTED = RELATIONSHIP_TYPES[RelType.SUBMITTED].code
_AT_DEALER = RELATIONSHIP_TYPES[RelType.AT_DEALER].code
_PERSON = NODE_TYPES[Label.PERSON].code


@dataclass(frozen=True, slots=True)
class DealerRollup:
    """``applications[d]``: the applications at dealer ``d`` (dealers without any are left out);
    ``model_prices[m]``: model ``m``'s priced applications (a price above 0) and their 95th-percentile
    price, nearest rank (brand and model, as ``"Toyota Camry"``; empty when not asked for); ``deals``: the
    applications at a dealer of the people asked about, sorted. No personal value: keys only."""

    applications: Mapping[str, int]
    model_prices: Mapping[str, tuple[int, float]]
    deals: tuple[PersonDeal, ...]
    _by_dealer: Counter[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_dealer", Counter(deal[2] for deal in self.deals))

    def of_people(self, dealer: str) -> int:
        """How many of ``dealer``'s applications come from the people asked about."""
        return self._by_dealer[dealer]

    @classmethod
    def of_export(cls, export: GraphExport, people: Collection[str], *, prices: bool = True) -> DealerRollup:
        """The rollup of ``export`` (its ``SUBMITTED`` and ``AT_DEALER`` relationships and deals) for
        ``people`` (``Person`` keys); the models' prices only with ``prices``."""
        src, dst = export.edge_index
        types, keys = export.edge_type, export.node_key
        person_of = np.full(export.num_nodes, -1, dtype=np.int64)
        dealer_of = np.full(export.num_nodes, -1, dtype=np.int64)
        at = np.zeros(export.num_nodes)
        submitted = types == _SUBMITTED
        person_of[dst[submitted]] = src[submitted]
        at[dst[submitted]] = export.edge_at[submitted]
        at_dealer = types == _AT_DEALER
        dealer_of[src[at_dealer]] = dst[at_dealer]
        with_dealer = np.flatnonzero(dealer_of >= 0)
        totals = np.bincount(dealer_of[with_dealer], minlength=export.num_nodes)
        applications = {keys[d]: int(totals[d]) for d in np.flatnonzero(totals).tolist()}
        deals = export.deals
        model_prices: dict[str, tuple[int, float]] = {}
        price_of: dict[int, tuple[float | None, str | None]] = {}
        if deals is not None and prices:
            counts, p95 = model_percentile_prices(deals)
            model_prices = {deals.model_names[m]: (int(counts[m]), float(p95[m]))
                            for m in np.flatnonzero(counts).tolist() if m < len(deals.model_names)}
        asked = set(people)
        chosen = [a for a in with_dealer.tolist() if person_of[a] >= 0 and export.node_label[person_of[a]] == _PERSON
                  and keys[person_of[a]] in asked]
        if deals is not None and chosen:
            row_of = {node: row for row, node in enumerate(deals.node.tolist())}
            for a in chosen:
                row = row_of.get(a)
                if row is not None:
                    price = float(deals.vehicle_price[row])
                    model = int(deals.model[row])
                    price_of[a] = (None if np.isnan(price) else price,
                                   deals.model_names[model] if 0 <= model < len(deals.model_names) else None)
        return cls(applications, model_prices, sort_deals(
            (keys[person_of[a]], keys[a], keys[dealer_of[a]], float(at[a]), *price_of.get(a, (None, None)))
            for a in chosen))


def sort_deals(deals: Iterable[PersonDeal]) -> tuple[PersonDeal, ...]:
    """``deals`` in one order whichever store read them (a missing price or model sorts first)."""
    return tuple(sorted(deals, key=lambda d: (d[0], d[1], d[2], d[3], -1.0 if d[4] is None else d[4], d[5] or "")))
