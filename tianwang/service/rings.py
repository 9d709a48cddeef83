"""Rings for investigators: the list, one ring in detail, a refresh, and a dealer's scorecard.

The rings are the ones scoring uses: the :class:`~tianwang.rings.index.RingIndex` of the
``fraud_ring`` detector's :class:`~tianwang.rings.lifecycle.RingIndexSource`
(:func:`ring_source`, the one accessor), loaded from the store or detected every
``refresh_every`` applications. Until a detection has run there are none and the list
is empty. :func:`refresh_rings` runs a detection now and waits for it.

A ring holds ``Person`` keys; what an investigator sees of it (its applications, their
times and dealers) is read from the graph once per ring index (:func:`ring_facts`,
cached until the index changes or a minute has passed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select

from graph_schema.schema import Label
from graph_schema.values import NodeRef
from tianwang.errors import InvalidRequestError, NotFoundError, StateConflictError
from tianwang.opsdb.models import DecisionRow, Verdict
from tianwang.opsdb.pagination import decode_cursor, encode_cursor
from tianwang.rings.index import RingIndex, RingSummary
from tianwang.rings.job import detect_rings
from tianwang.rings.lifecycle import RingIndexSource
from tianwang.service import Service
from tianwang.service.audit import audit
from tianwang.service.network import (
    adjacent,
    application_flags,
    confirmed,
    drawn_nodes,
    edge_view,
    node_id,
    node_label,
    node_view,
)

if TYPE_CHECKING:
    from graph_schema.store import GraphStore

__all__ = ["DEALER_SORTS", "RingFacts", "dealer_scorecard", "get_ring", "list_dealers", "list_rings", "refresh_rings",
           "ring_facts", "ring_source"]

_FACTS_TTL = 60.0
log = logging.getLogger(__name__)
_lock = threading.Lock()


def ring_source(service: Service) -> RingIndexSource | None:
    """The ring source of the configuration's ``fraud_ring`` detector (``None`` when it has none)."""
    detector = service.runtime.pipeline.loaded.detectors.get("fraud_ring")
    source = getattr(detector, "rings", None)
    return source if isinstance(source, RingIndexSource) else None


def _index(service: Service) -> RingIndex | None:
    source = ring_source(service)
    if source is None:
        return None
    source.maybe_reload()  # stored rings not loaded yet (a service just started): loading, in the background
    return source.index


def _labels(service: Service) -> dict[str, bool]:
    """Confirmed fraud by application: the detector's labels, then verdicts given here (later ones win)."""
    detector = service.runtime.pipeline.loaded.detectors.get("fraud_ring")
    labels: dict[str, bool] = dict(getattr(detector, "confirmed_fraud", {}) or {})
    with service.ops.session() as session:
        for verdict in session.scalars(select(Verdict).order_by(Verdict.at)):
            for app in {verdict.application_id, *(verdict.applications or [])} - {None}:
                labels[str(app)] = verdict.fraud
    return labels


def _detector_labels(service: Service, application_ids: list[str]) -> dict[str, bool]:
    """The detector's confirmed fraud among ``application_ids``: a read of those only, not of every label and
    verdict (a ring's page must not cost more as verdicts pile up)."""
    detector = service.runtime.pipeline.loaded.detectors.get("fraud_ring")
    among = getattr(detector, "confirmed_among", None)
    return dict(among(application_ids)) if callable(among) else {}


_REFRESHING = threading.Lock()


def refresh_rings(service: Service, actor: Any, *, request_id: str | None = None) -> dict[str, Any]:
    """Detect rings over the whole stored graph now, wait, and use them for scoring.

    With ``refresh_every`` (the shipped configuration) the source detects them in place
    (not written to the store, as its periodic runs do); in stored-rings mode the batch
    job runs and writes them, and the source loads them.
    """
    source = ring_source(service)
    if source is None or source.store is None:
        raise StateConflictError("no_ring_detector", "the active configuration has no fraud_ring detector bound "
                                 "to a store")
    started = time.perf_counter()
    labels = _labels(service)
    with _REFRESHING:  # one refresh at a time: a second caller waits and then runs on the newer graph
        source.wait()
        if source.refresh_every:
            index = source.refresh(time.time(), labels)
        else:
            detect_rings(source.store, labels=labels, resolution=source.resolution, min_size=source.min_size)
            index = source.load()
    seconds = round(time.perf_counter() - started, 3)
    risky = sum(1 for r in index.summaries() if r.risk >= source.risky)
    with service.ops.session() as session:
        audit(session, actor, "rings.refresh", "ring", [], request_id=request_id, rings=len(index), risky=risky)
    return {"rings": len(index), "risky_rings": risky, "seconds": seconds}


@dataclass
class RingFacts:
    """What the graph says of the rings of one index: each ring's applications ``(id, time, dealer)``,
    each dealer's applications, and the dealers of the labelled applications."""

    index: RingIndex | None
    built: float
    applications: dict[str, list[tuple[str, float, str | None]]] = field(default_factory=dict)
    dealer_applications: Counter[str] = field(default_factory=Counter)
    dealer_of: dict[str, str] = field(default_factory=dict)  # of the labelled applications, read as needed
    looked_up: set[str] = field(default_factory=set)

    def dealers_of(self, store: GraphStore, application_ids: Iterable[str]) -> dict[str, str]:
        """:attr:`dealer_of`, with the dealers of ``application_ids`` not looked up yet read from ``store``."""
        new = set(application_ids) - self.looked_up
        if new:
            self.dealer_of.update(store.application_dealers(new))
            self.looked_up.update(new)
        return self.dealer_of

    def span(self, ring_id: str) -> tuple[float | None, float | None]:
        times = [at for _, at, _ in self.applications.get(ring_id, ())]
        return (min(times), max(times)) if times else (None, None)


def ring_facts(service: Service) -> RingFacts:
    """The :class:`RingFacts` of the rings in use, read from the graph (counted by the store: seconds at a
    million applications on Neo4j) when the ring index changes; older than a minute, they are answered while a
    background thread reads them again."""
    index = _index(service)
    with _lock:
        cached: RingFacts | None = service.extras.get("ring_facts")
        if cached is not None and cached.index is index:
            if time.monotonic() - cached.built >= _FACTS_TTL and not service.extras.get("ring_facts_reading"):
                service.extras["ring_facts_reading"] = True
                threading.Thread(target=_read_again, args=(service, index), name="ring-facts", daemon=True).start()
            return cached
        facts = service.extras["ring_facts"] = _read_facts(service, index)
        return facts


def _read_again(service: Service, index: RingIndex | None) -> None:
    try:
        facts = _read_facts(service, index)
        with _lock:
            if getattr(service.extras.get("ring_facts"), "index", None) is index:
                service.extras["ring_facts"] = facts
    except Exception:  # the store closed under it: the next reader reads them
        log.warning("ring facts not read again", exc_info=True)
    finally:
        service.extras["ring_facts_reading"] = False


def _read_facts(service: Service, index: RingIndex | None) -> RingFacts:
    # counted by the store (on Neo4j in the database): each dealer's applications and the rings' members'
    # applications; the labelled applications' dealers are read by id when the dealer figures first need them
    store = service.runtime.store
    facts = RingFacts(index, time.monotonic())
    previous: RingFacts | None = service.extras.get("ring_facts")
    if previous is not None:  # an application's dealer never changes: those read already are kept
        facts.dealer_of = previous.dealer_of
        facts.looked_up = set(previous.dealer_of)  # ids found without a dealer are asked again: written since
    ring_of = {m: r.ring_id for r in index.summaries() for m in r.members} if index is not None else {}
    rollup = store.dealer_rollup(ring_of, prices=False)
    facts.dealer_applications = Counter(rollup.applications)
    by_ring: dict[str, list[tuple[str, float, str | None]]] = defaultdict(list)
    for person, application_id, dealer, at, _, _ in rollup.deals:
        by_ring[ring_of[person]].append((application_id, at, dealer))
    facts.applications = {r: sorted(apps, key=lambda x: (x[1], x[0])) for r, apps in by_ring.items()}
    return facts


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def _ring_view(ring: RingSummary, facts: RingFacts, index: RingIndex) -> dict[str, Any]:
    first, last = facts.span(ring.ring_id)
    apps = facts.applications.get(ring.ring_id, [])
    return {"ring_id": ring.ring_id, "risk": round(ring.risk, 4), "size": ring.size,
            "applications": max(ring.num_applications, len(apps)), "confirmed_fraud": len(ring.confirmed),
            "shared_labels": list(ring.shared_labels), "dealers": list(ring.dealers), "first_at": _iso(first),
            "last_at": _iso(last), "joined_since_detection": index.joined_since(ring.ring_id)}


def list_rings(service: Service, actor: Any, *, min_size: int | None = None, max_size: int | None = None,
               min_risk: float | None = None, dealer_id: str | None = None, since: datetime | None = None,
               until: datetime | None = None, cursor: str | None = None, limit: int = 50,
               request_id: str | None = None) -> dict[str, Any]:
    """One page of the rings in use, riskiest first (then by id).

    ``since``/``until`` keep the rings with an application submitted in that window;
    ``dealer_id`` those with an application at that dealer.
    """
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidRequestError(name, "must carry a time zone")
    index = _index(service)
    if index is None:
        return {"data": [], "pagination": {"has_more": False, "next": None}}
    facts = ring_facts(service)
    low = since.timestamp() if since else -np.inf
    high = until.timestamp() if until else np.inf
    kept = []
    for ring in index.summaries():
        if (min_size is not None and ring.size < min_size) or (max_size is not None and ring.size > max_size):
            continue
        if min_risk is not None and ring.risk < min_risk:
            continue
        apps = facts.applications.get(ring.ring_id, [])
        if dealer_id is not None and dealer_id not in ring.dealers and all(d != dealer_id for *_, d in apps):
            continue
        if (since or until) and not any(low <= at <= high for _, at, _ in apps):
            continue
        kept.append(ring)
    kept.sort(key=lambda r: (-r.risk, r.ring_id))
    if cursor:
        values = decode_cursor(cursor)
        if len(values) != 2 or not isinstance(values[0], int | float) or not isinstance(values[1], str):
            raise InvalidRequestError("cursor", "not a cursor this list gave out")
        after = (-float(values[0]), values[1])
        kept = [r for r in kept if (-r.risk, r.ring_id) > after]
    page, has_more = kept[:limit], len(kept) > limit
    with service.ops.session() as session:
        audit(session, actor, "rings.list", "ring", [r.ring_id for r in page], request_id=request_id)
    return {"data": [_ring_view(r, facts, index) for r in page],
            "pagination": {"has_more": has_more,
                           "next": encode_cursor([page[-1].risk, page[-1].ring_id]) if has_more else None}}


def get_ring(service: Service, actor: Any, ring_id: str, *, request_id: str | None = None) -> dict[str, Any]:
    """One ring: its applications, the attributes they share (masked), statistics and subgraph."""
    index = _index(service)
    ring = index.ring(ring_id) if index is not None else None
    if ring is None or index is None:
        raise NotFoundError("ring", ring_id)
    facts = ring_facts(service)
    apps = facts.applications.get(ring_id, [])
    app_ids = [a for a, _, _ in apps]
    flags = application_flags(service, app_ids)
    labels = _detector_labels(service, app_ids)  # verdicts given here are in ``flags``
    members: list[dict[str, Any]] = []
    for app, at, dealer in apps:
        band, score, verdict = flags[app]
        fraud = verdict if verdict is not None else labels.get(app)
        members.append({"application_id": app, "submitted_at": _iso(at), "dealer_id": dealer, "band": band,
                        "fraud_score": score, "confirmed_fraud": bool(fraud) or confirmed(flags[app])})
    # the subgraph: the applications, their applicants and every attribute two of them share
    nodes: dict[NodeRef, Any] = {}
    rels: dict[tuple[NodeRef, str, NodeRef], Any] = {}
    sharing: dict[NodeRef, set[str]] = defaultdict(set)
    for app in app_ids:
        ref = NodeRef(Label.APPLICATION, app)
        for rel, other in adjacent(service, ref, 200)[0]:
            if other.label is Label.APPLICATION:
                continue
            nodes.setdefault(other.ref, other)
            sharing[other.ref].add(app)
            rels[(rel.source, rel.type.value, rel.target)] = rel
    store = service.runtime.store
    shown = {r for r, by in sharing.items() if len(by) >= 2 or r.label is Label.PERSON}
    shared = sorted((r for r in shown if len(sharing[r]) >= 2 and r.label is not Label.DEALER),
                    key=lambda r: (-len(sharing[r]), r.label, r.key))
    app_nodes = [store.neighbours(NodeRef(Label.APPLICATION, a), hops=0).nodes for a in app_ids]
    out_nodes = [node_view(found[0], flags) for found in app_nodes if found]
    out_nodes += [node_view(nodes[r]) for r in sorted(shown, key=lambda r: (r.label, r.key))]
    keep = {NodeRef(Label.APPLICATION, a) for a in app_ids} | shown
    edges = [edge_view(rel) for rel in rels.values() if rel.source in keep and rel.target in keep]
    drawn_nodes(service).remember(shown)
    labelled = [m for m in members if flags[m["application_id"]][2] is not None or m["application_id"] in labels]
    first, last = facts.span(ring_id)
    with service.ops.session() as session:
        audit(session, actor, "ring.read", "ring", [ring_id], request_id=request_id, applications=len(app_ids))
    return {
        "ring_id": ring_id, "risk": round(ring.risk, 4), "members": members,
        "shared_attributes": [{"kind": r.label.value, "id": node_id(r), "value": node_label(nodes[r]),
                               "members": len(sharing[r])} for r in shared],
        "statistics": {"size": ring.size, "applications": len(app_ids), "risk": round(ring.risk, 4),
                       "labelled": len(labelled),
                       "fraud_rate": (round(sum(m["confirmed_fraud"] for m in labelled) / len(labelled), 4)
                                      if labelled else None),
                       "first_at": _iso(first), "last_at": _iso(last),
                       "time_span_days": round((last - first) / 86_400, 3) if first is not None and last else None,
                       "dealers": sorted({d for *_, d in apps if d} | set(ring.dealers))},
        "nodes": out_nodes, "edges": edges,
    }


def _dealer_figures(service: Service, dealer_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """The scorecard of each dealer (all dealers when ``dealer_ids`` is None), from one pass over the graph's
    facts, the decisions and the rings: the list and the scorecard cannot disagree."""
    facts = ring_facts(service)
    index = facts.index
    wanted = set(dealer_ids) if dealer_ids is not None else None
    query = select(DecisionRow.dealer_id, DecisionRow.band, func.count()).group_by(DecisionRow.dealer_id,
                                                                                   DecisionRow.band)
    if wanted is not None:
        query = query.where(DecisionRow.dealer_id.in_(sorted(wanted)))
    bands: dict[str, dict[str, int]] = defaultdict(dict)
    with service.ops.session() as session:
        for dealer, band, count in session.execute(query).all():
            if dealer is not None:
                bands[dealer][band] = int(count)
    dealers = set(facts.dealer_applications) | set(bands)
    if wanted is not None:
        dealers &= wanted
    labels = _labels(service)
    labelled: dict[str, list[bool]] = defaultdict(list)
    dealer_of = facts.dealers_of(service.runtime.store, labels)  # labels given since the facts were read too
    for app, fraud in labels.items():
        dealer = dealer_of.get(app)
        if dealer in dealers:
            labelled[dealer].append(fraud)
    touching: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if index is not None:
        for ring in index.summaries():
            here = Counter(d for _, _, d in facts.applications.get(ring.ring_id, ()) if d in dealers)
            for dealer in (set(here) | (set(ring.dealers) & dealers)):
                touching[dealer].append({"ring_id": ring.ring_id, "risk": round(ring.risk, 4),
                                         "applications_here": here.get(dealer, 0)})
    out: dict[str, dict[str, Any]] = {}
    for dealer in dealers:
        decided = sum(bands[dealer].values())
        exposure = index.dealer(dealer) if index is not None else None
        inflated = index.inflated.by_dealer.get(dealer, ()) if index is not None else ()
        seen = labelled[dealer]
        out[dealer] = {
            "dealer_id": dealer, "applications": max(facts.dealer_applications.get(dealer, 0), decided),
            "decided": decided,
            "decisions_by_band": {b: int(bands[dealer].get(b, 0)) for b in ("approve", "review", "reject")},
            "labelled": len(seen), "confirmed_fraud": sum(seen),
            "fraud_rate": round(sum(seen) / len(seen), 4) if seen else None,
            "in_risky_rings": exposure.in_risky_rings if exposure else 0,
            "ring_share": round(exposure.share, 4) if exposure else 0.0,
            "inflated_deals": len(inflated),
            "rings": sorted(touching[dealer], key=lambda r: (-r["risk"], r["ring_id"])),
        }
    return out


def dealer_scorecard(service: Service, actor: Any, dealer_id: str, *, request_id: str | None = None
                     ) -> dict[str, Any]:
    """A dealer's applications, decisions by band, fraud rate, inflated deals and the rings touching it."""
    found = _dealer_figures(service, [dealer_id]).get(dealer_id)
    if found is None:
        raise NotFoundError("dealer", dealer_id)
    with service.ops.session() as session:
        audit(session, actor, "dealer.scorecard", "dealer", [dealer_id], request_id=request_id)
    return found


#: the orders of the dealer list
DEALER_SORTS = ("risk", "applications", "dealer_id")


def _dealer_order(sort: str, row: dict[str, Any]) -> tuple[Any, ...]:
    if sort == "risk":
        rate = row["fraud_rate"]
        return (rate is None, -(rate or 0.0), -row["ring_share"], row["dealer_id"])
    if sort == "applications":
        return (-row["applications"], row["dealer_id"])
    return (row["dealer_id"],)


def list_dealers(service: Service, actor: Any, *, sort: str = "risk", min_applications: int = 0,
                 cursor: str | None = None, limit: int = 50, request_id: str | None = None) -> dict[str, Any]:
    """One page of dealers with their scorecard's figures (``rings_touching`` counts the rings), in ``sort``
    order: ``risk`` (fraud rate, then the share in risky rings; unlabelled last), ``applications``, ``dealer_id``.

    The cursor holds the last row's sort key, so a page starts after it even when figures moved in between.
    The figures come from :func:`_dealer_figures` over the cached :func:`ring_facts`: tens of milliseconds on
    a 100,000-application store, plus the one export when the ring index has changed.
    """
    if sort not in DEALER_SORTS:
        raise InvalidRequestError("sort", f"one of {', '.join(DEALER_SORTS)}")
    rows = [r for r in _dealer_figures(service).values() if r["applications"] >= min_applications]
    rows.sort(key=lambda r: _dealer_order(sort, r))
    if cursor:
        values = decode_cursor(cursor)
        template = _dealer_order(sort, {"dealer_id": "", "fraud_rate": 0.0, "ring_share": 0.0, "applications": 0})
        if (len(values) != len(template) + 1 or values[0] != sort
                or any(type(v) is not type(t) and not (isinstance(t, float) and type(v) is int)
                       for v, t in zip(values[1:], template, strict=True))):
            raise InvalidRequestError("cursor", "not a cursor this list gave out (in this order)")
        after = tuple(values[1:])
        rows = [r for r in rows if _dealer_order(sort, r) > after]
    page, has_more = rows[:limit], len(rows) > limit
    with service.ops.session() as session:
        audit(session, actor, "dealers.list", "dealer", [r["dealer_id"] for r in page], request_id=request_id)
    data = [{**{k: v for k, v in r.items() if k != "rings"}, "rings_touching": len(r["rings"])} for r in page]
    return {"data": data, "pagination": {
        "has_more": has_more, "next": encode_cursor([sort, *_dealer_order(sort, page[-1])]) if has_more else None}}
