"""``tianwang score`` refuses single applications and scores the others (issue 18 items 1, 2, 6, 8, 11)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from graph_schema.embedded import EmbeddedGraphStore
from tianwang import ndjson
from tianwang.application import parse_application
from tianwang.cli.scoring import register
from tianwang.errors import ApplicationValidationError
from tianwang.privacy import PersonalDataKeyer

from ..builders import application
from .helpers import config


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def ndjson_bytes(items: list[dict[str, Any] | bytes]) -> bytes:
    return b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in items)


def decided(out: Path) -> list[str]:
    return [orjson.loads(x)["application_id"] for x in out.read_bytes().splitlines()]


def test_a_conflicting_application_is_one_rejected_line(cli: typer.Typer, tmp_path: Path,
                                                         keyer: PersonalDataKeyer) -> None:
    db = tmp_path / "g.db"
    with EmbeddedGraphStore(db, keyer) as store:
        store.upsert_application(parse_application(application(2)))
    source = tmp_path / "in.ndjson"
    source.write_bytes(ndjson_bytes([application(1), application(2, dealer_id="D-ELSEWHERE"), application(3)]))
    out = tmp_path / "decisions.ndjson"
    result = CliRunner().invoke(cli, ["score", str(source), "--out", str(out), "--db", str(db)])
    assert result.exit_code == 1, result.output  # a rejected line, as for an invalid one
    output = " ".join(result.output.split())
    assert "line 2" in output and "already stored with different content" in output
    assert "scored 2 applications, 1 rejected lines" in output
    assert decided(out) == ["APP-000001", "APP-000003"]


def test_hostile_lines_are_rejected_and_the_others_scored(cli: typer.Typer, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ndjson, "MAX_LINE_BYTES", 8192)
    source = tmp_path / "in.ndjson"
    lines: list[dict[str, Any] | bytes] = [
        application(1),
        application(2, **{"applicant.address": "###"}),  # item 1
        {**application(3), "330106199407221229": 1, "[/bold]": 2, "\x1b[31m": 3, "\ndone: 5": 4},  # item 2
        json.dumps({**application(4), "padding": "x" * 20_000}).encode(),  # item 11
        application(5),
    ]
    source.write_bytes(ndjson.BOM + ndjson_bytes(lines))  # item 8: the first line still parses
    out = tmp_path / "decisions.ndjson"
    result = CliRunner().invoke(cli, ["score", str(source), "--out", str(out), "--db", str(tmp_path / "g.db")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert decided(out) == ["APP-000001", "APP-000005"]
    output = " ".join(result.output.split())
    assert "line 2" in output and "applicant.address" in output
    assert "line 3" in output and "(unknown field)" in output
    assert "line 4" in output and "longer than" in output
    assert "line 1" not in output
    assert "330106199407221229" not in result.output and "\x1b" not in result.output
    assert not any(line.startswith("done") for line in result.output.splitlines())
    assert "scored 2 applications, 3 rejected lines" in output


def test_the_pipeline_refuses_an_unkeyable_address_as_invalid(keyer: PersonalDataKeyer, tmp_path: Path,
                                                              pipelines) -> None:
    with EmbeddedGraphStore(tmp_path / "g.db", keyer) as store:
        pipeline = pipelines(store, config({"constant": {}}))
        with pytest.raises(ApplicationValidationError) as info:
            pipeline.score(application(1, **{"applicant.address": "，，"}))
        assert "applicant.address" in info.value.fields
        assert store.get_application("APP-000001") is None
