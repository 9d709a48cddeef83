"""The graph export of a Neo4j database in a few large records instead of millions of small ones.

:meth:`~graph_schema.neo4j_store.Neo4jGraphStore.export_edges` feeds ring detection and
the ring index (dealer exposure, inflated deals). Returned one row per relationship, a
million applications cost about 30 s per query on the driver's side (every record a
Python object; Neo4j itself matches and counts the same rows in under a second), and a
service starting on Neo4j spent over 100 s there before it had its rings. Here every
query returns its values as lists (``collect``) in a handful of records: each
relationship type, each label's nodes, the deals and the landline phones.

So that no single record has to hold more than about :data:`CHUNK_ROWS` values per list
in the server's heap, a large relationship type or deal set is read in chunks, the rows of
chunk ``i`` of ``k`` being those whose whole-second time modulo ``k`` is ``i``: the chunks
partition the rows whatever their times.

Nodes are told apart by label and key (each label's key is unique: a constraint of the
schema), which is what the export keeps of them; a relationship type's endpoints have the
labels :data:`~graph_schema.schema.RELATIONSHIP_TYPES` gives it, as every write makes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from typing import Any

from graph_schema.export import GraphExport, build_export
from graph_schema.rollup import DealerRollup, sort_deals
from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType
from tianwang.keys import vehicle_model_name

__all__ = ["CHUNK_ROWS", "FAR_FUTURE", "application_dealers", "dealer_rollup", "export_graph"]

#: The most rows a chunk is meant to hold (a million keys and times are about 100 MB of heap).
CHUNK_ROWS = 1_000_000
#: The time bound of a query without one (larger than any timestamp).
FAR_FUTURE = 1e300

Run = Callable[..., list[dict[str, Any]]]


def model_of_record(record: str | None) -> str | None:
    """Brand and model from a stored application record (applications stored before the node carried them)."""
    if record is None:
        return None
    vehicle = json.loads(record).get("vehicle") or {}
    if not vehicle.get("brand") or not vehicle.get("model"):
        return None
    return vehicle_model_name(vehicle["brand"], vehicle["model"])


def _chunks(run: Run, count_cypher: str, n_key: str) -> int:
    total = int(run(count_cypher)[0][n_key] or 0)
    return max(1, -(-total // CHUNK_ROWS))


def _collected(run: Run, match: str, time_expr: str, columns: list[str], chunks: int,
               **params: Any) -> Iterable[list[Any]]:
    """The rows of ``match`` (a MATCH ... WHERE ... clause), each the values of ``columns``, read as one
    record per chunk (a list of rows: ``collect`` would leave out a column's nulls, not a row's)."""
    for i in range(chunks):
        where = f" AND abs(toInteger({time_expr})) % $chunks = $chunk" if chunks > 1 else ""
        for record in run(f"{match}{where} RETURN collect([{', '.join(columns)}]) AS rows", chunks=chunks,
                          chunk=i, **params):
            yield from record["rows"]


def export_graph(run: Run, *, ts: float | None, types: Iterable[RelType] | None,
                 internal: Iterable[str]) -> GraphExport:
    """The export of ``export_edges``: relationships of ``types`` (all when ``None``) with ``at <= ts``
    (any time when ``None``), their nodes (with ``types`` and ``ts`` both ``None``, every node but those
    of the ``internal`` labels), the deals of applications submitted by ``ts`` and the landline phones;
    ``run(cypher, **params)`` runs one read query."""
    bound = FAR_FUTURE if ts is None else ts
    ids: dict[tuple[int, str], int] = {}
    nodes: list[tuple[int, int, str]] = []

    def node(code: int, key: str) -> int:
        index = ids.get((code, key))
        if index is None:
            index = ids[(code, key)] = len(ids)
            nodes.append((index, code, key))
        return index

    chosen = sorted(RELATIONSHIP_TYPES) if types is None else sorted({RelType(t) for t in types})
    edges: list[tuple[int, int, int, float]] = []
    for rel_type in chosen:
        # the schema names each type's source and target labels (the writes follow it): their keys are read
        # straight, with no per-row label test
        spec = RELATIONSHIP_TYPES[rel_type]
        source, target = NODE_TYPES[spec.source], NODE_TYPES[spec.target]
        chunks = _chunks(run, f"MATCH ()-[r:{rel_type}]->() RETURN count(r) AS n", "n")
        edges.extend((node(source.code, sk), spec.code, node(target.code, dk), at) for sk, dk, at in _collected(
            run, f"MATCH (s:{spec.source})-[r:{rel_type}]->(d:{spec.target}) WHERE r.at <= $ts", "r.at",
            [f"s.{source.key}", f"d.{target.key}", "r.at"], chunks, ts=bound))
    if types is None and ts is None:
        skipped = set(internal)
        for label, node_type in NODE_TYPES.items():
            if str(label) in skipped:
                continue
            for part in run(f"MATCH (n:{label}) RETURN collect(n.{node_type.key}) AS keys"):
                for key in part["keys"]:
                    node(node_type.code, key)
    application = NODE_TYPES[Label.APPLICATION]
    deals: list[tuple[int, float | None, str | None]] = []
    chunks = _chunks(run, f"MATCH (a:{Label.APPLICATION}) RETURN count(a) AS n", "n")
    columns = [f"a.{application.key}", "a.vehicle_price", "a.vehicle_model",
               "CASE WHEN a.vehicle_model IS NULL THEN a.record END"]
    for key, price, model, record in _collected(run, f"MATCH (a:{Label.APPLICATION}) WHERE a.submitted_at <= $ts",
                                                "a.submitted_at", columns, chunks, ts=bound):
        index = ids.get((application.code, key))
        if index is not None:
            deals.append((index, price, model or model_of_record(record)))
    phone = NODE_TYPES[Label.PHONE]
    landlines = [
        index for part in run(f"MATCH (p:{Label.PHONE}) WHERE p.mobile = false RETURN collect(p.{phone.key}) AS keys")
        for key in part["keys"] if (index := ids.get((phone.code, key))) is not None
    ]
    nodes.sort(key=lambda n: (n[1], n[2]))
    return build_export(nodes, edges, deals, landlines)


def dealer_rollup(run: Run, people: Collection[str], *, prices: bool = True) -> DealerRollup | None:
    """The :class:`~graph_schema.rollup.DealerRollup` for ``people``, counted by the database in three
    queries whose answers are a record or two of lists (per dealer, per model with ``prices``, and the
    people's deals), instead of exporting who applied where; ``None`` where an application node lacks its
    vehicle model (stored before the node carried it: its model is in the record, which the export reads)."""
    application, dealer, person = (NODE_TYPES[label] for label in (Label.APPLICATION, Label.DEALER, Label.PERSON))
    if run(f"MATCH (a:{Label.APPLICATION}) WHERE a.vehicle_model IS NULL RETURN count(a) AS n")[0]["n"]:
        return None
    applications = {key: int(n) for part in run(
        f"MATCH (d:{Label.DEALER}) WITH d, COUNT {{ (d)<-[:{RelType.AT_DEALER}]-() }} AS n "
        f"WHERE n > 0 RETURN collect([d.{dealer.key}, n]) AS rows") for key, n in part["rows"]}
    # nearest rank, as model_percentile_prices: entry floor(0.95 * (n - 1)) of the n sorted prices
    model_prices = {model: (int(n), float(p95)) for part in run(
        f"MATCH (a:{Label.APPLICATION}) WHERE a.vehicle_price > 0 "
        "WITH a.vehicle_model AS m, a.vehicle_price AS p ORDER BY m, p WITH m, collect(p) AS ps "
        "RETURN collect([m, size(ps), ps[toInteger(floor(0.95 * (size(ps) - 1)))]]) AS rows")
        for model, n, p95 in part["rows"]} if prices else {}
    deals = [(k, a, d, float(at), None if price is None else float(price), model) for part in run(
        f"UNWIND $people AS k MATCH (p:{Label.PERSON} {{{person.key}: k}})-[s:{RelType.SUBMITTED}]->"
        f"(a:{Label.APPLICATION})-[:{RelType.AT_DEALER}]->(d:{Label.DEALER}) "
        f"RETURN collect([k, a.{application.key}, d.{dealer.key}, s.at, a.vehicle_price, a.vehicle_model]) AS rows",
        people=sorted(people)) for k, a, d, at, price, model in part["rows"]]
    return DealerRollup(applications, model_prices, sort_deals(deals))


def application_dealers(run: Run, application_ids: Collection[str]) -> dict[str, str]:
    """The dealer of each of ``application_ids`` the database holds at a dealer, read by key."""
    application, dealer = NODE_TYPES[Label.APPLICATION], NODE_TYPES[Label.DEALER]
    return {a: d for part in run(
        f"UNWIND $ids AS i MATCH (a:{Label.APPLICATION} {{{application.key}: i}})-[:{RelType.AT_DEALER}]->"
        f"(d:{Label.DEALER}) RETURN collect([i, d.{dealer.key}]) AS rows", ids=sorted(application_ids))
        for a, d in part["rows"]}
