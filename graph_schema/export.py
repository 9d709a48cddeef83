"""The graph as arrays for analytics: :class:`GraphExport`, its deal terms, and how a store builds one.

A store reads its nodes, relationships and deal terms with its own ids and hands them
to :func:`build_export`, which renumbers them and orders them the same way in every
store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["ApplicationDeals", "GraphExport", "build_export", "model_percentile_prices"]


@dataclass(frozen=True, slots=True)
class ApplicationDeals:
    """The deal terms of exported applications, as arrays: what ring detection compares.

    Application ``k`` is export node ``node[k]``; it finances a vehicle of model
    ``model[k]`` (an integer standing for brand and model, the same for the same model
    within one export; -1 when unknown) at ``vehicle_price[k]``. ``model_names[m]``,
    when given, is model ``m``'s brand and model (``"Toyota Camry"``).
    """

    node: np.ndarray
    vehicle_price: np.ndarray
    model: np.ndarray
    model_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not len(self.node) == len(self.vehicle_price) == len(self.model):
            raise ValueError(
                f"node, vehicle_price and model must have one entry per application, got lengths "
                f"{len(self.node)}, {len(self.vehicle_price)} and {len(self.model)}"
            )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, float | None, str | None]]) -> ApplicationDeals:
        """From ``(node, vehicle price, model name)`` rows; a missing price or name is unknown."""
        listed = list(rows)
        codes: dict[str, int] = {}
        return cls(
            node=np.fromiter((r[0] for r in listed), dtype=np.int64, count=len(listed)),
            vehicle_price=np.fromiter(
                (np.nan if r[1] is None else r[1] for r in listed), dtype=np.float64, count=len(listed)
            ),
            model=np.fromiter(
                (codes.setdefault(r[2], len(codes)) if r[2] else -1 for r in listed), dtype=np.int64, count=len(listed)
            ),
            model_names=tuple(codes),
        )


@dataclass(frozen=True, slots=True)
class GraphExport:
    """The graph as arrays for analytics.

    ``node_label[i]`` and ``node_key[i]`` name node ``i``; relationship ``j`` goes from
    ``edge_index[0, j]`` to ``edge_index[1, j]`` with type ``edge_type[j]`` (a
    :class:`~graph_schema.schema.RelationshipType` code) and time ``edge_at[j]``.
    Nodes are ordered by (label code, key), relationships by (source, type, target).
    ``deals``, when the store gives them, are the applications' deal terms;
    ``landline``, when it gives it, says per node whether it is a ``Phone`` that is
    not a mobile (its ``mobile`` property is false).
    """

    node_label: np.ndarray
    node_key: list[str]
    edge_index: np.ndarray
    edge_type: np.ndarray
    edge_at: np.ndarray
    deals: ApplicationDeals | None = None
    landline: np.ndarray | None = None

    @property
    def num_nodes(self) -> int:
        return len(self.node_key)

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])


def build_export(
    nodes: list[tuple[int, int, str]],
    edges: list[tuple[int, int, int, float]],
    deals: list[tuple[int, float | None, str | None]] | None = None,
    landlines: Iterable[int] | None = None,
) -> GraphExport:
    """A :class:`GraphExport` from ``(id, label code, key)`` nodes sorted by (label code, key)
    and ``(source id, type code, target id, at)`` relationships; ids are any distinct ints.
    ``deals`` are ``(application id, vehicle price, vehicle model)`` rows; those of
    applications not among ``nodes`` are left out. ``landlines`` are the ids of the
    ``Phone`` nodes that are not mobiles (others are left out)."""
    ids = np.fromiter((n[0] for n in nodes), dtype=np.int64, count=len(nodes))
    index_of = np.argsort(ids, kind="stable")
    sorted_ids = ids[index_of]
    edge_arr = np.array([(e[0], e[2]) for e in edges], dtype=np.int64).reshape(-1, 2)
    pos = np.searchsorted(sorted_ids, edge_arr.ravel()).reshape(-1, 2)
    edge_index = index_of[pos].T.astype(np.int64) if len(edges) else np.empty((2, 0), dtype=np.int64)
    edge_type = np.fromiter((e[1] for e in edges), dtype=np.int16, count=len(edges))
    edge_at = np.fromiter((e[3] for e in edges), dtype=np.float64, count=len(edges))
    order = np.lexsort((edge_index[1], edge_type, edge_index[0])) if len(edges) else np.empty(0, dtype=np.int64)
    application_deals = None
    if deals is not None:
        # from store ids to export node indices, as for the relationships; unknown ids are left out
        by_id = ApplicationDeals.from_rows(deals)
        pos = np.minimum(np.searchsorted(sorted_ids, by_id.node), max(len(sorted_ids) - 1, 0))
        known = sorted_ids[pos] == by_id.node if len(sorted_ids) else np.zeros(len(pos), dtype=bool)
        application_deals = ApplicationDeals(
            index_of[pos[known]].astype(np.int64), by_id.vehicle_price[known], by_id.model[known], by_id.model_names
        )
    landline = None
    if landlines is not None:
        landline = np.zeros(len(nodes), dtype=bool)
        listed = np.fromiter(landlines, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, listed), max(len(sorted_ids) - 1, 0))
        known = sorted_ids[pos] == listed if len(sorted_ids) else np.zeros(len(pos), dtype=bool)
        landline[index_of[pos[known]]] = True
    return GraphExport(
        node_label=np.fromiter((n[1] for n in nodes), dtype=np.int16, count=len(nodes)),
        node_key=[n[2] for n in nodes],
        edge_index=np.ascontiguousarray(edge_index[:, order]),
        edge_type=edge_type[order],
        edge_at=edge_at[order],
        deals=application_deals,
        landline=landline,
    )


def model_percentile_prices(deals: ApplicationDeals) -> tuple[np.ndarray, np.ndarray]:
    """Per model code of ``deals``: how many of its applications are priced (a finite price above 0), and
    their 95th-percentile price by nearest rank (entry ``floor(0.95 * (n - 1))`` of the n sorted prices;
    NaN for a model without any)."""
    num_models = int(deals.model.max()) + 1 if len(deals.model) else 0
    counts = np.zeros(num_models, dtype=np.int64)
    p95 = np.full(num_models, np.nan)
    priced = (deals.model >= 0) & np.isfinite(deals.vehicle_price) & (deals.vehicle_price > 0)
    model, price = deals.model[priced], deals.vehicle_price[priced]
    if not len(model):
        return counts, p95
    order = np.lexsort((price, model))
    sorted_model, sorted_price = model[order], price[order]
    starts = np.flatnonzero(np.r_[True, sorted_model[1:] != sorted_model[:-1]])
    n = np.diff(np.r_[starts, len(sorted_model)])
    counts[sorted_model[starts]] = n
    p95[sorted_model[starts]] = sorted_price[starts + np.floor(0.95 * (n - 1)).astype(np.int64)]
    return counts, p95
