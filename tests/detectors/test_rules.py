from __future__ import annotations

from datetime import date

import pytest

from detectors import DetectorSettingsError, RulesDetector
from detectors.context import GraphLinks, Link

from ..builders import DELETE, mobile, resident_id

DELINQUENCY = {
    "id": "LONG_DELINQUENCY",
    "reason": "60 or more days late on an existing loan",
    "weight": 2.0,
    "when": [{"field": "credit.worst_delinquency_days", "op": ">=", "value": 60}],
}


def test_a_rule_fires_only_when_every_condition_holds(context_of) -> None:
    rule = {**DELINQUENCY, "when": [*DELINQUENCY["when"], {"field": "facts.age", "op": "<", "value": 30}]}
    detector = RulesDetector({"rules": [rule]})
    late = {"credit.worst_delinquency_days": 90}
    assert detector.score(context_of(1, **late)).codes == []  # born 1988: 37 at T0
    young = detector.score(context_of(1, **late, **{"applicant.id_number": resident_id(birth=date(2000, 1, 1))}))
    assert young.codes == ["LONG_DELINQUENCY"]
    assert young.reasons[0].text == "60 or more days late on an existing loan"
    assert young.score > detector.score(context_of(1)).score


def test_operators(context_of) -> None:
    rules = [
        {"id": "IN_LIST", "reason": "r", "when": [{"field": "loan.product", "op": "in", "value": ["standard", "nev"]}]},
        {"id": "NOT_IN", "reason": "r", "when": [{"field": "channel", "op": "not_in", "value": ["online"]}]},
        {"id": "MISSING", "reason": "r", "when": [{"field": "credit.bureau_score", "op": "missing"}]},
        {"id": "PRESENT", "reason": "r", "when": [{"field": "vehicle.vin", "op": "present"}]},
        {"id": "MATCHES", "reason": "r", "when": [{"field": "dealer_id", "op": "matches", "value": "^D-BJ"}]},
        {"id": "EQUALS", "reason": "r", "when": [{"field": "vehicle.is_new", "op": "==", "value": True}]},
        {"id": "NOT_EQUAL", "reason": "r", "when": [{"field": "loan.term_months", "op": "!=", "value": 36}]},
    ]
    detector = RulesDetector({"rules": rules})
    fired = set(detector.score(context_of(1, **{"credit.bureau_score": DELETE})).codes)
    assert fired == {"IN_LIST", "NOT_IN", "MISSING", "PRESENT", "MATCHES", "EQUALS"}


def test_graph_window_counts_are_fields(context_of) -> None:
    rule = {"id": "SHARED_DEVICE", "reason": "device shared", "when": [
        {"field": "graph.device_identities", "op": ">=", "value": 2}]}
    detector = RulesDetector({"rules": [rule]})
    context = context_of(1)
    assert detector.score(context).codes == []
    context.links = GraphLinks(device=Link("device", "device", applications=3, identities=2))
    assert detector.score(context).codes == ["SHARED_DEVICE"]


def test_evidence_of_personal_fields_is_masked(context_of) -> None:
    when = [{"field": "applicant.phone", "op": "matches", "value": "^139"}]
    rule = {"id": "PHONE_PREFIX", "reason": "r", "when": when}
    vote = RulesDetector({"rules": [rule]}).score(context_of(1))
    evidence = vote.reasons[0].evidence[0]
    assert evidence.value == "139****0001"
    assert mobile(1) not in repr(vote)


def test_a_hard_rule_gives_a_hard_vote(context_of) -> None:
    rule = {**DELINQUENCY, "hard": True}
    vote = RulesDetector({"rules": [rule]}).score(context_of(1, **{"credit.worst_delinquency_days": 60}))
    assert vote.hard and vote.score >= 0.999


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{**DELINQUENCY, "when": [{"field": "nope.x", "op": "present"}]}], "does not start with one of"),
        ([{**DELINQUENCY, "when": [{"field": "credit.open_loans", "op": ">", "value": "many"}]}], "needs a number"),
        ([{**DELINQUENCY, "when": [{"field": "channel", "op": "in", "value": "online"}]}], "needs a list"),
        ([{**DELINQUENCY, "when": [{"field": "channel", "op": "matches", "value": "("}]}], "bad regular expression"),
        ([DELINQUENCY, DELINQUENCY], "rule ids must be unique"),
        ([{**DELINQUENCY, "id": "lower"}], "rules.0.id"),
        ([{**DELINQUENCY, "when": []}], "rules.0.when"),
    ],
)
def test_bad_rules_fail_when_built(rules: list[dict[str, object]], message: str) -> None:
    with pytest.raises(DetectorSettingsError, match=message):
        RulesDetector({"rules": rules})


def test_fit_learns_history_fields_and_weights(generated_contexts) -> None:
    rules = [
        {"id": "RISKY_DEALER", "reason": "r",
         "when": [{"field": "history.dealer_fraud_rate", "op": ">", "value": 0.2}]},
        {"id": "NO_SCORE", "reason": "r", "when": [{"field": "credit.bureau_score", "op": "missing"}]},
    ]
    detector = RulesDetector({"rules": rules})
    assert detector._history(generated_contexts[0].context)["dealer_fraud_rate"] is None
    detector.fit(generated_contexts[:4000])
    details = detector.fit_details
    assert details["trained"] and details["dealers"] > 10
    assert 0 < details["base_rate"] < 0.2
    assert set(detector.weights) == {"RISKY_DEALER", "NO_SCORE"}
