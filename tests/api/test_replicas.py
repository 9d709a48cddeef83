"""Two service replicas on one graph decide as one process does (issue 15, item 1), on a real Kafka broker.

The same generated traffic is scored, one application at a time in time order, by one service
and by two services on one shared store and operational database, the requests alternating
between them as a round-robin balancer deals them. Each replica follows the other's applications
and verdicts from the event stream (:mod:`tianwang.service.replicas`); a request goes out once
the other replica has followed the previous one, which is the stated bound (the lag, seconds at
most). Without the feed the same replay differs (``fraud_ring``'s online graph of recent
applications is then split between the replicas): the comparison can fail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fixtures.generator import generate
from tianwang.service import Service, open_service
from tianwang.service.feedback import post_outcome, post_verdict
from tianwang.service.replicas import ReplicaFeed
from tianwang.service.scoring import score_application
from tianwang.settings import load_settings

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

N = 400


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("replica-traffic")
    generate(N, 23, folder)
    rows = [json.loads(line) for line in (folder / "applications.ndjson").read_text().splitlines() if line]
    return sorted(rows, key=lambda row: row["submitted_at"])


def _feed(service: Service) -> ReplicaFeed:
    feed = service.extras.get("replica_feed")
    assert isinstance(feed, ReplicaFeed)
    return feed


def _caught_up(feed: ReplicaFeed, published: int, timeout: float = 15.0) -> float:
    """Wait until ``feed`` has followed ``published`` applications of the other replica; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        state = feed.snapshot()
        if state["applications"] + state["unknown"] + state["failed"] >= published:
            assert state["failed"] == 0
            return time.monotonic() - started
        time.sleep(0.002)
    raise AssertionError(f"the other replica followed {feed.snapshot()} of {published} within {timeout} s")


@pytest.fixture
def replicas(tmp_path: Path, kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[list[Service]]:
    follow = getattr(request, "param", True)
    settings = load_settings(db_path=tmp_path / "replicas" / "graph.db", store="embedded",
                             kafka_bootstrap=kafka_bootstrap, kafka_follow=follow)
    (tmp_path / "replicas").mkdir()
    with ExitStack() as stack:
        services = [stack.enter_context(open_service(settings)) for _ in range(2)]
        if follow:
            for service in services:
                assert _feed(service).wait_assigned(30), "the replica feed got no partitions"
        yield services


def _single(tmp_path: Path) -> Service:
    (tmp_path / "single").mkdir()
    return open_service(load_settings(db_path=tmp_path / "single" / "graph.db", store="embedded"))


def _replay(services: list[Service], rows: list[dict[str, Any]], *, follow: bool) -> tuple[dict[str, Any], float]:
    decisions: dict[str, Any] = {}
    published = [0, 0]
    slowest = 0.0
    for k, row in enumerate(rows):
        which = k % len(services)
        decision, _ = score_application(services[which], row)
        decisions[row["application_id"]] = decision
        published[which] += 1
        if follow:
            other = services[1 - which]
            slowest = max(slowest, _caught_up(_feed(other), published[which]))
    return decisions, slowest


def _differences(one: dict[str, Any], other: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(app_id, (d["band"], d["fraud_score"]), (other[app_id]["band"], other[app_id]["fraud_score"]))
            for app_id, d in one.items()
            if (d["band"], d["fraud_score"]) != (other[app_id]["band"], other[app_id]["fraud_score"])]


def test_two_replicas_following_each_other_decide_as_one_process(
    tmp_path: Path, traffic: list[dict[str, Any]], replicas: list[Service]
) -> None:
    with _single(tmp_path) as single:
        expected, _ = _replay([single], traffic, follow=False)
        decided, slowest = _replay(replicas, traffic, follow=True)
        assert _differences(expected, decided) == []
        assert slowest < 5.0  # the bound: the other replica followed each application within seconds

        # A verdict posted to one replica reaches the other's detectors through the stream.
        fraud = next(row for row in traffic if expected[row["application_id"]]["band"] == "approve")
        before = _feed(replicas[1]).snapshot()["verdicts"]
        post_verdict(replicas[0], "tester", fraud=True, typology="identity_theft",
                     application_id=fraud["application_id"])
        post_verdict(single, "tester", fraud=True, typology="identity_theft", application_id=fraud["application_id"])
        deadline = time.monotonic() + 15
        while _feed(replicas[1]).snapshot()["verdicts"] <= before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _feed(replicas[1]).snapshot()["verdicts"] > before
        # the next application of the same person, scored on the other replica: as in one process
        again = {**fraud, "application_id": fraud["application_id"] + "-AGAIN",
                 "submitted_at": traffic[-1]["submitted_at"]}
        on_single, _ = score_application(single, again)
        on_replica, _ = score_application(replicas[1], again)
        assert (on_replica["band"], on_replica["fraud_score"]) == (on_single["band"], on_single["fraud_score"])

        # A fraud outcome on an unjudged application, posted to one replica, teaches the other as a verdict.
        defaulted = next(row for row in traffic if row["application_id"] != fraud["application_id"])
        before = _feed(replicas[1]).snapshot()["outcomes"]
        posted = post_outcome(replicas[0], "servicing", application_id=defaulted["application_id"],
                              kind="first_payment_default", observed_on=date(2026, 6, 1))
        assert posted["counts_as_fraud"]
        deadline = time.monotonic() + 15
        while _feed(replicas[1]).snapshot()["outcomes"] <= before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _feed(replicas[1]).snapshot()["outcomes"] == before + 1


@pytest.mark.parametrize("replicas", [False], indirect=True, ids=["no-feed"])
def test_without_the_feed_replicas_disagree(
    tmp_path: Path, traffic: list[dict[str, Any]], replicas: list[Service]
) -> None:
    """What the feed fixes: each replica's online graph of recent applications holds half the traffic."""
    assert all(service.extras.get("replica_feed") is None for service in replicas)
    with _single(tmp_path) as single:
        expected, _ = _replay([single], traffic, follow=False)
    decided, _ = _replay(replicas, traffic, follow=False)
    assert len(_differences(expected, decided)) > 0
