"""RingIndexSource: where the rings in use come from, and when they are renewed."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph_schema.embedded import EmbeddedGraphStore
from tests.rings.helpers import ring_applications
from tianwang.privacy import PersonalDataKeyer
from tianwang.rings.index import RingIndex, RingSummary
from tianwang.rings.job import detect_rings
from tianwang.rings.lifecycle import RingIndexSource


@pytest.fixture
def store(tmp_path: Path, keyer: PersonalDataKeyer) -> EmbeddedGraphStore:
    graph = EmbeddedGraphStore(tmp_path / "rings.db", keyer)
    graph.upsert_applications(ring_applications())
    yield graph
    graph.close()


def test_a_source_without_a_store_keeps_its_index_and_cannot_load() -> None:
    index = RingIndex([RingSummary("R-000001", 0.9, 3, ("a", "b", "c"))])
    source = RingIndexSource(index=index, refresh_every=1)
    assert source.prepare(0.0) is index
    assert source.observed(0.0) is False and source.index is index
    with pytest.raises(RuntimeError, match="bind"):
        source.load()


def test_it_loads_the_stored_rings_once_bound(store: EmbeddedGraphStore) -> None:
    detect_rings(store, labels={"APP-000001": True})
    source = RingIndexSource()
    source.bind(store)
    index = source.prepare(0.0)
    assert index is source.index and len(index) == len(store.rings()) >= 1


def test_a_reload_exports_the_graph_only_after_new_rings_were_stored(store: EmbeddedGraphStore,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``reload_seconds`` the service reloads the stored rings; while the batch job has stored no new
    ones the index in use stays and the graph is not exported again (close to a minute at a million)."""
    exports: list[object] = []
    export_edges = store.export_edges
    monkeypatch.setattr(store, "export_edges", lambda **kw: exports.append(kw) or export_edges(**kw))
    detect_rings(store, labels={"APP-000001": True}, detected_at=1000.0)
    exports.clear()  # the detection's own export
    source = RingIndexSource(store)
    first = source.load()
    assert first.detected_at == 1000.0 and len(exports) == 1
    assert source.load() is first and len(exports) == 1
    detect_rings(store, labels={"APP-000001": True}, detected_at=2000.0)
    exports.pop()
    renewed = source.load()
    assert renewed is not first and renewed.detected_at == 2000.0 and len(exports) == 2
    assert len(renewed) == len(store.rings()) >= 1


def test_before_its_first_refresh_a_refreshing_source_uses_the_stored_rings(store: EmbeddedGraphStore) -> None:
    """A service on the shipped configuration (``refresh_every``) starts with the rings a batch job stored."""
    empty = RingIndexSource(store, refresh_every=2000)
    empty.maybe_reload()
    empty.wait()
    assert empty.index is None  # nothing stored: nothing to use until the first refresh
    detect_rings(store, labels={"APP-000001": True})
    source = RingIndexSource(store, refresh_every=2000)
    source.maybe_reload()
    source.wait()
    assert source.index is not None and len(source.index) == len(store.rings()) >= 1
    loaded = source.index
    source.maybe_reload()
    source.wait()
    assert source.index is loaded  # once: refreshes renew it from then on


def test_it_detects_rings_every_refresh_every_applications_with_the_labels_given(store: EmbeddedGraphStore) -> None:
    source = RingIndexSource(store, refresh_every=2)
    moment = max(a.submitted_ts for a in ring_applications())
    first = source.prepare(moment, {"APP-000001": True})
    assert store.rings() == []  # detected for scoring, not written back
    (ring,) = [r for r in first.summaries() if "APP-000001" in r.confirmed]
    assert source.observed(moment) is False and source.index is first
    assert source.observed(moment, {"APP-000001": True, "APP-000003": True}) is True
    renewed = source.index
    assert renewed is not first and renewed.ring(ring.ring_id).confirmed == ("APP-000001", "APP-000003")


def test_a_refresh_in_the_background_never_holds_up_the_caller(store: EmbeddedGraphStore,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    import tianwang.rings.lifecycle as lifecycle

    release = threading.Event()
    started = threading.Event()
    detect = lifecycle.detect_rings_in_export

    def slow_detection(export, **kwargs):  # type: ignore[no-untyped-def]
        started.set()
        assert release.wait(10)  # a long run on a large graph
        return detect(export, **kwargs)

    source = RingIndexSource(store, refresh_every=2, refresh_in_background=True)
    moment = max(a.submitted_ts for a in ring_applications())
    first = source.prepare(moment)  # at fit: detected before scoring starts
    monkeypatch.setattr(lifecycle, "detect_rings_in_export", slow_detection)
    assert source.observed(moment) is False
    began = time.perf_counter()
    assert source.observed(moment) is False  # the run starts in a thread
    assert time.perf_counter() - began < 0.5 and source.index is first
    assert started.wait(5)
    assert source.index is first  # still the rings in use while the run goes on
    release.set()
    source.wait()
    assert source.index is not first and len(source.index) >= 1
