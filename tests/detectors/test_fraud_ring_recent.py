"""RecentGraph's confirmed labels: the whole copy, or only those of some applications."""

from __future__ import annotations

from detectors.fraud_ring.recent import RecentGraph


def test_confirmed_labels_among_some_applications_reads_only_those() -> None:
    graph = RecentGraph()
    graph.labels = {"app_1": True, "app_2": True, "app_3": True}
    assert graph.confirmed_labels() == {"app_1": True, "app_2": True, "app_3": True}
    assert graph.confirmed_labels(["app_2", "app_9"]) == {"app_2": True}
    assert graph.confirmed_labels([]) == {}
    copy = graph.confirmed_labels(["app_1"])
    copy["app_1"] = False
    assert graph.labels["app_1"] is True  # a copy, not the detector's own


def test_an_application_observed_twice_counts_once() -> None:
    """Kafka delivers at least once, and a replica starting reads the last minute of events again: an
    application followed twice (or followed after this process scored it) must not count as two."""
    from types import SimpleNamespace

    graph = RecentGraph()
    context = SimpleNamespace(application_id="APP-1", as_of=1_000.0, keys=SimpleNamespace(id_hash="p1"),
                              application=SimpleNamespace(dealer_id="DLR-1"))
    graph.observe(context, [], None)  # type: ignore[arg-type]
    graph.observe(context, [], None)  # type: ignore[arg-type]
    assert graph._seen["p1"].times == [1_000.0] and graph._seen["p1"].dealers == ["DLR-1"]
    later = SimpleNamespace(application_id="APP-2", as_of=2_000.0, keys=SimpleNamespace(id_hash="p1"),
                            application=SimpleNamespace(dealer_id="DLR-2"))
    graph.observe(later, [], None)  # type: ignore[arg-type]
    assert graph._seen["p1"].times == [1_000.0, 2_000.0]  # another application of the same person counts
