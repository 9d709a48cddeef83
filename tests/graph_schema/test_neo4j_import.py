"""The bulk importer's CSV files (issue 15 item 4), without Java: what online ingest would write, once per node,
first occurrence's properties, bad lines by line number and field, and no raw personal value in any file.
The import itself, into a Neo4j home compared with online ingest, is tests/tianwang/test_bulk_import.py."""

from __future__ import annotations

import csv
import threading
from collections import Counter
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from fixtures.generator import generate
from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.mapping import application_row
from graph_schema.migrations import META_LABEL
from graph_schema.neo4j_import import ImportCsvWriter, ImportFiles
from tests.builders import application, credit_code, mobile
from tianwang.application import parse_application
from tianwang.bulk_import import bulk_import_file
from tianwang.cli import app as cli
from tianwang.errors import IngestAbortedError, StoreError
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer

from ..web.test_no_raw_personal_data import leaks, raw_values


def read_nodes(files: ImportFiles) -> dict[str, list[dict[str, str]]]:
    """Each label's rows as dicts keyed by the header's column names (types stripped)."""
    nodes = {}
    for label, header, data in files.nodes:
        columns = [c.split(":")[0] or c for c in header.read_text(encoding="utf-8").strip().split(",")]
        with open(data, newline="", encoding="utf-8") as handle:
            nodes[label] = [dict(zip(columns, row, strict=False)) for row in csv.reader(handle)]
    return nodes


def read_relationships(files: ImportFiles) -> dict[str, list[list[str]]]:
    out = {}
    for rel_type, path in files.relationships:
        with open(path, newline="", encoding="utf-8") as handle:
            out[rel_type] = list(csv.reader(handle))[1:]
    return out


def rows_of(keyer: PersonalDataKeyer, *apps: dict) -> list:
    return [application_row(parse_application(orjson.dumps(a)), keyer) for a in apps]


def test_shared_nodes_are_written_once_with_their_first_properties(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    first = application(1, **{"applicant.employer": {"name": "北京星河科技有限公司", "credit_code": credit_code()}})
    # the same employer under another name, and the first applicant's phone as an emergency contact
    second = application(2, **{"applicant.employer": {"name": "星河科技", "credit_code": credit_code()},
                               "applicant.emergency_contacts": [{"name": "王一明", "phone": mobile(1)}]})
    writer = ImportCsvWriter(tmp_path / "csv", keyer)
    result = writer.write_rows(rows_of(keyer, first, second))
    assert result.created == 2
    files = writer.close()
    nodes = read_nodes(files)
    assert [e["name"] for e in nodes["Employer"]] == ["北京星河科技有限公司"]
    phone_hash = keyer.key("phone", mobile(1))
    phones = [p["phone_hash"] for p in nodes["Phone"]]
    assert len(phones) == len(set(phones)) and phone_hash in phones
    rels = read_relationships(files)
    assert ["APP-000002", phone_hash] in [r[:2] for r in rels["LISTS_CONTACT"]]
    assert ["APP-000001", phone_hash] in [r[:2] for r in rels["USES_PHONE"]]
    assert nodes[META_LABEL] == [{"key": "keyer_fingerprint", "value": keyer.fingerprint(), "claims": "1"}]
    application_header = dict(h.split(":", 1) if ":" in h else (h, "string") for h in
                              (files.nodes[0][1].read_text().strip().split(",")))
    assert application_header["application_id"] == "ID(Application)"
    assert application_header["submitted_at"] == "double" and application_header["term_months"] == "long"
    record = orjson.loads(nodes["Application"][0]["record"])
    assert record["applicant"]["phone_hash"] == phone_hash and "*" in record["applicant"]["phone"]


def test_an_application_again_is_unchanged_and_changed_a_conflict(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    writer = ImportCsvWriter(tmp_path / "csv", keyer)
    writer.write_rows(rows_of(keyer, application(1)))
    again = writer.write_rows(rows_of(keyer, application(1), application(1, channel="online")))
    assert (again.created, again.unchanged, again.conflicts) == (0, 1, ["APP-000001"])
    assert len(read_nodes(writer.close())["Application"]) == 1
    with pytest.raises(StoreError, match="not empty"):
        ImportCsvWriter(tmp_path / "csv", keyer)


def test_files_hold_what_online_ingest_writes_and_nothing_raw(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    generate(300, 11, tmp_path / "data")
    source = tmp_path / "data" / "applications.ndjson"
    lines = source.read_bytes().splitlines()
    bad = orjson.loads(lines[10])
    bad["applicant"]["id_number"] = "110105198806151230"  # a wrong check digit
    path = tmp_path / "with-bad-lines.ndjson"
    path.write_bytes(b"\n".join([*lines[:20], orjson.dumps(bad), *lines[20:], lines[5]]) + b"\n")

    writer = ImportCsvWriter(tmp_path / "csv", keyer)
    report = ingest_file(path, writer, batch_size=64, workers=0)
    files = writer.close()
    assert (report.created, report.unchanged) == (300, 1)
    assert [(e.line, e.reason.split(":")[0]) for e in report.errors] == [(21, "applicant.id_number")]

    online = EmbeddedGraphStore(tmp_path / "online.db", keyer)
    try:
        ingest_file(path, online, batch_size=64, workers=0)
        counts = online.counts()
        application_node = online.get_application("APP-00000042")
    finally:
        online.close()
    nodes = read_nodes(files)
    assert {label: len(rows) for label, rows in nodes.items() if label != META_LABEL} == counts.nodes
    assert {t: len(r) for t, r in read_relationships(files).items()} == counts.relationships
    for rows in nodes.values():  # one row per node
        assert max(Counter(next(iter(r.values())) for r in rows).values()) == 1
    stored = next(r for r in nodes["Application"] if r["application_id"] == "APP-00000042")
    assert application_node is not None and orjson.loads(stored["record"]) == application_node.record

    raw = raw_values(source)
    assert len(raw) > 600
    blob = b"".join(p.read_bytes() for p in files.directory.iterdir())
    assert leaks(blob, raw) == set()
    planted = next(iter(raw))
    assert leaks(blob + b"," + planted + b",", raw) == {planted}  # the scan would see one


def test_bulk_import_refuses_an_existing_database(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    folder = tmp_path / "home" / "data" / "databases" / "neo4j"
    folder.mkdir(parents=True)
    (folder / "neostore").write_bytes(b"")
    path = tmp_path / "one.ndjson"
    path.write_bytes(orjson.dumps(application(1)) + b"\n")
    with pytest.raises(IngestAbortedError, match="holds a database already"):
        bulk_import_file(path, tmp_path / "home", keyer)


def test_cli_bulk_import_takes_no_store(tmp_path: Path) -> None:
    path = tmp_path / "one.ndjson"
    path.write_bytes(orjson.dumps(application(1)) + b"\n")
    result = CliRunner().invoke(cli, ["ingest", str(path), "--neo4j-import", str(tmp_path / "home"),
                                      "--store", "embedded"])
    assert result.exit_code == 2 and "drop --store and --db" in result.output
    assert not (tmp_path / "home").exists()
    helped = CliRunner().invoke(cli, ["ingest", "--help"])
    assert "--neo4j-import" in helped.output and "--keep-csv" in helped.output


def test_a_line_break_in_a_value_asks_the_importer_for_multiline_fields(tmp_path: Path,
                                                                          keyer: PersonalDataKeyer) -> None:
    writer = ImportCsvWriter(tmp_path / "plain", keyer)
    writer.write_rows(rows_of(keyer, application(1)))
    assert "--multiline-fields=true" not in writer.close().arguments("neo4j")
    writer = ImportCsvWriter(tmp_path / "broken", keyer)
    writer.write_rows(rows_of(keyer, application(1, **{"applicant.employer": {"name": "北京\n星河"}})))
    files = writer.close()
    assert files.multiline and "--multiline-fields=true" in files.arguments("neo4j")
    assert [e["name"] for e in read_nodes(files)["Employer"]] == ["北京\n星河"]


def test_nothing_is_imported_after_sigterm(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    path = tmp_path / "two.ndjson"
    path.write_bytes(orjson.dumps(application(1)) + b"\n" + orjson.dumps(application(2)) + b"\n")
    stop = threading.Event()
    stop.set()
    report = bulk_import_file(path, tmp_path / "home", keyer, stop=stop, keep_csv=True)
    assert report.ingest.interrupted and not report.imported and report.csv_kept is None
    assert not (tmp_path / "home" / "import-csv").exists() and not (tmp_path / "home" / "data").exists()
