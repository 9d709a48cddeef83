"""The members of a ring as scoring sees them now, for ring cases and ring verdicts.

A ring's members are ``Person`` keys (HMACs of identity numbers, never the numbers).
The rings in use are those of the ``fraud_ring`` detector's
:class:`~tianwang.rings.lifecycle.RingIndexSource` (the last batch or refresh run; this
module only reads them); when the runtime has none loaded, the rings the batch job
stored are read from the graph store. A member's applications come from the graph
(``Person -SUBMITTED-> Application``).
"""

from __future__ import annotations

from dataclasses import dataclass

from graph_schema.schema import Label
from graph_schema.values import NodeRef
from tianwang.errors import NotFoundError
from tianwang.rings.index import RingIndex, RingSummary
from tianwang.rings.lifecycle import RingIndexSource
from tianwang.service import Service

__all__ = ["RingNow", "current_ring", "describe_members", "member_applications", "ring_index"]


@dataclass(frozen=True, slots=True)
class RingNow:
    """A ring as it stands: id, risk (0-1), members (``Person`` keys, sorted)."""

    ring_id: str
    risk: float
    members: tuple[str, ...]


def ring_index(service: Service) -> RingIndex | None:
    """The ring index the runtime's ring detector scores with (``None`` when it has none)."""
    for detector in service.runtime.pipeline.loaded.detectors.values():
        source = getattr(detector, "rings", None)
        if isinstance(source, RingIndexSource) and source.index is not None:
            return source.index
    return None


def current_ring(service: Service, ring_id: str) -> RingNow:
    """The ring ``ring_id`` now; :class:`NotFoundError` when neither the runtime nor the store knows it."""
    index = ring_index(service)
    summary: RingSummary | None = index.ring(ring_id) if index is not None else None
    if summary is None:
        record = next((r for r in service.runtime.store.rings() if r.ring_id == ring_id), None)
        if record is None:
            raise NotFoundError("ring", ring_id)
        summary = RingSummary.of_record(record)
    return RingNow(summary.ring_id, float(summary.risk), tuple(sorted(summary.members)))


def member_applications(service: Service, members: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    """``{person key: [application id, ...]}``: each member's applications in the graph."""
    return {key: apps for key, (_, apps) in describe_members(service, members).items()}


def describe_members(service: Service, members: tuple[str, ...] | list[str]) -> dict[str, tuple[str, list[str]]]:
    """``{person key: (masked identity number, [application id, ...])}`` from the graph."""
    store = service.runtime.store
    out: dict[str, tuple[str, list[str]]] = {}
    for key in members:
        sub = store.neighbours(NodeRef(Label.PERSON, key), hops=1, limit=1000)
        person = next((n for n in sub.nodes if n.label == Label.PERSON and n.key == key), None)
        shown = str(person.properties.get("id_masked") or "(masked)") if person is not None else "(not in the graph)"
        out[key] = (shown, sorted(n.key for n in sub.nodes if n.label == Label.APPLICATION))
    return out
