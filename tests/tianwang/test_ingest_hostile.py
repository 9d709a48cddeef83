"""Ingest under hostile input (issue 18): lines the mapping cannot key, unknown keys that are
personal data or terminal control, a byte-order mark, lines of unbounded length."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from graph_schema import mapping
from graph_schema.store import GraphStore
from tests.builders import application
from tianwang import ingest as ingest_module
from tianwang import ndjson
from tianwang.application import Application, parse_application
from tianwang.cli import app as cli
from tianwang.errors import ApplicationValidationError, IngestAbortedError
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer


@pytest.fixture(params=[0, 2], ids=["in-process", "2-workers"])
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(ingest_module, "_CHUNK_LINES", 3)
    return int(request.param)


def write_lines(path: Path, lines: list[str | dict[str, Any]]) -> Path:
    text = [line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


# -- item 1: a line the mapping cannot key costs that line only ---------------------------------


def test_a_line_the_mapping_fails_on_is_rejected_and_the_batch_written(
    store: GraphStore, tmp_path: Path, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = mapping.application_row

    def buggy(app: Application, keyer: PersonalDataKeyer) -> Any:
        if app.application_id == "APP-000005":
            raise RuntimeError(f"a bug that quotes {app.applicant.phone}")
        return real(app, keyer)

    monkeypatch.setattr(ingest_module, "application_row", buggy)  # forked workers inherit it
    path = write_lines(tmp_path / "apps.ndjson", [application(n) for n in range(1, 9)])
    report = ingest_file(path, store, batch_size=100, workers=workers)
    assert (report.lines, report.created) == (8, 7)
    assert [(e.line, e.application_id) for e in report.errors] == [(5, "APP-000005")]
    assert "cannot be mapped to the graph (RuntimeError)" in report.errors[0].reason
    assert application(5)["applicant"]["phone"] not in str(report.errors[0])
    assert store.get_application("APP-000008") is not None and store.get_application("APP-000005") is None


@pytest.mark.parametrize("address", ["###", "，，"])
def test_an_address_of_punctuation_only_is_rejected_naming_the_field(
    store: GraphStore, tmp_path: Path, workers: int, address: str
) -> None:
    lines = [application(n) for n in range(1, 7)]
    lines[2] = application(3, **{"applicant.address": address})
    report = ingest_file(write_lines(tmp_path / "apps.ndjson", lines), store, batch_size=100, workers=workers)
    assert report.created == 5 and [e.line for e in report.errors] == [3]
    assert "applicant.address" in report.errors[0].reason
    assert store.counts().nodes["Application"] == 5


def test_cli_skip_never_ends_in_a_traceback(tmp_path: Path) -> None:
    lines = [application(n) for n in range(1, 5)]
    lines[1] = application(2, **{"applicant.address": "###"})
    path = write_lines(tmp_path / "apps.ndjson", lines)
    result = CliRunner().invoke(cli, ["ingest", str(path), "--db", str(tmp_path / "g.db"), "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "3 new, 0 unchanged, 1 rejected" in result.stdout and "line 2: applicant.address" in result.output


def test_the_mapping_refuses_an_unkeyable_address_as_invalid(keyer: PersonalDataKeyer) -> None:
    # validation refuses such an address; an application built without validation is refused where it is keyed
    valid = parse_application(application(1))
    app = valid.model_copy(update={"applicant": valid.applicant.model_copy(update={"address": "###"})})
    with pytest.raises(ApplicationValidationError) as info:
        mapping.application_row(app, keyer)
    assert info.value.fields == ["applicant.address"]


# -- item 2: unknown keys are never echoed, nothing from input reaches rich unescaped -----------

HOSTILE_KEYS = ["330106199407221229", "[/bold]", "\x1b[31m", "\ndone: 5", "13900001234"]


def test_unknown_keys_are_named_by_schema_path_only() -> None:
    data = application(1)
    for key in HOSTILE_KEYS:
        data[key] = 1
    data["applicant"]["[red]x"] = 1
    with pytest.raises(ApplicationValidationError) as info:
        parse_application(json.dumps(data))
    assert sorted(info.value.fields) == ["(unknown field)"] * len(HOSTILE_KEYS) + ["applicant.(unknown field)"]
    message = str(info.value)
    for key in [*HOSTILE_KEYS, "[red]x"]:
        assert key not in message


def test_cli_rejections_print_no_personal_data_markup_or_control(tmp_path: Path) -> None:
    lines: list[str | dict[str, Any]] = [application(1)]
    for n, key in enumerate(HOSTILE_KEYS, start=2):
        lines.append({**application(n), key: 1})
    lines.append(application(20, application_id="[/bold]\x1b[31m"))
    path = write_lines(tmp_path / "apps.ndjson", lines)
    result = CliRunner().invoke(cli, ["ingest", str(path), "--db", str(tmp_path / "g.db")])
    assert result.exit_code == 0, result.output
    assert result.exception is None  # no MarkupError
    assert "1 new, 0 unchanged, 6 rejected" in result.stdout
    assert "330106199407221229" not in result.output and "13900001234" not in result.output
    assert "\x1b" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("done")] == [
        next(line for line in result.stdout.splitlines() if line.startswith("done"))
    ]
    assert result.output.count("(unknown field): Extra inputs are not permitted") == len(HOSTILE_KEYS)


# -- item 8: a byte-order mark ----------------------------------------------------------------


def test_a_byte_order_mark_is_accepted(store: GraphStore, tmp_path: Path, workers: int) -> None:
    path = tmp_path / "bom.ndjson"
    body = "\n".join(json.dumps(application(n), ensure_ascii=False) for n in range(1, 5)) + "\n"
    path.write_bytes(ndjson.BOM + body.encode())
    seen: list[int] = []
    report = ingest_file(path, store, workers=workers, progress=seen.append)
    assert (report.created, report.rejected) == (4, 0)
    assert sum(seen) == path.stat().st_size


# -- item 11: a line's length is bounded before parsing ---------------------------------------


def test_an_over_long_line_is_rejected_unread(
    store: GraphStore, tmp_path: Path, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ndjson, "MAX_LINE_BYTES", 4096)
    huge = json.dumps({**application(2), "padding": "x" * 20_000})
    path = write_lines(tmp_path / "long.ndjson", [application(1), huge, application(3)])
    seen: list[int] = []
    report = ingest_file(path, store, workers=workers, progress=seen.append)
    assert report.created == 2 and [e.line for e in report.errors] == [2]
    assert "longer than" in report.errors[0].reason
    assert sum(seen) == path.stat().st_size


def test_a_file_without_line_breaks_ends_in_a_clear_error(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like ``tianwang ingest /dev/zero``: bounded memory, then an error saying what was committed."""
    monkeypatch.setattr(ndjson, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(ndjson, "MAX_SKIP_BYTES", 64 * 1024)
    path = tmp_path / "zero.ndjson"
    path.write_bytes(json.dumps(application(1)).encode() + b"\n" + b"\0" * (256 * 1024))
    with pytest.raises(IngestAbortedError, match="line 2 goes on for more than") as info:
        ingest_file(path, store, workers=0)
    assert "1 new applications were committed" in str(info.value)
    assert store.get_application("APP-000001") is not None


def test_cli_ingest_of_dev_zero_ends_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    monkeypatch.setattr(ndjson, "MAX_SKIP_BYTES", 8 << 20)
    result = CliRunner().invoke(cli, ["ingest", "/dev/zero", "--db", str(tmp_path / "g.db")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # no traceback, no MemoryError
    assert "not an NDJSON file" in result.output and "0 new applications were committed" in result.output
