"""Ingest from NDJSON, through the library and the CLI, against both stores."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.mapping import ApplicationRow
from graph_schema.store import GraphStore
from graph_schema.values import BulkUpsertResult
from tests.builders import application
from tianwang import ingest as ingest_module
from tianwang.cli import app as cli
from tianwang.errors import IngestAbortedError, StoreError
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer


@pytest.fixture(params=[0, 2], ids=["in-process", "2-workers"])
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Ingest in this process, or in two worker processes fed chunks of three lines."""
    monkeypatch.setattr(ingest_module, "_CHUNK_LINES", 3)
    return int(request.param)


def write_ndjson(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mixed_file(tmp_path: Path) -> Path:
    good = [json.dumps(application(n), ensure_ascii=False) for n in range(1, 8)]
    bad_id = json.dumps(application(50, **{"applicant.id_number": "110105194912310021"}))
    lines = [*good[:3], bad_id, "{not json", "", *good[3:]]
    return write_ndjson(tmp_path / "apps.ndjson", lines)


def test_skip_reports_line_numbers_and_reasons(store: GraphStore, tmp_path: Path, workers: int) -> None:
    report = ingest_file(mixed_file(tmp_path), store, batch_size=2, workers=workers)
    assert (report.lines, report.created, report.unchanged) == (9, 7, 0)
    assert [(e.line, e.application_id) for e in report.errors] == [(4, "APP-000050"), (5, None)]
    assert "applicant.id_number: check digit does not match" in report.errors[0].reason
    assert "110105194912310021" not in str(report.errors[0])
    assert "not valid JSON" in report.errors[1].reason
    counts = store.counts()
    rerun = ingest_file(mixed_file(tmp_path), store, batch_size=3, workers=workers)
    assert (rerun.created, rerun.unchanged, rerun.rejected) == (0, 7, 2)
    assert store.counts() == counts


def test_stop_keeps_what_came_before(store: GraphStore, tmp_path: Path, workers: int) -> None:
    report = ingest_file(mixed_file(tmp_path), store, on_error="stop", batch_size=100, workers=workers)
    assert report.stopped and report.created == 3 and [e.line for e in report.errors] == [4]
    assert store.counts().nodes["Application"] == 3
    assert store.get_application("APP-000003") is not None


def test_stop_in_a_later_chunk_and_batch(store: GraphStore, tmp_path: Path, workers: int) -> None:
    good = [json.dumps(application(n)) for n in range(1, 12)]
    bad = json.dumps(application(60, **{"applicant.phone": "12345"}))
    path = write_ndjson(tmp_path / "late.ndjson", [*good[:8], bad, *good[8:]])
    seen: list[int] = []
    report = ingest_file(path, store, on_error="stop", batch_size=3, workers=workers, progress=seen.append)
    assert report.stopped and (report.lines, report.created) == (9, 8)
    assert [(e.line, e.application_id) for e in report.errors] == [(9, "APP-000060")]
    assert store.counts().nodes["Application"] == 8 and store.get_application("APP-000009") is None
    assert sum(seen) == sum(len(line.encode()) + 1 for line in [*good[:8], bad])


def test_conflicts_and_duplicates_in_one_file(store: GraphStore, tmp_path: Path, workers: int) -> None:
    first = json.dumps(application(1))
    changed = json.dumps(application(1, dealer_id="D-ELSEWHERE"))
    path = write_ndjson(tmp_path / "dup.ndjson", [first, first, changed, json.dumps(application(2))])
    report = ingest_file(path, store, workers=workers)
    assert (report.created, report.unchanged) == (2, 1)
    assert [(e.line, e.application_id) for e in report.errors] == [(3, "APP-000001")]
    assert "different content" in report.errors[0].reason


def test_progress_counts_every_byte(store: GraphStore, tmp_path: Path, workers: int) -> None:
    path = mixed_file(tmp_path)
    seen: list[int] = []
    ingest_file(path, store, batch_size=2, progress=seen.append, workers=workers)
    assert sum(seen) == path.stat().st_size


def test_a_failed_batch_stops_the_ingest(keyer: PersonalDataKeyer, tmp_path: Path, workers: int) -> None:
    """Batches are written in a thread while the next is read, but one at a time: none after a failure."""
    lines = [json.dumps(application(n), ensure_ascii=False) for n in range(1, 12)]
    path = write_ndjson(tmp_path / "apps.ndjson", lines)
    written: list[list[str]] = []

    class FailingStore(EmbeddedGraphStore):
        def write_rows(self, rows: list[ApplicationRow]) -> BulkUpsertResult:
            written.append([row.application_id for row in rows])
            if len(written) == 2:
                raise StoreError("embedded store write failed, batch rolled back: disk full")
            return super().write_rows(rows)

    with FailingStore(tmp_path / "f.db", keyer) as store, pytest.raises(IngestAbortedError, match="disk full") as info:
        ingest_file(path, store, batch_size=3, workers=workers)
    assert "3 new applications were committed" in str(info.value) and "rerun the same file" in str(info.value)
    assert written == [["APP-000001", "APP-000002", "APP-000003"], ["APP-000004", "APP-000005", "APP-000006"]]
    with EmbeddedGraphStore(tmp_path / "f.db", keyer) as store:
        assert store.counts().nodes["Application"] == 3


def test_bad_arguments(store: GraphStore, tmp_path: Path) -> None:
    path = mixed_file(tmp_path)
    with pytest.raises(ValueError, match="on_error must be 'skip' or 'stop', got: 'retry'"):
        ingest_file(path, store, on_error="retry")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers must be 0 or more, got: -1"):
        ingest_file(path, store, workers=-1)


def test_workers_write_what_one_process_writes(keyer: PersonalDataKeyer, tmp_path: Path, workers: int) -> None:
    lines = [json.dumps(application(n), ensure_ascii=False) for n in range(1, 30)]
    path = write_ndjson(tmp_path / "apps.ndjson", lines)
    with EmbeddedGraphStore(tmp_path / "one.db", keyer) as one, EmbeddedGraphStore(tmp_path / "w.db", keyer) as many:
        ingest_file(path, one, batch_size=4, workers=0)
        ingest_file(path, many, batch_size=4, workers=workers)
        assert one.counts() == many.counts()
        a, b = one.export_edges(), many.export_edges()
        assert a.node_key == b.node_key and (a.edge_index == b.edge_index).all() and (a.edge_at == b.edge_at).all()
        assert one.get_application("APP-000017") == many.get_application("APP-000017")


def test_cli_ingest_and_stats(tmp_path: Path) -> None:
    runner = CliRunner()
    path = mixed_file(tmp_path)
    db = tmp_path / "cli.db"
    result = runner.invoke(cli, ["ingest", str(path), "--store", "embedded", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "7 new, 0 unchanged, 2 rejected" in result.stdout
    assert "line 4: applicant.id_number" in result.output
    stopped = runner.invoke(cli, ["ingest", str(path), "--db", str(db), "--on-error", "stop"])
    assert stopped.exit_code == 1
    assert "stopped at the first bad line" in stopped.stdout and "0 new, 3 unchanged" in stopped.stdout
    stats = runner.invoke(cli, ["stats", "--db", str(db)])
    assert stats.exit_code == 0 and "Application" in stats.stdout and "7" in stats.stdout


def test_cli_reports_configuration_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIANWANG_ENV", "prod")
    monkeypatch.setenv("TIANWANG_SECRET", "tianwang-dev-secret-do-not-use-in-production-0000")
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 2
    assert "built-in dev secret" in result.output


def test_every_command_has_help() -> None:
    runner = CliRunner()
    commands = (
        [],
        ["ingest"],
        ["stats"],
        ["migrate"],
        ["backup"],
        ["restore"],
        ["audit", "verify"],
        ["demo"],
        ["fixtures", "generate"],
        ["score"],
        ["evaluate"],
        ["backtest"],
        ["rings", "detect"],
        ["similarity", "rebuild"],
    )
    for command in commands:
        result = runner.invoke(cli, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


@pytest.mark.slow
def test_the_demo_ingests_finds_rings_and_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIANWANG_SECRET", "tianwang-test-demo-secret-0123456789abcdef")
    report = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["demo", "--applications", "1500", "--db", str(tmp_path / "demo.db"),
                                      "--report", str(report), "--replay", "1000"])
    assert result.exit_code == 0, result.output
    assert re.search(r"replayed in time order \(earliest\)\s+1,000\n", result.output)
    assert re.search(r"trained on \(labelled, earliest\)\s+600\n", result.output)
    assert re.search(r"scored as if online\s+400\n", result.output)
    assert "re-ingest of 1,000 applications changed nothing" in result.output
    assert "rings; the 5 riskiest" in result.output
    assert "trained on the earliest 60 %" in result.output
    for figure in ("AUROC", "AUPRC", "decision approve", "decision review", "decision reject", "p50", "p99"):
        assert figure in result.output, figure
    assert "fraud_score" in result.output  # one explained decision
    assert "where the time went" in result.output
    assert report.stat().st_size > 10_000 and "report written to" in result.output
