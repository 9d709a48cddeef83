"""The write transactions of the Neo4j store, as functions the driver runs (and retries) whole.

Applications go in ``UNWIND`` batches: ``MERGE`` on the application key, then one
statement with a subquery per relationship type that merges the node at the other end
(keyed as in :mod:`graph_schema.schema`) and creates the relationship: three round
trips per batch in all (the fingerprint check, the applications, the relationships). Labels, keys and
relationship types come from the schema module only, never from input, so
interpolating them into Cypher is safe; every value is a parameter.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import orjson
from neo4j import ManagedTransaction

from graph_schema.mapping import ApplicationRow
from graph_schema.migrations import META_LABEL
from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType
from graph_schema.values import BulkUpsertResult
from tianwang.errors import ConfigurationError

__all__ = ["claim_fingerprint", "replace_rings", "write_application_rows"]

_APPLICATION_CODE = NODE_TYPES[Label.APPLICATION].code
_FINGERPRINT = f"(m:{META_LABEL} {{key: 'keyer_fingerprint'}})"
_HAS_DATA = f"EXISTS {{ MATCH (:{Label.APPLICATION}) }}"


def claim_fingerprint(tx: ManagedTransaction, fingerprint: str) -> None:
    """Check, in the writing transaction, that the graph is keyed under this secret; bind an empty graph to it.

    A graph that holds applications and records this fingerprint is the common case and
    takes no lock. Otherwise the fingerprint node is locked (a ``SET`` on it) before the
    graph is looked at again, so of two writers with different secrets on an empty graph
    the second waits for the first to commit, then finds its applications and is refused.

    Raises
    ------
    ConfigurationError
        If the graph holds applications written under another secret.
    """
    seen = tx.run(f"OPTIONAL MATCH {_FINGERPRINT} RETURN m.value AS value, {_HAS_DATA} AS has_data").single(strict=True)
    if seen["value"] == fingerprint and seen["has_data"]:
        return
    locked = tx.run(
        f"MERGE {_FINGERPRINT} SET m.claims = coalesce(m.claims, 0) + 1 "
        f"WITH m RETURN m.value AS value, {_HAS_DATA} AS has_data"
    ).single(strict=True)
    if locked["value"] not in (None, fingerprint) and locked["has_data"]:
        raise ConfigurationError(
            f"this Neo4j database holds data written under another TIANWANG_SECRET (fingerprint {locked['value']}, "
            f"now {fingerprint}); use that secret or another database"
        )
    if locked["value"] != fingerprint:
        tx.run(f"MATCH {_FINGERPRINT} SET m.value = $value", value=fingerprint).consume()


def replace_rings(tx: ManagedTransaction, rows: list[dict[str, Any]], detected_at: float, fingerprint: str) -> None:
    """Replace every ring in one transaction: old rings detached and deleted, new ones created."""
    claim_fingerprint(tx, fingerprint)
    tx.run(f"MATCH (r:{Label.RING}) DETACH DELETE r").consume()
    tx.run(f"UNWIND $rows AS row CREATE (r:{Label.RING} {{ring_id: row.id}}) SET r += row.props", rows=rows).consume()
    tx.run(
        f"UNWIND $rows AS row MATCH (r:{Label.RING} {{ring_id: row.id}}) UNWIND row.members AS member "
        f"MATCH (p:{Label.PERSON} {{id_hash: member}}) CREATE (p)-[:{RelType.MEMBER_OF} {{at: $at}}]->(r)",
        rows=rows,
        at=detected_at,
    ).consume()


def _relationship_subquery(rel_type: RelType) -> str:
    spec = RELATIONSHIP_TYPES[rel_type]
    outgoing = spec.source is Label.APPLICATION
    other_label = spec.target if outgoing else spec.source
    arrow = f"(a)-[:{rel_type} {{at: row[3]}}]->(o)" if outgoing else f"(o)-[:{rel_type} {{at: row[3]}}]->(a)"
    return (
        f"CALL () {{ UNWIND $rows AS row WITH row WHERE row[4] = {spec.code} "
        f"MATCH (a:{Label.APPLICATION}) WHERE elementId(a) = row[0] "
        f"MERGE (o:{other_label} {{{NODE_TYPES[other_label].key}: row[1]}}) ON CREATE SET o += row[2] "
        f"CREATE {arrow} }}"
    )


#: relationship types with an application at one end: what an application writes
_APPLICATION_TYPES = [t for t, spec in RELATIONSHIP_TYPES.items()
                      if Label.APPLICATION in (spec.source, spec.target)]
#: one unit subquery per type, each over the rows of its type in one list (one parameter that is never an
#: empty list: Neo4j caches a plan per query text *and* parameter types, and ten lists that are empty or not
#: made a plan per combination, each compiled in half a second)
_RELATIONSHIPS = "\n".join(_relationship_subquery(t) for t in _APPLICATION_TYPES)


def write_application_rows(tx: ManagedTransaction, rows: list[ApplicationRow], fingerprint: str) -> BulkUpsertResult:
    """Write a batch in one managed transaction (re-run whole by the driver on a transient error).

    Applications are merged first, returning their element ids; only those this
    transaction created get their relationships, in one statement with a unit subquery
    per relationship type: each row finds its application by element id (no index
    seek), merges the node at the other end and creates the relationship. Node properties are those of the
    node's first occurrence in the batch, as in the embedded store. Every relationship
    touches its application, so creating rather than merging them stays idempotent: a
    concurrent writer of the same application waits on the uniqueness constraint, then
    finds the node made and writes nothing more. The secret's fingerprint is checked
    first (:func:`claim_fingerprint`).
    """
    claim_fingerprint(tx, fingerprint)
    result = BulkUpsertResult()
    first: dict[str, ApplicationRow] = {}
    for row in rows:
        first.setdefault(row.application_id, row)
    stored: dict[str, str] = {}
    created: dict[str, str] = {}
    # One record holding a list (a record per application costs the driver ~15 us each to decode).
    outcomes = tx.run(
        f"UNWIND $rows AS row MERGE (n:{Label.APPLICATION} {{application_id: row.key}}) "
        "ON CREATE SET n += row.props, n.record = row.record, n.write_token = $token "
        "WITH row, n, n.write_token = $token AS created REMOVE n.write_token "
        "RETURN collect([row.key, created, n.content_hash, elementId(n)]) AS outcomes",
        rows=[
            {"key": r.application_id, "props": orjson.loads(r.properties), "record": r.record_json}
            for r in first.values()
        ],
        token=uuid.uuid4().hex,
    ).single(strict=True)[0]
    for application_id, was_created, content_hash, element in outcomes:
        stored[application_id] = content_hash
        if was_created:
            created[application_id] = element
    # (label code, key) -> properties of the node's first occurrence, parsed once
    properties: dict[tuple[int, str], dict[str, Any]] = {}
    # per relationship type: (application's element id, other end's key and properties, at)
    by_type: dict[int, list[tuple[str, str, dict[str, Any], float]]] = defaultdict(list)
    for row in rows:
        element = created.pop(row.application_id, None)
        if element is None:
            if stored[row.application_id] == row.content_hash:
                result.unchanged += 1
            else:
                result.conflicts.append(row.application_id)
            continue
        result.created += 1
        for code, key, props in row.nodes:
            if (code, key) not in properties:
                properties[(code, key)] = orjson.loads(props)
        at = row.submitted_ts
        for source, source_key, type_code, target, target_key in row.relationships:
            # one end is the application; the other is merged
            if source == _APPLICATION_CODE:
                other, other_key = target, target_key
            else:
                other, other_key = source, source_key
            by_type[type_code].append((element, other_key, properties[(other, other_key)], at))
    if by_type:  # every relationship type in one statement: one round trip, one cached plan
        tagged = [[*row, code] for code, type_rows in by_type.items() for row in type_rows]
        tx.run(_RELATIONSHIPS, rows=tagged).consume()
    return result
