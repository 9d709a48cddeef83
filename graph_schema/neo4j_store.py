"""The Neo4j graph store: the official driver against Neo4j 5 (5.26 LTS in development).

Each write batch is one managed transaction (the driver retries transient failures)
running a function of :mod:`graph_schema.neo4j_writes`; reads are auto-commit queries.
Labels, keys and relationship types come from the schema module only, never from
input, so interpolating them into Cypher is safe; every value is a parameter.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable, SessionExpired

from graph_schema.export import GraphExport
from graph_schema.mapping import ApplicationRow
from graph_schema.migrations import META_LABEL, MIGRATION_LABEL, NEO4J_MIGRATIONS
from graph_schema.neo4j_export import FAR_FUTURE as _FAR_FUTURE
from graph_schema.neo4j_export import application_dealers, dealer_rollup, export_graph
from graph_schema.neo4j_writes import replace_rings, write_application_rows
from graph_schema.rollup import DealerRollup
from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType
from graph_schema.store import GraphStore
from graph_schema.values import (
    ApplicationRecord,
    BulkUpsertResult,
    GraphCounts,
    Node,
    NodeRef,
    Relationship,
    RingRecord,
    check_rings,
    to_timestamp,
)
from tianwang.errors import ConfigurationError, StoreError, StoreUnavailableError
from tianwang.privacy import PersonalDataKeyer

__all__ = ["Neo4jGraphStore"]

log = logging.getLogger(__name__)

_INTERNAL = (MIGRATION_LABEL, META_LABEL)


def _key_expr(var: str) -> str:
    """Cypher for the key value of node ``var``, whatever its label."""
    cases = " ".join(f"WHEN '{t.label}' THEN {var}.{t.key}" for t in NODE_TYPES.values())
    return f"CASE labels({var})[0] {cases} END"


def _label_code_expr(var: str) -> str:
    cases = " ".join(f"WHEN '{t.label}' THEN {t.code}" for t in NODE_TYPES.values())
    return f"CASE labels({var})[0] {cases} END"


def _type_code_expr(var: str) -> str:
    cases = " ".join(f"WHEN '{t.type}' THEN {t.code}" for t in RELATIONSHIP_TYPES.values())
    return f"CASE type({var}) {cases} END"


#: a branch per label, every label always (one query text, so one cached plan: a text per set of labels
#: present made a plan per combination, each compiled in about a second on first use)
_ALL_LABEL_BRANCHES = " UNION ".join(
    f"WITH ref WITH ref WHERE ref.label = '{label}'"
    f" MATCH (n:{label} {{{NODE_TYPES[label].key}: ref.key}}) RETURN n"
    for label in sorted(NODE_TYPES)
)


def _match(var: str, label: Label, param: str = "key") -> str:
    return f"({var}:{label} {{{NODE_TYPES[label].key}: ${param}}})"


class Neo4jGraphStore(GraphStore):
    """A :class:`GraphStore` on a Neo4j 5 server.

    Parameters
    ----------
    uri : str
        ``bolt://host:port`` or ``neo4j://host:port`` (``+s`` for TLS).
    keyer : PersonalDataKeyer
        Derives personal-data keys; the store refuses data keyed under another secret.
    auth : tuple of (user, password), optional
        ``None`` for a server with authentication off (the dev server).
    database : str
        The database to use.
    connection_timeout : float
        Seconds to open a connection.
    retry_seconds : float
        Seconds the driver retries a write transaction that failed transiently (a
        server restarting, say) before it gives up; the scoring path has its own,
        shorter deadline (:mod:`tianwang.scoring.outbox`).
    lazy : bool
        When the server cannot be reached now, open anyway and connect (check the
        schema and the secret's fingerprint) at the first call that reaches it: a
        serving process that starts during an outage scores without the graph
        (:mod:`tianwang.scoring.outbox`) instead of not starting. Every call raises
        :class:`~tianwang.errors.StoreUnavailableError` until then.
    """

    kind = "neo4j"

    def __init__(
        self,
        uri: str,
        keyer: PersonalDataKeyer,
        *,
        auth: tuple[str, str] | None = None,
        database: str = "neo4j",
        connection_timeout: float = 5.0,
        retry_seconds: float = 5.0,
        lazy: bool = False,
    ) -> None:
        super().__init__(keyer)
        self.uri = uri
        self.database = database
        self.applied_migrations: list[int] = []
        self._ready = False
        self._ready_lock = threading.Lock()
        try:
            self._driver: Driver = GraphDatabase.driver(uri, auth=auth, notifications_min_severity="OFF",
                                                       connection_timeout=connection_timeout,
                                                       max_transaction_retry_time=retry_seconds)
        except ValueError as exc:
            raise ConfigurationError(f"bad Neo4j URI {uri!r}: {exc}") from exc
        try:
            self._connect()
        except StoreUnavailableError as exc:
            if not lazy:
                self._driver.close()
                raise
            log.error("Neo4j cannot be reached at start: connecting at the first call that reaches it",
                      extra={"uri": uri, "why": str(exc)})

    # -- set-up ---------------------------------------------------------------------------
    def _connect(self) -> None:
        """Reach the server, apply pending migrations, check the secret's fingerprint (once)."""
        with self._ready_lock:
            if self._ready:
                return
            try:
                self._driver.verify_connectivity()
            except (ServiceUnavailable, SessionExpired, OSError) as exc:
                raise StoreUnavailableError(f"cannot reach Neo4j at {self.uri}: {exc}") from exc
            except AuthError as exc:
                raise StoreUnavailableError(f"Neo4j at {self.uri} refused the credentials: {exc.message}") from exc
            self._ready = True  # the set-up's own queries go through _run
            try:
                self.applied_migrations = self._migrate()
                self._check_fingerprint()
            except BaseException:
                self._ready = False
                raise

    def _ensure_ready(self) -> None:
        if not self._ready:
            self._connect()

    def _run(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """One auto-commit query (schema changes, reads); errors become store errors."""
        self._ensure_ready()
        try:
            records, _, _ = self._driver.execute_query(cypher, params, database_=self.database)
        except (ServiceUnavailable, SessionExpired) as exc:
            raise StoreUnavailableError(f"Neo4j at {self.uri} is unavailable: {exc}") from exc
        except Neo4jError as exc:
            raise StoreError(f"Neo4j query failed: {exc.message}") from exc
        return [record.data() for record in records]

    def _migrate(self) -> list[int]:
        recorded = {
            row["version"]: row["checksum"]
            for row in self._run(f"MATCH (m:{MIGRATION_LABEL}) RETURN m.version AS version, m.checksum AS checksum")
        }
        applied = []
        for migration in NEO4J_MIGRATIONS:
            if migration.version in recorded:
                migration.check_recorded(recorded[migration.version])
                continue
            for statement in migration.statements:
                self._run(statement)
            self._run(
                f"MERGE (m:{MIGRATION_LABEL} {{version: $version}}) "
                "ON CREATE SET m.description = $description, m.checksum = $checksum, m.applied_at = datetime()",
                version=migration.version,
                description=migration.description,
                checksum=migration.checksum,
            )
            applied.append(migration.version)
            log.info("applied neo4j migration", extra={"version": migration.version, "database": self.database})
        if applied:
            self._run("CALL db.awaitIndexes(300)")
        return applied

    def _check_fingerprint(self) -> None:
        """Refuse at once a database that holds data keyed under another secret.

        Only a check: the first write binds an empty database to its secret, in its own
        transaction (:func:`~graph_schema.neo4j_writes.claim_fingerprint`).
        """
        fingerprint = self.keyer.fingerprint()
        rows = self._run(
            f"OPTIONAL MATCH (m:{META_LABEL} {{key: 'keyer_fingerprint'}}) "
            f"RETURN m.value AS value, EXISTS {{ MATCH (:{Label.APPLICATION}) }} AS has_data"
        )
        if rows[0]["value"] not in (None, fingerprint) and rows[0]["has_data"]:
            raise ConfigurationError(
                f"the Neo4j database {self.database!r} at {self.uri} holds data written under another "
                f"TIANWANG_SECRET (fingerprint {rows[0]['value']}, now {fingerprint}); "
                "use that secret or another database"
            )

    # -- writes ---------------------------------------------------------------------------
    def write_rows(self, rows: list[ApplicationRow]) -> BulkUpsertResult:
        self._ensure_ready()
        try:
            with self._driver.session(database=self.database) as session:
                return session.execute_write(write_application_rows, rows, self.keyer.fingerprint())
        except (ServiceUnavailable, SessionExpired) as exc:
            raise StoreUnavailableError(f"Neo4j at {self.uri} is unavailable, batch not written: {exc}") from exc
        except Neo4jError as exc:
            raise StoreError(f"Neo4j write failed, batch rolled back: {exc.message}") from exc

    def rehearse_write(self, rows: list[ApplicationRow]) -> None:
        self._ensure_ready()
        try:
            with self._driver.session(database=self.database) as session, session.begin_transaction() as tx:
                write_application_rows(tx, rows, self.keyer.fingerprint())  # type: ignore[arg-type]
                tx.rollback()
        except (ServiceUnavailable, SessionExpired) as exc:
            raise StoreUnavailableError(f"Neo4j at {self.uri} is unavailable: {exc}") from exc
        except Neo4jError as exc:
            raise StoreError(f"Neo4j rehearsal failed: {exc.message}") from exc

    def write_rings(self, rings: list[RingRecord], *, detected_at: float) -> None:
        check_rings(rings)
        self._ensure_ready()
        rows = [
            {"id": r.ring_id, "props": {**r.properties, "detected_at": detected_at}, "members": list(r.members)}
            for r in rings
        ]
        try:
            with self._driver.session(database=self.database) as session:
                session.execute_write(replace_rings, rows, detected_at, self.keyer.fingerprint())
        except (ServiceUnavailable, SessionExpired) as exc:
            raise StoreUnavailableError(f"Neo4j at {self.uri} is unavailable, rings not written: {exc}") from exc
        except Neo4jError as exc:
            raise StoreError(f"Neo4j ring write failed, rolled back: {exc.message}") from exc

    def rings(self) -> list[RingRecord]:
        return self._read_rings(f"MATCH (r:{Label.RING}) ", {})

    def ring_of(self, application_id: str) -> RingRecord | None:
        found = self._read_rings(
            f"MATCH {_match('a', Label.APPLICATION, 'id')}<-[:{RelType.SUBMITTED}]-(:{Label.PERSON})"
            f"-[:{RelType.MEMBER_OF}]->(r:{Label.RING}) WITH DISTINCT r ",
            {"id": application_id},
        )
        return found[0] if found else None

    def _read_rings(self, match: str, params: dict[str, Any]) -> list[RingRecord]:
        rows = self._run(
            match + f"OPTIONAL MATCH (p:{Label.PERSON})-[:{RelType.MEMBER_OF}]->(r) "
            "WITH r, p.id_hash AS member ORDER BY member "
            "RETURN r.ring_id AS id, properties(r) AS props, collect(member) AS members ORDER BY id",
            **params,
        )
        return [
            RingRecord(row["id"], tuple(row["members"]), _public_properties(Label.RING, row["props"])) for row in rows
        ]

    # -- reads ----------------------------------------------------------------------------
    def get_application(
        self, application_id: str, *, as_of: float | datetime | None = None
    ) -> ApplicationRecord | None:
        ts = to_timestamp(as_of)
        rows = self._run(
            f"MATCH {_match('a', Label.APPLICATION, 'id')} WHERE a.submitted_at <= $ts "
            "RETURN a.submitted_at AS submitted_at, a.dealer_id AS dealer_id, a.content_hash AS content_hash, "
            "a.record AS record",
            id=application_id,
            ts=_FAR_FUTURE if ts is None else ts,
        )
        if not rows:
            return None
        row = rows[0]
        return ApplicationRecord(
            application_id, row["submitted_at"], row["dealer_id"], row["content_hash"], json.loads(row["record"])
        )

    def _get_node(self, ref: NodeRef, as_of: float | None) -> Node | None:
        rows = self._run(f"MATCH {_match('n', ref.label)} RETURN properties(n) AS props", key=ref.key)
        if not rows:
            return None
        props = _public_properties(ref.label, rows[0]["props"])
        if as_of is not None and ref.label is Label.APPLICATION and props["submitted_at"] > as_of:
            return None
        return Node(ref.label, ref.key, props)

    def _adjacent(self, ref: NodeRef, as_of: float | None, limit: int) -> list[tuple[Relationship, Node]]:
        rows = self._run(
            f"MATCH {_match('n', ref.label)}-[r]-(m) WHERE r.at <= $ts "
            f"WITH r, m, startNode(r) = n AS outgoing, {_key_expr('m')} AS key "
            "RETURN type(r) AS type, r.at AS at, outgoing, labels(m)[0] AS label, key, properties(m) AS props "
            f"ORDER BY at, key, {_label_code_expr('m')}, {_type_code_expr('r')} LIMIT $limit",
            key=ref.key,
            ts=_FAR_FUTURE if as_of is None else as_of,
            limit=limit,
        )
        adjacent = []
        for row in rows:
            label = Label(row["label"])
            other = Node(label, row["key"], _public_properties(label, row["props"]))
            rel_type = RelType(row["type"])
            if row["outgoing"]:
                rel = Relationship(ref, rel_type, other.ref, row["at"])
            else:
                rel = Relationship(other.ref, rel_type, ref, row["at"])
            adjacent.append((rel, other))
        return adjacent

    def _adjacent_many(self, refs: list[NodeRef], as_of: float | None,
                       limit: int) -> list[list[tuple[Relationship, Node]]]:
        # one round trip: each ref finds its node in the branch of its label, then its first `limit`
        # relationships in the order _adjacent gives
        rows = self._run(
            f"UNWIND $refs AS ref CALL {{ {_ALL_LABEL_BRANCHES} }} "
            "CALL { WITH n MATCH (n)-[r]-(m) WHERE r.at <= $ts "
            f"WITH r, m, startNode(r) = n AS outgoing, {_key_expr('m')} AS key "
            "RETURN type(r) AS type, r.at AS at, outgoing, labels(m)[0] AS label, key, properties(m) AS props "
            f"ORDER BY at, key, {_label_code_expr('m')}, {_type_code_expr('r')} LIMIT $limit }} "
            "RETURN ref.i AS i, type, at, outgoing, label, key, props",
            refs=[{"i": i, "label": str(ref.label), "key": ref.key} for i, ref in enumerate(refs)],
            ts=_FAR_FUTURE if as_of is None else as_of,
            limit=limit,
        )
        out: list[list[tuple[Relationship, Node]]] = [[] for _ in refs]
        for row in rows:
            ref = refs[row["i"]]
            label = Label(row["label"])
            other = Node(label, row["key"], _public_properties(label, row["props"]))
            rel_type = RelType(row["type"])
            rel = (Relationship(ref, rel_type, other.ref, row["at"]) if row["outgoing"]
                   else Relationship(other.ref, rel_type, ref, row["at"]))
            out[row["i"]].append((rel, other))
        order = {t.type: t.code for t in RELATIONSHIP_TYPES.values()}
        for around in out:  # rows of one ref come in its subquery's order; sorted again to be sure
            around.sort(key=lambda pair: (pair[0].at, pair[1].key, NODE_TYPES[pair[1].label].code,
                                          order[pair[0].type]))
        return out

    def export_edges(self, *, as_of: float | datetime | None = None,
                     types: Iterable[RelType] | None = None) -> GraphExport:
        # a few records of lists, not a record per relationship (graph_schema/neo4j_export.py)
        return export_graph(self._run, ts=to_timestamp(as_of), types=types, internal=_INTERNAL)

    def dealer_rollup(self, people: Collection[str], *, prices: bool = True) -> DealerRollup:
        # counted by the database (graph_schema/neo4j_export.py), unless some application lacks its model
        counted = dealer_rollup(self._run, people, prices=prices)
        return counted if counted is not None else super().dealer_rollup(people, prices=prices)

    def node_keys(self, label: Label) -> list[str]:
        return [key for part in self._run(f"MATCH (n:{label}) RETURN collect(n.{NODE_TYPES[label].key}) AS keys")
                for key in part["keys"]]

    def application_dealers(self, application_ids: Collection[str]) -> dict[str, str]:
        return application_dealers(self._run, application_ids)

    def counts(self) -> GraphCounts:
        nodes = {}
        for label in NODE_TYPES:
            n = self._run(f"MATCH (n:{label}) RETURN count(n) AS n")[0]["n"]
            if n:
                nodes[str(label)] = n
        rels = {}
        for rel_type in RELATIONSHIP_TYPES:
            n = self._run(f"MATCH ()-[r:{rel_type}]->() RETURN count(r) AS n")[0]["n"]
            if n:
                rels[str(rel_type)] = n
        return GraphCounts(nodes=nodes, relationships=rels)

    # -- lifecycle ------------------------------------------------------------------------
    def clear(self) -> None:
        # Relationships first, then nodes, in bounded transactions: a single DETACH DELETE
        # of a hub (a dealer with thousands of relationships) can exceed the memory cap.
        while self._run("MATCH ()-[r]->() WITH r LIMIT 20000 DELETE r RETURN count(*) AS n")[0]["n"]:
            pass
        excluded = " AND ".join(f"NOT n:{label}" for label in _INTERNAL)
        while self._run(f"MATCH (n) WHERE {excluded} WITH n LIMIT 20000 DELETE n RETURN count(*) AS n")[0]["n"]:
            pass

    def close(self) -> None:
        self._driver.close()


def _public_properties(label: Label, props: dict[str, Any]) -> dict[str, Any]:
    """Node properties as the embedded store returns them: no key, no application record."""
    props = dict(props)
    props.pop(NODE_TYPES[label].key, None)
    if label is Label.APPLICATION:
        props.pop("record", None)
    return props
