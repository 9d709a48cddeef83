"""A Neo4j store opened while the server is down: refused at once, or (lazy) opened and unavailable per call."""

from __future__ import annotations

import socket

import pytest

from graph_schema.mapping import application_row
from graph_schema.neo4j_store import Neo4jGraphStore
from tests.builders import application
from tianwang.application import parse_application
from tianwang.errors import StoreUnavailableError


def _nothing_listening() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"bolt://127.0.0.1:{probe.getsockname()[1]}"


def test_a_store_opened_without_a_server_is_refused_unless_lazy(keyer) -> None:
    uri = _nothing_listening()
    with pytest.raises(StoreUnavailableError, match="cannot reach Neo4j"):
        Neo4jGraphStore(uri, keyer, connection_timeout=1)
    store = Neo4jGraphStore(uri, keyer, connection_timeout=1, lazy=True)
    try:
        row = application_row(parse_application(application(1)), keyer)
        with pytest.raises(StoreUnavailableError):
            store.write_rows([row])
        with pytest.raises(StoreUnavailableError):
            store.get_application("APP-000001")
        assert store.applied_migrations == []
    finally:
        store.close()
