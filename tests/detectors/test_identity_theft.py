from __future__ import annotations

from datetime import date

import pytest

from detectors import IdentityTheftDetector
from detectors.context import build_context
from graph_schema.embedded import EmbeddedGraphStore
from tianwang.application import parse_application

from ..builders import DELETE, application, mobile, resident_id
from .quality import held_out_quality


def test_a_clean_application_gets_the_baseline(context_of) -> None:
    vote = IdentityTheftDetector().score(context_of(1))
    assert vote.reasons == ()
    assert vote.score == pytest.approx(vote.baseline)


def test_intake_signals_fire_with_masked_evidence(context_of) -> None:
    context = context_of(
        1,
        **{
            "applicant.phone": mobile(555),
            "applicant.face_match_score": 0.41,
            "applicant.liveness_passed": False,
            "applicant.employer": {"name": "北京星河科技有限公司", "social_insurance_employer": "上海远洋物流有限公司"},
        },
    )
    vote = IdentityTheftDetector().score(context)
    codes = set(vote.codes)
    assert {"PHONE_NOT_REGISTERED", "LOW_FACE_MATCH", "LIVENESS_FAILED", "EMPLOYER_NOT_SOCIAL_INSURANCE"} <= codes
    assert vote.score > 0.9
    text = repr(vote.as_dict())
    assert mobile(555) not in text and mobile(1) not in text
    assert "139****0555" in text


def test_no_registered_phone_is_a_weaker_signal_than_a_different_one(context_of) -> None:
    detector = IdentityTheftDetector()
    missing = detector.score(context_of(1, **{"applicant.id_registered_phone": DELETE}))
    different = detector.score(context_of(1, **{"applicant.id_registered_phone": mobile(77)}))
    assert missing.codes == ["NO_REGISTERED_PHONE"]
    assert different.score > missing.score > detector.score(context_of(1)).score


def test_declared_income_above_the_statements_salary_is_a_signal(context_of) -> None:
    def statement(salary: float) -> dict[str, object]:
        return {"type": "bank_statement", "sha256": "ab" * 32, "issuer_name": "中国工商银行",
                "monthly_deposits": [salary] * 3, "salary_deposits": [salary + 0.31, salary, salary - 0.27]}

    detector = IdentityTheftDetector()
    income = parse_application(application(1)).applicant.monthly_income
    modest = detector.score(context_of(1, documents=[statement(income * 0.93)]))
    inflated = detector.score(context_of(1, documents=[statement(income / 1.6)]))
    assert "INCOME_ABOVE_OWN_SALARY" not in modest.codes
    reason = next(r for r in inflated.reasons if r.code == "INCOME_ABOVE_OWN_SALARY")
    assert "1.6x" in reason.text and str(int(income)) not in repr(inflated.as_dict())
    assert inflated.score > modest.score


def test_implausible_age_fires(context_of) -> None:
    vote = IdentityTheftDetector().score(context_of(1, **{"applicant.id_number": resident_id(birth=date(2012, 1, 5))}))
    assert "AGE_IMPLAUSIBLE" in vote.codes


def test_graph_signals_the_same_id_at_other_dealers_and_a_shared_device(keyer, tmp_path) -> None:
    store = EmbeddedGraphStore(tmp_path / "g.db", keyer)
    stolen_id = resident_id(sequence=901)
    earlier = [
        application(1, **{"applicant.id_number": stolen_id, "dealer_id": "D-SH-009"}),
        application(2, **{"applicant.device_id": "dev-shared"}),
        application(3, **{"applicant.device_id": "dev-shared"}),
    ]
    for data in earlier:
        store.upsert_application(parse_application(data))
    now = parse_application(application(4, **{"applicant.id_number": stolen_id, "applicant.device_id": "dev-shared"}))
    store.upsert_application(now)
    context = build_context(now, keyer, view=store.as_of(now.submitted_ts))
    vote = IdentityTheftDetector().score(context)
    assert {"ID_VELOCITY", "ID_SEVERAL_DEALERS", "DEVICE_OTHER_IDENTITIES"} <= set(vote.codes)
    assert context.links is not None and context.links.device is not None
    assert context.links.device.identities == 2
    # as of before the earlier applications, nothing is shared
    early_view = store.as_of(now.submitted_ts - 10 * 86400)
    store.close()
    assert early_view is not None


def test_quality_floor_on_generated_data(generated_contexts) -> None:
    auc, recall = held_out_quality(IdentityTheftDetector({"target_typologies": ["identity_theft"]}),
                                   generated_contexts, "identity_theft")
    assert auc >= 0.93
    assert recall >= 0.5


def test_fitting_again_gives_what_one_fit_gives(generated_contexts) -> None:
    # the fusion fits detectors on part of the history, then on all of it: the second fit
    # must be shrunk towards the expert weights, not towards what the first one learned
    history = [c for c in generated_contexts if not c.fraud or c.typology == "identity_theft"]
    once = IdentityTheftDetector({"target_typologies": ["identity_theft"]})
    once.fit(history)
    twice = IdentityTheftDetector({"target_typologies": ["identity_theft"]})
    twice.fit(history[: len(history) // 2])
    twice.fit(history)
    assert twice.weights == pytest.approx(once.weights)
    assert twice.bias == pytest.approx(once.bias)
