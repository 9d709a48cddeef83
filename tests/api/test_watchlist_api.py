"""/v1/watchlist: add, list (masked hints only), remove; an entry counts in the next score; roles; audit."""

from __future__ import annotations

import sqlite3
import threading
import time

import orjson
from sqlalchemy import select

from tests import builders
from tianwang.opsdb.models import AuditEntry
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring.persistence import SqliteWatchlist


def _score(client, app, headers):
    r = client.post("/v1/applications/score", content=orjson.dumps(app), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _watchlist_vote(decision):
    (vote,) = [v for v in decision["votes"] if v["detector"] == "watchlist"]
    return vote


def test_an_entry_added_counts_in_the_next_score_and_stops_counting_once_removed(client, headers):
    investigator = headers["investigator"]
    phone = builders.mobile(7)
    before = _score(client, builders.application(7), headers["scorer"])
    assert not [r for r in before["reasons"] if r["detector"] == "watchlist"]

    r = client.post("/v1/watchlist", json={"kind": "phone", "value": phone, "reason": "ring member"},
                    headers=investigator)
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["kind"] == "phone" and entry["hint"] == phone[:3] + "****" + phone[-4:]
    assert phone not in r.text

    # another application with the listed phone (as its emergency contact): the watchlist votes with a reason
    app = builders.application(8)
    app["applicant"]["emergency_contacts"][0]["phone"] = phone
    after = _score(client, app, headers["scorer"])
    reasons = [x for x in after["reasons"] if x["detector"] == "watchlist"]
    assert reasons, after["reasons"]
    assert phone not in orjson.dumps(after).decode()
    assert _watchlist_vote(after)["vote"]["score"] > _watchlist_vote(before)["vote"]["score"]

    r = client.delete(f"/v1/watchlist/{entry['entry_id']}", headers=investigator)
    assert r.status_code == 200 and r.json()["entry_id"] == entry["entry_id"]
    assert client.delete(f"/v1/watchlist/{entry['entry_id']}", headers=investigator).status_code == 404
    app = builders.application(9)
    app["applicant"]["emergency_contacts"][0]["phone"] = phone
    again = _score(client, app, headers["scorer"])
    assert not [x for x in again["reasons"] if x["detector"] == "watchlist"]


def test_the_list_pages_newest_first_with_masked_hints_only(client, headers):
    investigator = headers["investigator"]
    values = [("phone", builders.mobile(n)) for n in range(1, 4)] + [
        ("id_number", builders.resident_id(sequence=5)), ("bank_account", builders.account(6)),
        ("device", "dev-secret-77")]
    ids = []
    for kind, value in values:
        r = client.post("/v1/watchlist", json={"kind": kind, "value": value}, headers=investigator)
        assert r.status_code == 201, r.text
        ids.append(r.json()["entry_id"])
        time.sleep(0.002)
    # listing a value again updates the entry, it does not add one
    r = client.post("/v1/watchlist", json={"kind": "phone", "value": builders.mobile(1), "reason": "again"},
                    headers=investigator)
    assert r.status_code == 200 and r.json()["entry_id"] == ids[0] and r.json()["reason"] == "again"

    seen, cursor, bodies = [], None, []
    while True:
        r = client.get("/v1/watchlist", params={"limit": 4, **({"cursor": cursor} if cursor else {})},
                       headers=investigator)
        assert r.status_code == 200, r.text
        bodies.append(r.text)
        page = r.json()
        seen += [e["entry_id"] for e in page["data"]]
        if not page["pagination"]["has_more"]:
            break
        cursor = page["pagination"]["next"]
    assert seen == ids[::-1]
    for _, value in values:
        assert all(value not in body for body in bodies)
    hints = {e["kind"]: e["hint"] for e in client.get("/v1/watchlist", headers=investigator).json()["data"]}
    assert hints["id_number"].count("*") >= 8 and hints["bank_account"].endswith(builders.account(6)[-4:])


def test_bad_values_are_refused_without_echoing_them(client, headers):
    r = client.post("/v1/watchlist", json={"kind": "phone", "value": "12345"}, headers=headers["investigator"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "value" and "12345" not in r.text
    r = client.post("/v1/watchlist", json={"kind": "id_number", "value": "110105198806151239"},
                    headers=headers["investigator"])
    assert r.status_code == 422 and "110105198806151239" not in r.text
    r = client.post("/v1/watchlist", json={"kind": "phone", "value": builders.mobile(1),
                                           "expires_at": "2020-01-01T00:00:00+08:00"}, headers=headers["investigator"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "expires_at"


def test_only_investigators_and_admins_use_the_watchlist(client, headers):
    body = {"kind": "phone", "value": builders.mobile(1)}
    for role in ("scorer", "analyst", "approver"):
        assert client.post("/v1/watchlist", json=body, headers=headers[role]).status_code == 403
        assert client.get("/v1/watchlist", headers=headers[role]).status_code == 403
        assert client.delete("/v1/watchlist/wl_x", headers=headers[role]).status_code == 403
    assert client.get("/v1/watchlist").status_code == 401
    assert client.post("/v1/watchlist", json=body, headers=headers["admin"]).status_code == 201


def test_every_change_and_read_is_audited_without_the_value(client, headers, service):
    investigator = headers["investigator"]
    value = builders.mobile(42)
    entry = client.post("/v1/watchlist", json={"kind": "phone", "value": value}, headers=investigator).json()
    client.get("/v1/watchlist", headers=investigator)
    client.delete(f"/v1/watchlist/{entry['entry_id']}", headers=investigator)
    with service.ops.session() as session:
        lines = list(session.scalars(select(AuditEntry).where(AuditEntry.target_type == "watchlist_entry")))
    assert [a.action for a in lines] == ["watchlist.add", "watchlist.list", "watchlist.remove"]
    assert all(entry["entry_id"] in a.target_ids for a in lines)
    assert value not in repr([(a.detail, a.target_ids) for a in lines])


def test_a_watchlist_file_from_before_entries_had_ids_is_upgraded(tmp_path):
    path = tmp_path / "scoring.db"
    keyer = PersonalDataKeyer(b"k" * 32)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE watchlist (kind TEXT NOT NULL, key TEXT NOT NULL, reason TEXT,"
                     " added_at REAL NOT NULL, PRIMARY KEY (kind, key))")
        conn.execute("INSERT INTO watchlist VALUES ('phone', ?, 'old', 1.0)", (keyer.phone(builders.mobile(1)),))
    store = SqliteWatchlist(path, keyer)
    try:
        (old,) = store.entries()
        assert old.entry_id.startswith("wl_") and old.reason == "old"
        assert store.lookup("phone", [keyer.phone(builders.mobile(1))]) == {keyer.phone(builders.mobile(1)): "old"}
        store.add_entry("phone", builders.mobile(2), expires_at=time.time() - 1)
        assert store.lookup("phone", [keyer.phone(builders.mobile(2))]) == {}  # expired: no longer counts
        assert store.remove_entry(old.entry_id) == old and store.entries()[0].hint == "139****0002"
    finally:
        store.close()


def test_two_processes_upgrading_one_old_watchlist_file_at_once_both_start(tmp_path):
    # `serve --workers 2` on a file from before entries had ids: the second worker to upgrade it must wait for
    # the first and find the columns added, not fail its start on "duplicate column name"
    path = tmp_path / "scoring.db"
    keyer = PersonalDataKeyer(b"k" * 32)
    first = sqlite3.connect(path, isolation_level=None)
    first.execute("PRAGMA journal_mode=WAL")
    first.execute("CREATE TABLE watchlist (kind TEXT NOT NULL, key TEXT NOT NULL, reason TEXT,"
                  " added_at REAL NOT NULL, PRIMARY KEY (kind, key))")
    first.execute("BEGIN IMMEDIATE")  # the first worker, in the middle of its upgrade
    first.execute("ALTER TABLE watchlist ADD COLUMN entry_id TEXT")
    opened: list[object] = []
    second = threading.Thread(target=lambda: opened.append(_open_or_error(path, keyer)))
    second.start()
    time.sleep(0.3)  # the second worker has read the old columns by now, unless it waits for the first
    first.execute("COMMIT")
    first.close()
    second.join(15)
    (store,) = opened
    assert isinstance(store, SqliteWatchlist), store
    try:
        assert store.add_entry("phone", builders.mobile(3))[1]
    finally:
        store.close()


def _open_or_error(path, keyer) -> object:
    try:
        return SqliteWatchlist(path, keyer)
    except Exception as exc:
        return exc
