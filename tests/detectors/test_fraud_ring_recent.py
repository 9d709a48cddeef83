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
