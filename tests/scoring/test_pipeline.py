from __future__ import annotations

import threading

import orjson
import pytest

from graph_schema.embedded import EmbeddedGraphStore
from tianwang.errors import ApplicationConflictError, ApplicationValidationError
from tianwang.scoring import (
    DEFAULT_CONFIG_PATH,
    DecisionNotFoundError,
    InMemoryDecisionLog,
    InMemoryDocumentIndex,
    InMemoryWatchlist,
    ScoringRecords,
    load_config,
)

from ..builders import application, mobile, resident_id
from .helpers import InlineSleepyDetector, SleepyDetector, config, registry, timed


@pytest.fixture
def store(keyer, tmp_path):
    graph = EmbeddedGraphStore(tmp_path / "graph.db", keyer)
    yield graph
    graph.close()


def test_one_application_in_one_explained_decision_out(store, keyer, tmp_path, pipelines) -> None:
    records = ScoringRecords.open(tmp_path / "scoring.db", keyer)
    log = records.decisions
    pipeline = pipelines(store, load_config(DEFAULT_CONFIG_PATH, registry()), records)
    risky = application(1, **{"applicant.phone": mobile(777), "applicant.liveness_passed": False,
                              "credit.monthly_debt_payments": 9000})
    decision = pipeline.score(risky)
    assert 0 <= decision.fraud_score <= 1000
    assert decision.band in ("review", "reject")
    assert {o.detector for o in decision.outcomes} == {"identity_theft", "forged_documents", "multi_lending",
                                                       "rules", "watchlist", "synthetic_identity", "fraud_ring",
                                                       "known_fraud_similarity", "gnn_ring", "graph_evidence"}
    assert all(o.status == "ok" for o in decision.outcomes if o.detector not in ("gnn_ring", "graph_evidence"))
    for untrained in ("gnn_ring", "graph_evidence"):
        outcome = next(o for o in decision.outcomes if o.detector == untrained)
        assert outcome.status == "skipped" and "not trained" in (outcome.why or "")
    assert {d for d, _ in decision.reasons} >= {"identity_theft", "multi_lending"}
    assert set(decision.timings_ms) >= {"validate", "upsert", "context", "fast", "deep", "vote", "record", "total"}
    record = log.get("APP-000001")
    assert record["fraud_score"] == decision.fraud_score and record["strategy"] == "baseline"
    assert record["store"]["kind"] == "embedded" and record["config_version"] == decision.config_version
    text = orjson.dumps(record).decode()
    for raw in (mobile(777), mobile(1), resident_id(sequence=1), "王1明"):
        assert raw not in text
    with pytest.raises(DecisionNotFoundError):
        log.get("APP-999999")
    pipeline.close()


def test_a_clean_application_is_approved_with_the_prior(store, pipelines) -> None:
    pipeline = pipelines(store, config({"multi_lending": {}, "identity_theft": {}}))
    decision = pipeline.score(application(1))
    assert decision.band == "approve" and decision.fraud_score == 50
    assert decision.reasons == []


def test_a_detector_past_its_budget_is_left_out_and_does_not_delay_the_answer(store, pipelines) -> None:
    SleepyDetector.release.clear()
    pipeline = pipelines(store, config({"sleepy": {"budget_ms": 50, "settings": {"seconds": 2}},
                                              "multi_lending": {}}))
    try:
        decision, seconds = timed(pipeline.score, application(1))
        assert seconds < 0.5
        sleepy = next(o for o in decision.outcomes if o.detector == "sleepy")
        assert sleepy.status == "timeout" and "50 ms" in (sleepy.why or "")
        assert decision.left_out == [{"detector": "sleepy", "status": "timeout",
                                      "why": "no vote within its budget of 50 ms"}]
        assert decision.band == "approve"  # the sleepy detector's 0.99 did not vote
        # it keeps answering; after too many late calls the detector is skipped outright
        for n in range(2, 7):
            pipeline.score(application(n))
        last = pipeline.score(application(7))
        assert next(o for o in last.outcomes if o.detector == "sleepy").status == "skipped"
    finally:
        SleepyDetector.release.set()
        pipeline.close()


def test_an_inline_detector_runs_in_the_scoring_thread_and_keeps_its_budget(store, pipelines) -> None:
    InlineSleepyDetector.threads.clear()
    SleepyDetector.release.set()  # no sleep: votes at once, in the caller's thread
    pipeline = pipelines(store, config({"inline_sleepy": {"budget_ms": 200, "settings": {"seconds": 2}},
                                              "inline_boom": {}, "multi_lending": {}}))
    try:
        decision = pipeline.score(application(1))
        assert InlineSleepyDetector.threads == [threading.current_thread().name]
        status = {o.detector: (o.status, o.why) for o in decision.outcomes}
        assert status["inline_sleepy"] == ("ok", None) and status["multi_lending"] == ("ok", None)
        assert status["inline_boom"] == ("error", "raised RuntimeError")
        assert decision.band == "reject"  # the inline detector's 0.99 voted
        SleepyDetector.release.clear()  # now it sleeps 0.3 s, past its 200 ms budget
        late = pipelines(store, config({"inline_sleepy": {"budget_ms": 200, "settings": {"seconds": 0.3}},
                                        "multi_lending": {}}))
        decision = late.score(application(2))
        sleepy = next(o for o in decision.outcomes if o.detector == "inline_sleepy")
        assert (sleepy.status, sleepy.why) == ("timeout", "no vote within its budget of 200 ms")
        assert sleepy.ms >= 300 and sleepy.vote is None
        assert decision.band == "approve"  # the late vote did not count
        late.close()
    finally:
        SleepyDetector.release.set()
        pipeline.close()


def test_a_detector_that_raises_is_left_out_without_leaking_data(store, pipelines) -> None:
    pipeline = pipelines(store, config({"boom": {}, "multi_lending": {}}))
    decision = pipeline.score(application(1))
    boom = next(o for o in decision.outcomes if o.detector == "boom")
    assert boom.status == "error" and boom.why == "raised RuntimeError"
    assert mobile(1) not in orjson.dumps(decision.as_dict()).decode()


def test_a_watchlisted_identity_decides_alone(store, keyer, pipelines) -> None:
    watchlist = InMemoryWatchlist(keyer)
    watchlist.add("id", resident_id(sequence=1), reason="confirmed fraud")
    pipeline = pipelines(store, config({"watchlist": {}, "constant": {"settings": {"score": 0.2}}}),
                         ScoringRecords(watchlist, InMemoryDocumentIndex(), InMemoryDecisionLog()))
    decision = pipeline.score(application(1))
    assert (decision.band, decision.fraud_score, decision.decided_by) == ("reject", 1000, "hard:watchlist")
    constant = next(o for o in decision.outcomes if o.detector == "constant")
    assert constant.status == "skipped" and "watchlist" in (constant.why or "")
    assert decision.reasons[0][1].code == "WATCHLIST_ID"


def test_shadow_detectors_run_and_are_recorded_but_do_not_vote(store, pipelines) -> None:
    shadow = pipelines(store, config({"constant": {"mode": "shadow", "settings": {"score": 0.99}}}))
    decision = shadow.score(application(1))
    outcome = decision.outcomes[0]
    assert outcome.status == "ok" and outcome.vote is not None and outcome.vote.score == 0.99
    assert not outcome.voting and decision.band == "approve" and decision.fraud_score == 50


def test_weights_and_vetoes(store, pipelines) -> None:
    strong = pipelines(store, config({"constant": {"settings": {"score": 0.2}, "weight": 2.0}}))
    weak = pipelines(store, config({"constant": {"settings": {"score": 0.2}, "weight": 0.5}}))
    assert strong.score(application(1)).fraud_score > weak.score(application(1)).fraud_score
    vetoed = pipelines(store, config({"constant": {"settings": {"score": 0.2}, "weight": 0.1,
                                                         "veto": {"at": 0.15, "band": "reject"}}}))
    decision = vetoed.score(application(1))
    assert decision.band == "reject" and decision.fraud_score >= 700 and decision.decided_by == "veto:constant"


def test_champion_and_challenger_split_by_a_stable_hash(store, pipelines) -> None:
    strategies = {
        "main": {"thresholds": {"review": 300, "reject": 700}},
        "bold": {"thresholds": {"review": 10, "reject": 20}},
    }
    loaded = config({"multi_lending": {}}, strategies=strategies, champion="main",
                    challenger={"strategy": "bold", "share": 0.3})
    pipeline = pipelines(store, loaded)
    decisions = [pipeline.score(application(n)) for n in range(1, 61)]
    roles = {d.application_id: d.role for d in decisions}
    share = sum(r == "challenger" for r in roles.values()) / len(roles)
    assert 0.1 < share < 0.5
    for d in decisions:
        assert d.strategy == ("bold" if d.role == "challenger" else "main")
        assert d.other_strategy is not None and d.other_strategy.strategy != d.strategy
        assert d.band == ("reject" if d.role == "challenger" else "approve")
    again = pipelines(store, loaded)
    assert again.score(application(5)).role == roles["APP-000005"]  # same application: same strategy


def test_upsert_is_idempotent_and_conflicts_and_bad_input_raise(store, pipelines) -> None:
    pipeline = pipelines(store, config({"multi_lending": {}}))
    first = pipeline.score(application(1))
    assert pipeline.score(application(1)).fraud_score == first.fraud_score
    with pytest.raises(ApplicationConflictError):
        pipeline.score(application(1, dealer_id="D-OTHER"))
    before = store.counts()
    with pytest.raises(ApplicationValidationError, match=r"applicant\.phone"):
        pipeline.score(application(2, **{"applicant.phone": "12345"}))
    assert store.counts() == before
