"""Shared fixtures: settings for tests, the two graph stores for the contract suite, and
the two operational databases (SQLite, PostgreSQL) for the service's tests.

Neo4j tests need ``TIANWANG_NEO4J_URI`` (``make test`` starts a dev server). Without it
they skip with a reason, except in CI (``CI=true``), where they fail: CI must run them.
PostgreSQL tests need ``TIANWANG_TEST_POSTGRES_URL`` the same way (``make test`` starts
``scripts/postgres-dev.sh``); each test gets a schema of its own there, dropped after it.
Kafka tests use the broker of ``TIANWANG_KAFKA_BOOTSTRAP`` when it is set, else start a dev broker
of the session's own (``scripts/kafka-dev.sh``); without the ``stream`` extra or a broker that
starts they skip with the reason, and fail in CI.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from graph_schema.store import GraphStore
from tianwang.opsdb import OpsDB
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring import ScoringPipeline, ScoringRecords
from tianwang.settings import get_settings

TEST_SECRET = b"tianwang-test-secret-0123456789abcdef"

# Taken out of the environment so that no test reaches Neo4j by accident through the
# settings; the Neo4j tests get it from the ``neo4j_uri`` fixture.
NEO4J_URI = os.environ.pop("TIANWANG_NEO4J_URI", None)
# The same for the operational database: tests get it from ``ops_url``/``postgres_url``.
POSTGRES_URL = os.environ.get("TIANWANG_TEST_POSTGRES_URL")
os.environ.pop("TIANWANG_DATABASE_URL", None)
# The same for Kafka: tests get the brokers from ``kafka_bootstrap``.
KAFKA_BOOTSTRAP = os.environ.pop("TIANWANG_KAFKA_BOOTSTRAP", None)
KAFKA_DEV = Path(__file__).resolve().parents[1] / "scripts" / "kafka-dev.sh"


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads or writes the user's default store or secret."""
    monkeypatch.setenv("TIANWANG_DB_PATH", str(tmp_path / "graph.db"))
    monkeypatch.setenv("TIANWANG_SECRET", TEST_SECRET.decode())
    monkeypatch.delenv("TIANWANG_STORE", raising=False)
    monkeypatch.delenv("TIANWANG_ENV", raising=False)
    monkeypatch.delenv("TIANWANG_SCORING_CONFIG", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def postgres_url_or_skip() -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            "CI=true but TIANWANG_TEST_POSTGRES_URL is not set: the PostgreSQL tests must run in CI "
            "(`make test` starts the dev server with scripts/postgres-dev.sh)"
        )
    pytest.skip("TIANWANG_TEST_POSTGRES_URL is not set; `make test` starts a dev PostgreSQL "
                "(scripts/postgres-dev.sh start)")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL of the test PostgreSQL whose connections see only a fresh, empty schema of their own
    (``search_path``: tables, Alembic's version table and the audit triggers all land there); the
    schema is dropped after the test."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(postgres_url_or_skip())
    if base.drivername == "postgresql":  # a plain libpq URL: the driver the project installs
        base = base.set(drivername="postgresql+psycopg")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.connect() as connection:  # a connection left in a transaction fails the drop, never hangs it
            connection.execute(text("SET lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_ops_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each operational database in turn, empty: SQLite in a temporary folder, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'operations.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def ops(any_ops_url: str) -> Iterator[OpsDB]:
    """An :class:`OpsDB` on each operational database in turn (``any_ops_url``), closed afterwards."""
    db = OpsDB(any_ops_url)
    try:
        yield db
    finally:
        db.close()


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


def _kafka_unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}: the Kafka tests must run in CI (`make test` installs the stream extra "
                    "and starts scripts/kafka-dev.sh)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Kafka brokers: ``TIANWANG_KAFKA_BOOTSTRAP``, else a dev broker of this session's own, stopped at its end."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        _kafka_unavailable("the Kafka client is not installed (pip install -e '.[stream]')")
    if KAFKA_BOOTSTRAP:
        yield KAFKA_BOOTSTRAP
        return
    if os.environ.get("TIANWANG_NO_KAFKA"):
        _kafka_unavailable("TIANWANG_NO_KAFKA is set: no dev Kafka broker is started")
    env = {**os.environ, "TIANWANG_KAFKA_STATE": str(tmp_path_factory.mktemp("kafka-state"))}
    env.pop("TIANWANG_KAFKA_PORT", None)
    started = subprocess.run(["bash", str(KAFKA_DEV), "start"], env=env, capture_output=True, text=True,
                             timeout=600)
    if started.returncode != 0:
        _kafka_unavailable(f"the dev Kafka broker did not start (scripts/kafka-dev.sh start):\n"
                           f"{started.stderr[-3000:]}")
    try:
        yield started.stdout.strip().rsplit("=", 1)[1]
    finally:
        subprocess.run(["bash", str(KAFKA_DEV), "stop"], env=env, capture_output=True, timeout=120)


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
