"""No raw personal value in the Neo4j store (issue 19, personal data): after scoring generated applications
into Neo4j, no node or relationship property, label or key holds a raw identity number, phone or bank
account; the embedded store's files are scanned by tests/web/test_no_raw_personal_data.py."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from fixtures.generator import generate
from graph_schema.neo4j_store import Neo4jGraphStore
from tianwang.scoring import DEFAULT_CONFIG_PATH, ScoringPipeline, ScoringRecords, load_config

from ..scoring.helpers import registry
from ..web.test_no_raw_personal_data import leaks, raw_values

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


def test_no_raw_personal_value_in_neo4j(neo4j_uri: str, keyer, tmp_path: Path) -> None:
    generate(200, 7, tmp_path / "data")
    source = tmp_path / "data" / "applications.ndjson"
    raw = raw_values(source)
    assert len(raw) > 400
    store = Neo4jGraphStore(neo4j_uri, keyer)
    store.clear()
    pipeline = ScoringPipeline(store, load_config(DEFAULT_CONFIG_PATH, registry()), ScoringRecords.in_memory(keyer))
    try:
        for line in source.read_bytes().splitlines():
            pipeline.score(line)
        nodes, _, _ = store._driver.execute_query("MATCH (n) RETURN labels(n) AS labels, properties(n) AS props")
        edges, _, _ = store._driver.execute_query("MATCH ()-[r]->() RETURN type(r) AS type, properties(r) AS props")
        assert len(nodes) > 1000 and len(edges) > 1000
        dump = orjson.dumps([r.data() for r in nodes] + [r.data() for r in edges], default=str)
        assert leaks(dump, raw) == set()
        assert b"Application" in dump  # the dump holds the graph
        planted = next(iter(raw))
        assert leaks(dump + b" " + planted + b" ", raw) == {planted}  # and the scan would see a raw value
    finally:
        pipeline.close()
        store.clear()
        store.close()
