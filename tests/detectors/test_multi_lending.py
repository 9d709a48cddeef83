from __future__ import annotations

import pytest

from detectors import DetectorSettingsError, MultiLendingDetector, monthly_instalment

from .quality import held_out_quality


def test_annuity_instalment() -> None:
    assert monthly_instalment(120_000, 0.0, 12) == 10_000
    assert monthly_instalment(100_000, 0.12, 12) == pytest.approx(8884.88, abs=0.01)
    with pytest.raises(ValueError, match="term_months"):
        monthly_instalment(1, 0.1, 0)


def test_debt_to_income_with_the_new_instalment_over_half_is_strong(context_of) -> None:
    detector = MultiLendingDetector()
    fine = detector.score(context_of(1))
    # 18,000 income; 2,000 debts + ~4,251 instalment = 35 %: below the signal
    assert "DEBT_TO_INCOME" not in fine.codes
    strained = detector.score(context_of(1, **{"credit.monthly_debt_payments": 7000}))
    # 7,000 + 4,251 = 62.5 % of income
    assert strained.codes[0] == "DEBT_TO_INCOME"
    assert "63%" in strained.reasons[0].text and "over the 50% limit" in strained.reasons[0].text
    assert strained.score > 5 * fine.score


def test_inquiries_cards_and_delinquency(context_of) -> None:
    vote = MultiLendingDetector().score(context_of(1, credit={
        "inquiries_3m": 12, "open_loans": 6, "credit_cards": 5, "card_limit_total": 100000,
        "card_used_total": 97000, "monthly_debt_payments": 2000, "worst_delinquency_days": 60}))
    assert set(vote.codes) >= {"MANY_INQUIRIES", "MANY_OPEN_LOANS", "CARDS_AT_LIMIT", "DELINQUENT"}
    assert vote.score > 0.95


def test_settings_are_checked() -> None:
    with pytest.raises(DetectorSettingsError, match="dti_limit"):
        MultiLendingDetector({"dti_limit": 0})
    with pytest.raises(DetectorSettingsError, match=r"unknown signal\(s\) \['NOPE'\]"):
        MultiLendingDetector({"weights": {"NOPE": 1.0}})


def test_quality_floor_on_generated_data(generated_contexts) -> None:
    auc, recall = held_out_quality(MultiLendingDetector({"target_typologies": ["multi_lending"]}),
                                   generated_contexts, "multi_lending")
    assert auc >= 0.95
    assert recall >= 0.7
