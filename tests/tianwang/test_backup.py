"""tianwang backup / restore: a consistent copy of the embedded store taken while it serves, restored and
compared, a damaged backup refused, and files in place never replaced without --force."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tests.builders import application
from tianwang.cli import app as cli
from tianwang.cli.backup import backup_store, restore_store
from tianwang.errors import ConfigurationError, StoreError
from tianwang.runtime import open_graph
from tianwang.service import open_service
from tianwang.service.scoring import score_application
from tianwang.settings import load_settings


def test_a_backup_taken_while_scoring_restores_to_the_counts_it_recorded(tmp_path: Path) -> None:
    live = tmp_path / "live" / "graph.db"
    settings = load_settings(db_path=live, store="embedded")
    with open_service(settings, store="embedded") as service:
        for n in range(1, 41):
            score_application(service, orjson.dumps(application(n)))
        stop = threading.Event()
        scored = []

        def keep_scoring() -> None:  # the service goes on while the backup runs
            n = 1000
            while not stop.is_set():
                n += 1
                score_application(service, orjson.dumps(application(n)))
                scored.append(n)

        writer = threading.Thread(target=keep_scoring)
        writer.start()
        try:
            manifest = backup_store(live, tmp_path / "backup", operations_url=settings.operations_url)
        finally:
            stop.set()
            writer.join()
    assert scored, "nothing was written during the backup"
    assert set(manifest["files"]) == {"graph.db", "scoring.db", "operations.db"} and manifest["left_out"] == []
    assert not list((tmp_path / "backup").glob("*-wal"))  # self-contained files
    stored = manifest["nodes"]["Application"]
    assert 40 <= stored <= 40 + len(scored)

    restored = tmp_path / "restored" / "graph.db"
    again = load_settings(db_path=restored, store="embedded")
    restore_store(tmp_path / "backup", restored, operations_url=again.operations_url)
    with open_graph(again, "embedded") as graph:
        counts = graph.counts()
        assert counts.nodes == manifest["nodes"] and counts.relationships == manifest["relationships"]
        assert graph.get_application("APP-000040") is not None
    with open_service(again, store="embedded") as service:  # the operational records came along
        _, created = score_application(service, orjson.dumps(application(7)))
        assert not created  # decided before the backup: the same decision again

    with pytest.raises(ConfigurationError, match="--force"):
        restore_store(tmp_path / "backup", restored, operations_url=again.operations_url)
    damaged = tmp_path / "backup" / "scoring.db"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
    with pytest.raises(StoreError, match="damaged"):
        restore_store(tmp_path / "backup", restored, operations_url=again.operations_url, force=True)
    with pytest.raises(ConfigurationError, match="not empty"):
        backup_store(live, tmp_path / "backup", operations_url=settings.operations_url)


def test_the_commands_back_up_and_restore(tmp_path: Path) -> None:
    live = tmp_path / "live" / "graph.db"
    with open_service(load_settings(db_path=live, store="embedded"), store="embedded") as service:
        for n in range(1, 6):
            score_application(service, orjson.dumps(application(n)))
    runner = CliRunner()
    made = runner.invoke(cli, ["backup", str(tmp_path / "b"), "--db", str(live)])
    assert made.exit_code == 0, made.output
    assert "graph.db" in made.stdout and "operations.db" in made.stdout
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["nodes"]["Application"] == 5
    refused = runner.invoke(cli, ["restore", str(tmp_path / "b"), "--db", str(live)])
    assert refused.exit_code != 0 and "--force" in refused.output
    done = runner.invoke(cli, ["restore", str(tmp_path / "b"), "--db", str(live), "--force"])
    assert done.exit_code == 0, done.output
    assert "as in the backup" in done.stdout
