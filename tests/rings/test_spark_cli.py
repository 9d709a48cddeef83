"""``tianwang rings detect --engine spark`` writes the rings the single-machine job writes.

A module of its own: the command starts and stops its own Spark session, which must not be
the session ``test_spark.py`` keeps open for its module.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from graph_schema.embedded import EmbeddedGraphStore
from tests.conftest import TEST_SECRET
from tests.rings.helpers import deal_applications, ring_applications
from tests.rings.test_spark import need_pyspark
from tianwang.cli.rings import register as register_rings
from tianwang.privacy import PersonalDataKeyer
from tianwang.rings import detect_rings

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_cli_engine_spark_writes_the_rings_the_local_job_writes(tmp_path: Path) -> None:
    need_pyspark()
    keyer = PersonalDataKeyer(TEST_SECRET)
    local_db, spark_db = tmp_path / "local.db", tmp_path / "spark.db"
    applications = [*ring_applications(), *deal_applications()]
    for db in (local_db, spark_db):
        with EmbeddedGraphStore(db, keyer) as store:
            store.upsert_applications(applications)
    with EmbeddedGraphStore(local_db, keyer) as store:
        detect_rings(store, min_size=2)
        expected = sorted((r.ring_id, r.members, r.properties["risk"], r.properties["size"]) for r in store.rings())
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test host."""

    register_rings(app)
    result = CliRunner().invoke(
        app, ["rings", "detect", "--db", str(spark_db), "--engine", "spark", "--spark-master", "local[1]",
              "--min-size", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "spark_start" in result.output
    with EmbeddedGraphStore(spark_db, keyer) as store:
        found = sorted((r.ring_id, r.members, r.properties["risk"], r.properties["size"]) for r in store.rings())
    assert found == expected and len(found) >= 3  # the web, the household, the inflated deals at D-BJ-009
    bad = CliRunner().invoke(app, ["rings", "detect", "--db", str(spark_db), "--engine", "flink"])
    assert bad.exit_code == 2 and "unknown engine 'flink'" in bad.output
