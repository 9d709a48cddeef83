"""Two secrets cannot share one Neo4j graph: the first write binds an empty graph to its secret."""

from __future__ import annotations

import threading

import pytest

from graph_schema.mapping import ApplicationRow, application_row
from tests.builders import application
from tianwang.application import parse_application
from tianwang.errors import ConfigurationError
from tianwang.privacy import PersonalDataKeyer

pytestmark = pytest.mark.neo4j

OTHER = PersonalDataKeyer(b"tianwang-another-secret-0123456789abcdef")


def rows(keyer: PersonalDataKeyer, *numbers: int) -> list[ApplicationRow]:
    return [application_row(parse_application(application(n)), keyer) for n in numbers]


def test_two_secrets_cannot_both_write_to_one_empty_graph(neo4j_uri: str, keyer: PersonalDataKeyer) -> None:
    from graph_schema.neo4j_store import Neo4jGraphStore

    with Neo4jGraphStore(neo4j_uri, keyer) as first:
        first.clear()
        with Neo4jGraphStore(neo4j_uri, OTHER) as second:  # both opened the empty graph
            try:
                assert first.write_rows(rows(keyer, 1, 2)).created == 2
                with pytest.raises(ConfigurationError, match="another TIANWANG_SECRET"):
                    second.write_rows(rows(OTHER, 3))
                with pytest.raises(ConfigurationError, match="another TIANWANG_SECRET"):
                    second.write_rings([], detected_at=0.0)
                assert first.counts().nodes["Application"] == 2
                assert first.get_application("APP-000003") is None
                with pytest.raises(ConfigurationError):
                    Neo4jGraphStore(neo4j_uri, OTHER)
                first.clear()  # an empty graph is bound by its next first write
                assert second.write_rows(rows(OTHER, 3)).created == 1
                with pytest.raises(ConfigurationError, match="another TIANWANG_SECRET"):
                    first.write_rows(rows(keyer, 4))
            finally:
                first.clear()


def test_concurrent_first_writes_under_two_secrets_leave_one(neo4j_uri: str, keyer: PersonalDataKeyer) -> None:
    from graph_schema.neo4j_store import Neo4jGraphStore

    with Neo4jGraphStore(neo4j_uri, keyer) as first, Neo4jGraphStore(neo4j_uri, OTHER) as second:
        first.clear()
        outcomes: dict[str, str] = {}
        start = threading.Barrier(2)

        def write(name: str, store: Neo4jGraphStore, batch: list[ApplicationRow]) -> None:
            start.wait()
            try:
                store.write_rows(batch)
                outcomes[name] = "written"
            except ConfigurationError:
                outcomes[name] = "refused"

        try:
            threads = [threading.Thread(target=write, args=("first", first, rows(keyer, *range(1, 40)))),
                       threading.Thread(target=write, args=("second", second, rows(OTHER, *range(40, 80))))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert sorted(outcomes.values()) == ["refused", "written"]
            written = 39 if outcomes["first"] == "written" else 40
            assert first.counts().nodes["Application"] == written
        finally:
            first.clear()
