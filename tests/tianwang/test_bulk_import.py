"""Bulk backfill (issue 15 item 4): 2,000 generated applications, and two with line breaks, quotes and commas in
values, ingested online into a Neo4j of this test's own, and the same file bulk-imported (`neo4j-admin database
import full`) into a new Neo4j home served by the same script: the same nodes with the same properties, the same
relationships, the same migrations, constraints and indexes, the same fingerprint; the Neo4j store opens it under
the same secret (and refuses another) and scores on it. Needs Java 17 and Maven (the jars come from Maven Central
once): skipped without them, failed in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixtures.generator import generate
from graph_schema.migrations import META_LABEL, MIGRATION_LABEL
from graph_schema.neo4j_store import Neo4jGraphStore
from graph_schema.schema import NODE_TYPES
from tianwang.bulk_import import DEV_SERVER_SCRIPT, bulk_import_file
from tianwang.errors import ConfigurationError
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring import DEFAULT_CONFIG_PATH, ScoringPipeline, ScoringRecords, load_config

from ..builders import application
from ..scoring.helpers import registry

pytestmark = [pytest.mark.slow, pytest.mark.neo4j]

_JAVA17 = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64", "/usr/lib/jvm/java-17-openjdk",
           "/usr/lib/jvm/temurin-17-jdk-amd64")


def java_and_maven_or_skip() -> None:
    """The house rule of the Neo4j tests (tests/conftest.py): skip with a reason here, fail in CI."""
    homes = [os.environ.get("JAVA17_HOME", ""), *_JAVA17]
    java = any(h and Path(h, "bin", "java").exists() for h in homes)
    if java and shutil.which("mvn"):
        return
    why = "OpenJDK 17 and Maven are needed to build Neo4j and its importer from Maven Central jars"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {why} are missing: apt-get install -y openjdk-17-jdk-headless maven")
    pytest.skip(why)


class OwnNeo4j:
    """A dev Neo4j of this test's own; on a given Neo4j home when ``home`` is set (which ``stop`` keeps)."""

    def __init__(self, state: Path, home: Path | None = None) -> None:
        self.env = {**os.environ, "TIANWANG_NEO4J_STATE": str(state), "TIANWANG_NEO4J_HEAP": "512m",
                    "TIANWANG_NEO4J_PAGECACHE": str(64 << 20)}
        self.env.pop("TIANWANG_NEO4J_PORT", None)
        self.env.pop("TIANWANG_NEO4J_HOME", None)
        if home is not None:
            self.env["TIANWANG_NEO4J_HOME"] = str(home)

    def run(self, command: str) -> str:
        done = subprocess.run(["bash", str(DEV_SERVER_SCRIPT), command], env=self.env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"neo4j-dev.sh {command} failed:\n{done.stderr[-3000:]}"
        return done.stdout

    def start(self) -> str:
        return self.run("start").strip().split("=", 1)[1]


def _query(store: Neo4jGraphStore, cypher: str) -> list[dict[str, Any]]:
    records, _, _ = store._driver.execute_query(cypher, database_=store.database)
    return [r.data() for r in records]


def _key_case(var: str) -> str:
    return "CASE labels(" + var + ")[0] " + " ".join(
        f"WHEN '{t.label}' THEN {var}.{t.key}" for t in NODE_TYPES.values()) + " END"


def graph_of(store: Neo4jGraphStore) -> dict[str, Any]:
    """Everything the two databases must share: every node's properties, every relationship, the bookkeeping."""
    nodes = {
        (r["label"], r["key"]): r["props"]
        for r in _query(store, f"MATCH (n) WHERE NOT n:{MIGRATION_LABEL} AND NOT n:{META_LABEL} "
                               f"RETURN labels(n)[0] AS label, {_key_case('n')} AS key, properties(n) AS props")
    }
    relationships = Counter(
        (r["type"], r["s"], r["d"], r["at"], r["extra"])
        for r in _query(store, f"MATCH (s)-[r]->(d) RETURN type(r) AS type, {_key_case('s')} AS s, "
                               f"{_key_case('d')} AS d, r.at AS at, size(keys(r)) AS extra")
    )
    return {
        "nodes": nodes,
        "relationships": relationships,
        "meta": _query(store, f"MATCH (m:{META_LABEL}) RETURN properties(m) AS props"),
        "migrations": _query(store, f"MATCH (m:{MIGRATION_LABEL}) RETURN m.version AS version, "
                                    "m.checksum AS checksum, m.description AS description ORDER BY version"),
        "constraints": sorted((r["name"], r["type"], r["labelsOrTypes"], r["properties"]) for r in _query(
            store, "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties")),
        "indexes": sorted((r["name"], r["type"], r["labelsOrTypes"], r["properties"], r["state"]) for r in _query(
            store, "SHOW INDEXES YIELD name, type, labelsOrTypes, properties, state")),
    }


def test_bulk_import_builds_the_graph_online_ingest_builds(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    java_and_maven_or_skip()
    generate(2001, 29, tmp_path / "data")
    lines = (tmp_path / "data" / "applications.ndjson").read_bytes().splitlines()
    # and two whose text needs CSV quoting: a line break, quotes, a comma and a backslash in values
    awkward = [application(1, **{"applicant.employer": {"name": '北京\n星河,"科技"\\有限公司'}}),
               application(2, **{"vehicle.model": 'Cam"ry,\\x\r\ny'})]
    source = tmp_path / "applications.ndjson"
    source.write_bytes(b"\n".join([*lines[:2000], *map(orjson.dumps, awkward)]) + b"\n")
    later = lines[2000]  # scored on the imported database afterwards

    online_server = OwnNeo4j(tmp_path / "online-state")
    bulk_server = OwnNeo4j(tmp_path / "bulk-state", home=tmp_path / "home")
    stores: list[Neo4jGraphStore] = []
    try:
        online = Neo4jGraphStore(online_server.start(), keyer)
        stores.append(online)
        report = ingest_file(source, online)
        assert (report.created, report.rejected) == (2002, 0)

        bulk = bulk_import_file(source, tmp_path / "home", keyer)
        assert bulk.imported and bulk.ingest.created == 2002 and bulk.applied_migrations == [1, 2, 3]
        assert not (tmp_path / "home" / "import-csv").exists()  # the CSV files are gone
        assert (tmp_path / "home" / "data" / "databases" / "neo4j").is_dir()
        assert (tmp_path / "home" / "data" / "transactions" / "neo4j").is_dir()

        uri = bulk_server.start()
        imported = Neo4jGraphStore(uri, keyer)
        stores.append(imported)
        assert imported.applied_migrations == []  # the schema is current
        assert imported.counts() == online.counts()
        assert imported.counts().nodes["Application"] == 2002
        expected, got = graph_of(online), graph_of(imported)
        assert len(got["nodes"]) > 10_000 and sum(got["relationships"].values()) > 15_000
        for label_key, props in list(expected["nodes"].items())[::97]:  # a sample first, for a readable failure
            assert got["nodes"].get(label_key) == props, label_key
        assert any("\n" in str(props.get("name")) for props in got["nodes"].values())
        for part in ("nodes", "relationships", "migrations", "constraints", "indexes"):
            assert got[part] == expected[part], part
        assert got["meta"] == expected["meta"] == [{"props": {"key": "keyer_fingerprint",
                                                              "value": keyer.fingerprint(), "claims": 1}}]
        assert len(got["constraints"]) == 12 and {i[4] for i in got["indexes"]} == {"ONLINE"}

        with pytest.raises(ConfigurationError, match="another"):
            Neo4jGraphStore(uri, PersonalDataKeyer(b"another-secret-of-32-bytes-or-more-0123")).close()
        pipeline = ScoringPipeline(imported, load_config(DEFAULT_CONFIG_PATH, registry()),
                                   ScoringRecords.in_memory(keyer))
        try:
            decision = pipeline.score(later)
        finally:
            pipeline.close()
        assert decision.band in ("approve", "review", "reject") and 0 <= decision.fraud_score <= 1000
        assert imported.counts().nodes["Application"] == 2003
    finally:
        for store in stores:
            store.close()
        online_server.run("stop")
        bulk_server.run("stop")
    assert (tmp_path / "home" / "data" / "databases" / "neo4j").is_dir()  # stop keeps a home it was given
