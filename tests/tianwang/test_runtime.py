"""The composition root builds a process's store, records and pipeline from settings, and releases them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import application
from tianwang.errors import ConfigurationError
from tianwang.runtime import open_graph, open_runtime
from tianwang.scoring import DecisionNotFoundError
from tianwang.scoring.config import DEFAULT_CONFIG_PATH
from tianwang.settings import load_settings


def test_decisions_are_durable_beside_the_store(tmp_path: Path) -> None:
    settings = load_settings(db_path=tmp_path / "graph.db")
    with open_runtime(settings, store="embedded") as runtime:
        assert runtime.store.kind == "embedded"
        assert runtime.pipeline.records is runtime.records
        decision = runtime.pipeline.score(application(1))
    assert (tmp_path / "scoring.db").exists()
    with open_runtime(settings, store="embedded") as again:  # a new process finds what the first recorded
        assert again.records.decisions.get("APP-000001")["fraud_score"] == decision.fraud_score
        assert again.store.get_application("APP-000001") is not None


def test_a_caller_that_records_decisions_itself_gets_no_second_log(tmp_path: Path) -> None:
    """The service keeps each decision once, in its operational database: its pipeline has no log."""
    import sqlite3

    import orjson

    from tianwang.service import open_service
    from tianwang.service.scoring import get_decision, score_application

    settings = load_settings(db_path=tmp_path / "graph.db")
    with open_service(settings, store="embedded") as service:
        assert service.runtime.records.decisions is None
        decision, created = score_application(service, orjson.dumps(application(3)))
        assert created and get_decision(service, decision["decision_id"])["fraud_score"] == decision["fraud_score"]
    with sqlite3.connect(tmp_path / "scoring.db") as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'decisions'").fetchall() == []


def test_in_memory_records_are_asked_for_by_name(tmp_path: Path) -> None:
    settings = load_settings(db_path=tmp_path / "graph.db")
    with open_runtime(settings, store="embedded", records="memory", checkpoints=False) as runtime:
        runtime.pipeline.score(application(2))
        assert runtime.records.decisions.get("APP-000002")["application_id"] == "APP-000002"
    assert not (tmp_path / "scoring.db").exists()
    with open_runtime(settings, store="embedded", records="memory") as fresh, pytest.raises(DecisionNotFoundError):
        fresh.records.decisions.get("APP-000002")


def test_close_releases_the_store_and_bad_settings_fail_clearly(tmp_path: Path) -> None:
    settings = load_settings(db_path=tmp_path / "graph.db")
    runtime = open_runtime(settings, store="embedded", config=DEFAULT_CONFIG_PATH)
    runtime.close()
    with pytest.raises(Exception):  # noqa: B017 - any error: the connection is closed
        runtime.store.counts()
    with pytest.raises(ConfigurationError, match="unknown store"):
        open_runtime(settings, store="nowhere")
    with pytest.raises(ConfigurationError, match="TIANWANG_NEO4J_URI"):
        open_graph(settings, "neo4j")


def test_the_scoring_configuration_comes_from_tianwang_scoring_config(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A process started without a config argument (``tianwang serve``) loads the file the setting names."""
    changed = tmp_path / "scoring.yaml"
    changed.write_text(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace("champion: baseline",
                                                                               "champion: strict"))
    monkeypatch.setenv("TIANWANG_SCORING_CONFIG", str(changed))
    settings = load_settings(db_path=tmp_path / "graph.db")
    with open_runtime(settings, store="embedded", records="memory", checkpoints=False) as runtime:
        assert runtime.pipeline.loaded.config.champion == "strict"
    monkeypatch.delenv("TIANWANG_SCORING_CONFIG")
    with open_runtime(load_settings(db_path=tmp_path / "graph.db"), store="embedded", records="memory",
                      checkpoints=False) as runtime:
        assert runtime.pipeline.loaded.config.champion == "baseline"
