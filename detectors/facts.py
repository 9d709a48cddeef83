"""Figures derived from one application, shared by detectors and expert rules.

Examples
--------
>>> round(monthly_instalment(140_000, 0.0588, 36), 2)
4251.46
>>> monthly_instalment(36_000, 0.0, 36)
1000.0
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import date

from tianwang.application import Application

__all__ = ["ApplicationFacts", "application_facts", "monthly_instalment"]


def monthly_instalment(amount: float, annual_rate: float, term_months: int) -> float:
    """The level monthly payment of a loan (annuity formula, monthly compounding)."""
    if term_months < 1:
        raise ValueError(f"term_months must be at least 1, got: {term_months}")
    rate = annual_rate / 12.0
    if rate == 0:
        return amount / term_months
    return amount * rate / (1.0 - (1.0 + rate) ** -term_months)


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


@dataclass(frozen=True, slots=True)
class ApplicationFacts:
    """Derived figures; ratios are ``None`` where a denominator is missing or zero.

    ``dti`` is debt payments over income before the new loan, ``dti_with_loan`` with
    the new loan's instalment added. ``income_over_salary`` is declared monthly income
    over the median salary deposit of the bank statements, ``income_over_deposits``
    over the median of all their monthly deposits.
    """

    age: int
    instalment: float
    dti: float | None
    dti_with_loan: float | None
    card_utilisation: float | None
    down_payment_ratio: float
    price_to_annual_income: float | None
    loan_to_annual_income: float | None
    income_over_salary: float | None
    income_over_deposits: float | None
    n_documents: int
    has_bank_statement: bool
    has_income_proof: bool
    thin_file: bool

    def as_dict(self) -> dict[str, float | int | bool | None]:
        return asdict(self)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def application_facts(application: Application) -> ApplicationFacts:
    """Compute the :class:`ApplicationFacts` of ``application``."""
    loan, credit, applicant = application.loan, application.credit, application.applicant
    income = applicant.monthly_income
    instalment = monthly_instalment(loan.amount, loan.annual_rate, loan.term_months)
    salaries = [x for d in application.documents for x in (d.salary_deposits or []) if x > 0]
    deposits = [x for d in application.documents if d.type == "bank_statement" for x in (d.monthly_deposits or [])]
    types = {d.type for d in application.documents}
    submitted = application.submitted_at.date()
    return ApplicationFacts(
        age=_age(application.birth_date, submitted),
        instalment=instalment,
        dti=_ratio(credit.monthly_debt_payments, income),
        dti_with_loan=_ratio(credit.monthly_debt_payments + instalment, income),
        card_utilisation=_ratio(credit.card_used_total, credit.card_limit_total),
        down_payment_ratio=loan.down_payment / loan.vehicle_price,
        price_to_annual_income=_ratio(loan.vehicle_price, 12 * income),
        loan_to_annual_income=_ratio(loan.amount, 12 * income),
        income_over_salary=_ratio(income, statistics.median(salaries)) if salaries else None,
        income_over_deposits=_ratio(income, statistics.median(deposits)) if deposits else None,
        n_documents=len(application.documents),
        has_bank_statement="bank_statement" in types,
        has_income_proof="income_proof" in types,
        thin_file=credit.credit_cards == 0 and credit.open_loans == 0 and credit.inquiries_3m <= 1,
    )
