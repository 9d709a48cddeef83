from __future__ import annotations

import pytest

from detectors import WatchlistDetector
from detectors.context import build_context
from tianwang.application import parse_application
from tianwang.scoring.persistence import InMemoryWatchlist, SqliteWatchlist

from ..builders import application, mobile, resident_id


@pytest.fixture(params=["memory", "sqlite"])
def watchlist(request: pytest.FixtureRequest, keyer, tmp_path):
    if request.param == "memory":
        return InMemoryWatchlist(keyer)
    return SqliteWatchlist(tmp_path / "scoring.db", keyer)


def _vote(keyer, watchlist, **overrides: object):
    app = parse_application(application(1, **overrides))
    return WatchlistDetector().score(build_context(app, keyer, watchlist=watchlist))


def test_no_hit_no_news(keyer, watchlist) -> None:
    vote = _vote(keyer, watchlist)
    assert vote.codes == [] and not vote.hard and vote.score == vote.baseline


def test_a_listed_identity_decides_alone(keyer, watchlist) -> None:
    watchlist.add("id", resident_id(sequence=1), reason="confirmed fraud 2025-11")
    vote = _vote(keyer, watchlist)
    assert vote.hard and vote.codes == ["WATCHLIST_ID"]
    assert "110***********" in vote.reasons[0].text and resident_id(sequence=1) not in repr(vote)
    assert "confirmed fraud 2025-11" in vote.reasons[0].text


def test_phones_devices_accounts_and_employers_weigh(keyer, watchlist) -> None:
    watchlist.add("phone", mobile(900001))  # the emergency contact of application 1
    watchlist.add("device", "dev-1")
    vote = _vote(keyer, watchlist)
    assert set(vote.codes) == {"WATCHLIST_PHONE", "WATCHLIST_DEVICE"}
    assert not vote.hard and vote.score > 0.5
    assert watchlist.remove("device", "dev-1")
    assert not watchlist.remove("device", "dev-1")
    assert _vote(keyer, watchlist).codes == ["WATCHLIST_PHONE"]
    watchlist.add("employer", "北京星河科技有限公司")
    watchlist.add("account", "622202" + "1".zfill(13))
    codes = _vote(keyer, watchlist, **{"applicant.employer": {"name": "北京星河科技有限公司"}}).codes
    assert {"WATCHLIST_EMPLOYER", "WATCHLIST_ACCOUNT"} <= set(codes)


def test_weigh_mode_never_decides(keyer, watchlist) -> None:
    watchlist.add("id", resident_id(sequence=1))
    app = parse_application(application(1))
    vote = WatchlistDetector({"on_hit": "weigh"}).score(build_context(app, keyer, watchlist=watchlist))
    assert not vote.hard and vote.codes == ["WATCHLIST_ID"]


def test_the_sqlite_list_holds_keys_not_values(keyer, tmp_path) -> None:
    path = tmp_path / "scoring.db"
    listed = SqliteWatchlist(path, keyer)
    listed.add("phone", mobile(4242))
    listed.add("id", resident_id(sequence=42))
    listed.close()
    raw = path.read_bytes() + (path.with_name("scoring.db-wal").read_bytes()
                               if path.with_name("scoring.db-wal").exists() else b"")
    assert mobile(4242).encode() not in raw and resident_id(sequence=42).encode() not in raw
    assert keyer.phone(mobile(4242)).encode() in raw


def test_one_read_answers_every_kind(keyer, watchlist) -> None:
    watchlist.add("phone", mobile(7), reason="mule")
    watchlist.add("device", "dev-7")
    watchlist.add_entry("id", resident_id(sequence=7), expires_at=1.0)  # expired: it no longer counts
    phone, listed_id = keyer.phone(mobile(7)), keyer.id_number(resident_id(sequence=7))
    wanted = [("phone", phone), ("device", "dev-7"), ("device", phone), ("id", listed_id), ("phone", "other")]
    assert watchlist.lookup_many(wanted) == {("phone", phone): "mule", ("device", "dev-7"): None}
    assert watchlist.lookup_many([]) == {}
    if isinstance(watchlist, SqliteWatchlist):  # the detector reads the list once, whatever the kinds
        statements: list[str] = []
        watchlist._conn.set_trace_callback(statements.append)
        _vote(keyer, watchlist)
        assert len([s for s in statements if "FROM watchlist" in s]) == 1
