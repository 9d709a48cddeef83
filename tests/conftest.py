"""Shared fixtures: settings for tests, and the two graph stores for the contract suite.

Neo4j tests need ``TIANWANG_NEO4J_URI`` (``make test`` starts a dev server). Without it
they skip with a reason, except in CI (``CI=true``), where they fail: CI must run them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from graph_schema.store import GraphStore
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring import ScoringPipeline, ScoringRecords
from tianwang.settings import get_settings

TEST_SECRET = b"tianwang-test-secret-0123456789abcdef"

# Taken out of the environment so that no test reaches Neo4j by accident through the
# settings; the Neo4j tests get it from the ``neo4j_uri`` fixture.
NEO4J_URI = os.environ.pop("TIANWANG_NEO4J_URI", None)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads or writes the user's default store or secret."""
    monkeypatch.setenv("TIANWANG_DB_PATH", str(tmp_path / "graph.db"))
    monkeypatch.setenv("TIANWANG_SECRET", TEST_SECRET.decode())
    monkeypatch.delenv("TIANWANG_STORE", raising=False)
    monkeypatch.delenv("TIANWANG_ENV", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def keyer() -> PersonalDataKeyer:
    return PersonalDataKeyer(TEST_SECRET)


def neo4j_uri_or_skip() -> str:
    if NEO4J_URI:
        return NEO4J_URI
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            "CI=true but TIANWANG_NEO4J_URI is not set: the Neo4j tests must run in CI "
            "(`make test` starts the dev server with scripts/neo4j-dev.sh)"
        )
    pytest.skip("TIANWANG_NEO4J_URI is not set; `make test` starts a dev Neo4j (scripts/neo4j-dev.sh start)")


@pytest.fixture(scope="session")
def neo4j_uri() -> str:
    return neo4j_uri_or_skip()


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path, keyer: PersonalDataKeyer) -> Iterator[GraphStore]:
    """Each store in turn, empty; the contract suite runs every test against both."""
    if request.param == "embedded":
        from graph_schema.embedded import EmbeddedGraphStore

        graph: GraphStore = EmbeddedGraphStore(tmp_path / "contract.db", keyer)
    else:
        from graph_schema.neo4j_store import Neo4jGraphStore

        graph = Neo4jGraphStore(request.getfixturevalue("neo4j_uri"), keyer)
        graph.clear()
    try:
        yield graph
    finally:
        if request.param == "neo4j":
            graph.clear()
        graph.close()


@pytest.fixture
def pipelines() -> Iterator[Callable[..., ScoringPipeline]]:
    """Builds scoring pipelines (in-memory records unless given) and closes each one at teardown."""
    opened: list[ScoringPipeline] = []

    def build(store: GraphStore, config: Any, records: ScoringRecords | None = None, **kwargs: Any) -> ScoringPipeline:
        pipeline = ScoringPipeline(store, config, records or ScoringRecords.in_memory(store.keyer), **kwargs)
        opened.append(pipeline)
        return pipeline

    yield build
    for pipeline in opened:
        pipeline.close()
