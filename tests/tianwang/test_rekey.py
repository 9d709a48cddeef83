"""tianwang rekey: an embedded deployment moved to a new secret from the vault and the original applications,
into a new folder, equal to a store built fresh under the new secret; refused with counts, nothing written,
when some applications or watchlist entries cannot be rekeyed."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import orjson
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.rekey import KEYED_LABELS
from graph_schema.schema import NODE_TYPES, Label
from graph_schema.values import RingRecord
from tests import builders
from tests.conftest import TEST_SECRET
from tianwang.application import parse_application
from tianwang.cli import app as cli
from tianwang.errors import ConfigurationError
from tianwang.opsdb.models import VaultEntry
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring.persistence import SqliteWatchlist
from tianwang.service import open_service
from tianwang.service.scoring import score_application
from tianwang.settings import load_settings

NEW_SECRET = "a-new-personal-data-secret-for-the-rekey-test-42"
SCORED = range(1, 13)
INGESTED = range(13, 16)  # written by an ingest, not the service: no vault entries


def _applications() -> dict[int, dict]:
    apps = {n: builders.application(n) for n in [*SCORED, *INGESTED]}
    apps[4]["vehicle"]["user_id_number"] = builders.resident_id(sequence=404)
    apps[5]["applicant"]["emergency_contacts"].append({"name": "张三", "phone": apps[6]["applicant"]["phone"]})
    apps[7]["applicant"]["phone"] = apps[8]["applicant"]["phone"]  # two applicants sharing a phone
    apps[14]["applicant"]["bank_account"] = apps[2]["applicant"]["bank_account"]
    return apps


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[int, dict], Path]:
    """An embedded deployment: 12 applications scored (vault entries), 3 ingested (none), a ring, a watchlist;
    and the NDJSON of the ingested ones."""
    db = tmp_path / "live" / "graph.db"
    monkeypatch.setenv("TIANWANG_DB_PATH", str(db))
    apps = _applications()
    with open_service(load_settings(store="embedded")) as service:
        for n in SCORED:
            score_application(service, apps[n])
        service.runtime.store.upsert_applications(parse_application(apps[n]) for n in INGESTED)
        keyer = service.runtime.store.keyer
        members = tuple(sorted(keyer.id_number(apps[n]["applicant"]["id_number"]) for n in (7, 8, 13)))
        service.runtime.store.write_rings([RingRecord("R-1", members, {"risk": 0.8, "size": 3})], detected_at=1.0)
        service.runtime.records.watchlist.add("phone", apps[3]["applicant"]["phone"], reason="confirmed fraud")
        service.runtime.records.watchlist.add("device", "dev-9", reason="emulator")
        service.runtime.records.documents.add("ab" * 32, keyer.id_number(apps[1]["applicant"]["id_number"]), 1.0)
    source = tmp_path / "ingested.ndjson"
    source.write_bytes(b"".join(orjson.dumps(apps[n]) + b"\n" for n in INGESTED) + b"not json\n")
    return db, apps, source


def _rekey(monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.setenv("TIANWANG_NEW_SECRET", NEW_SECRET)
    return CliRunner().invoke(cli, ["rekey", *args])


def test_rekey_gives_the_store_a_fresh_ingest_under_the_new_secret_gives(deployment, tmp_path, monkeypatch):
    db, apps, source = deployment
    before = {p.name: _sha256(p) for p in (db, db.with_name("scoring.db"))}
    target = tmp_path / "rekeyed"
    result = _rekey(monkeypatch, "--to", str(target), "--source", str(source), "--batch-size", "4")
    assert result.exit_code == 0, result.output
    assert re.search(r"rekeyed 15 applications \(12 from the vault, 3 from --source\)", result.stdout)
    assert {p.name: _sha256(p) for p in (db, db.with_name("scoring.db"))} == before  # the old store only read
    assert sorted(p.name for p in target.iterdir()) == ["graph.db", "scoring.db"]

    new, old = PersonalDataKeyer(NEW_SECRET.encode()), PersonalDataKeyer(TEST_SECRET)
    fresh = EmbeddedGraphStore(tmp_path / "fresh" / "graph.db", new)
    fresh.upsert_applications(parse_application(a) for a in apps.values())
    rekeyed = EmbeddedGraphStore(target / "graph.db", new)
    with EmbeddedGraphStore(db, old) as original:
        assert rekeyed.counts() == original.counts()
    keyed = tuple(NODE_TYPES[label].code for label in (*KEYED_LABELS, Label.APPLICATION, Label.EMPLOYER))
    nodes = "SELECT label, key, props FROM nodes WHERE label IN ({}) ORDER BY label, key".format(
        ",".join(map(str, keyed)))
    assert rekeyed._query(nodes) == fresh._query(nodes)
    for application_id in (a["application_id"] for a in apps.values()):
        got, want = rekeyed.get_application(application_id), fresh.get_application(application_id)
        assert got is not None and want is not None
        assert (got.content_hash, got.record) == (want.content_hash, want.record)
    ring = rekeyed.rings()[0]
    assert ring.members == tuple(sorted(new.id_number(apps[n]["applicant"]["id_number"]) for n in (7, 8, 13)))
    assert ring.properties["risk"] == 0.8
    rekeyed.close()
    fresh.close()
    with pytest.raises(ConfigurationError, match="another TIANWANG_SECRET"):
        EmbeddedGraphStore(target / "graph.db", old)

    records = SqliteWatchlist(target / "scoring.db", new)
    assert records.lookup("phone", [new.phone(apps[3]["applicant"]["phone"])]) == {
        new.phone(apps[3]["applicant"]["phone"]): "confirmed fraud"}
    assert records.lookup("device", ["dev-9"]) == {"dev-9": "emulator"}
    records.close()
    # no key of the old secret is left in any file of the new folder
    with EmbeddedGraphStore(db, old) as original:
        old_keys = [k for (k,) in original._query("SELECT key FROM nodes WHERE label IN ({})".format(
            ",".join(str(NODE_TYPES[label].code) for label in KEYED_LABELS)))]
        old_hashes = [h for (h,) in original._query("SELECT content_hash FROM applications")]
    assert len(old_keys) > 40
    blob = b"".join(p.read_bytes() for p in target.iterdir())
    assert [k for k in [*old_keys, *old_hashes] if k.encode() in blob] == []
    # the service opens the swapped folder under the new secret
    monkeypatch.setenv("TIANWANG_SECRET", NEW_SECRET)
    with open_service(load_settings(db_path=target / "graph.db", store="embedded"),
                      ops_url=f"sqlite:///{db.with_name('operations.db')}") as service:
        _again, created = score_application(service, apps[1])
        assert created is False
        assert score_application(service, builders.application(40))[1] is True


def test_rekey_is_refused_with_counts_and_writes_nothing(deployment, tmp_path, monkeypatch):
    _db, apps, source = deployment
    target = tmp_path / "rekeyed"
    without = _rekey(monkeypatch, "--to", str(target))
    assert without.exit_code == 2
    assert "3 of 15 applications cannot be rekeyed: no complete vault entries and not in --source (first: " \
           "APP-000013, APP-000014, APP-000015)" in " ".join(without.stderr.split())
    assert list(target.iterdir()) == []

    # a vault entry sealing another value than the store was keyed from is found out
    with open_service(load_settings(store="embedded")) as service:
        assert service.vault is not None
        sealed = service.vault.seal("APP-000002", "applicant.phone", "13900009999")
        with service.ops.session() as session:
            session.execute(update(VaultEntry).where(VaultEntry.application_id == "APP-000002",
                                                     VaultEntry.field == "applicant.phone")
                            .values(nonce=sealed.nonce, ciphertext=sealed.ciphertext))
    wrong = _rekey(monkeypatch, "--to", str(target), "--source", str(source))
    assert wrong.exit_code == 2
    assert "1 applications' raw values do not give the stored record under the current secret (first: APP-000002)" \
        in " ".join(wrong.stderr.split())
    assert list(target.iterdir()) == []
    with open_service(load_settings(store="embedded")) as service:  # put back
        assert service.vault is not None
        sealed = service.vault.seal("APP-000002", "applicant.phone", apps[2]["applicant"]["phone"])
        with service.ops.session() as session:
            session.execute(update(VaultEntry).where(VaultEntry.application_id == "APP-000002",
                                                     VaultEntry.field == "applicant.phone")
                            .values(nonce=sealed.nonce, ciphertext=sealed.ciphertext))
        service.runtime.records.watchlist.add("id", builders.resident_id(sequence=999), reason="tip-off")
    unmapped = _rekey(monkeypatch, "--to", str(target), "--source", str(source))
    assert unmapped.exit_code == 2 and "1 watchlist entries name a value no application holds" in \
        " ".join(unmapped.stderr.split())
    assert list(target.iterdir()) == []
    dropped = _rekey(monkeypatch, "--to", str(target), "--source", str(source), "--drop-unmapped-watchlist")
    assert dropped.exit_code == 0, dropped.output
    assert "watchlist 2 entries (1 left out)" in dropped.stdout
    again = _rekey(monkeypatch, "--to", str(target), "--source", str(source))
    assert again.exit_code == 2 and "exists" in again.stderr
    monkeypatch.setenv("TIANWANG_NEW_SECRET", "short")
    assert CliRunner().invoke(cli, ["rekey", "--to", str(tmp_path / "other")]).exit_code == 2


def test_rekey_is_refused_while_applications_wait_in_the_graph_outbox(deployment, tmp_path, monkeypatch):
    from graph_schema.mapping import application_row
    from tianwang.privacy import PersonalDataKeyer
    from tianwang.scoring.outbox import GraphOutbox, outbox_path
    from tianwang.scoring.persistence import scoring_db_path

    db, _apps, source = deployment
    keyer = PersonalDataKeyer(load_settings(store="embedded").secret_bytes)
    box = GraphOutbox(outbox_path(scoring_db_path(db)))
    box.put(application_row(parse_application(builders.application(40)), keyer), "down")
    box.close()
    target = tmp_path / "rekeyed"
    refused = _rekey(monkeypatch, "--to", str(target), "--source", str(source))
    assert refused.exit_code == 2 and "wait in the graph outbox" in " ".join(refused.stderr.split())
    assert not target.exists() or list(target.iterdir()) == []
