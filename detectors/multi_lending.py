"""Multi-lending and affordability: borrowing from many lenders at once, more than income carries.

Signals (default log-odds weights in :attr:`MultiLendingDetector.SIGNALS`):

* many credit-bureau inquiries in the last three months (lenders checking the
  applicant at the same time);
* many open loans; credit cards used to the limit;
* debt-to-income including the new loan's instalment (annuity formula from the loan
  terms) above 50 %: a strong signal, stronger the further above;
* recent delinquency.

Examples
--------
>>> MultiLendingDetector().weights["DEBT_TO_INCOME"]
3.5
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from detectors.base import Evidence
from detectors.context import ScoringContext
from detectors.signals import Finding, SignalDetector, SignalSettings

__all__ = ["MultiLendingDetector", "MultiLendingSettings"]


class MultiLendingSettings(SignalSettings):
    """Thresholds of the multi-lending signals."""

    inquiries_from: int = Field(default=4, ge=1, description="inquiries in 3 months where the signal starts")
    open_loans_from: int = Field(default=3, ge=1)
    utilisation_from: float = Field(default=0.8, gt=0, le=1)
    dti_limit: float = Field(default=0.5, gt=0, le=2, description="debt-to-income with the new instalment")


class MultiLendingDetector(SignalDetector):
    """Flags applicants borrowing from many lenders at once or beyond what their income carries."""

    name = "multi_lending"
    version = "1"
    layer = "fast"
    inline = True
    Settings = MultiLendingSettings
    SIGNALS: ClassVar[dict[str, float]] = {
        "MANY_INQUIRIES": 3.0,
        "MANY_OPEN_LOANS": 1.5,
        "CARDS_AT_LIMIT": 2.0,
        "DEBT_TO_INCOME": 3.5,
        "DELINQUENT": 1.5,
    }

    def findings(self, context: ScoringContext) -> list[Finding]:
        s: MultiLendingSettings = self.settings
        credit = context.application.credit
        facts = context.facts
        out: list[Finding] = []
        if credit.inquiries_3m >= s.inquiries_from:
            out.append(Finding("MANY_INQUIRIES", min(1.0, (credit.inquiries_3m - s.inquiries_from + 1) / 6),
                               f"{credit.inquiries_3m} credit inquiries in the last 3 months",
                               (Evidence("credit.inquiries_3m", str(credit.inquiries_3m)),)))
        if credit.open_loans >= s.open_loans_from:
            out.append(Finding("MANY_OPEN_LOANS", min(1.0, (credit.open_loans - s.open_loans_from + 1) / 4),
                               f"{credit.open_loans} loans open",
                               (Evidence("credit.open_loans", str(credit.open_loans)),)))
        util = facts.card_utilisation
        if util is not None and util >= s.utilisation_from:
            out.append(Finding("CARDS_AT_LIMIT", min(1.0, (util - s.utilisation_from) / (1 - s.utilisation_from + 1e-9)
                                                     + 0.2),
                               f"credit cards used to {util:.0%} of their limit",
                               (Evidence("credit.card_used_total", f"{util:.0%}", detail="of card_limit_total"),)))
        dti = facts.dti_with_loan
        if dti is not None and dti > s.dti_limit * 0.8:
            strength = min(1.0, max(0.1, (dti - s.dti_limit * 0.8) / (s.dti_limit * 0.8)))
            over = "over" if dti > s.dti_limit else "near"
            out.append(Finding(
                "DEBT_TO_INCOME", strength,
                f"debt-to-income {dti:.0%} with the new instalment of {facts.instalment:,.0f}/month "
                f"({over} the {s.dti_limit:.0%} limit)",
                (Evidence("credit.monthly_debt_payments", f"{credit.monthly_debt_payments:,.0f}"),
                 Evidence("loan", f"{facts.instalment:,.0f}", detail="monthly instalment (annuity)"),
                 Evidence("applicant.monthly_income", f"{context.application.applicant.monthly_income:,.0f}")),
            ))
        if credit.worst_delinquency_days >= 30:
            out.append(Finding("DELINQUENT", min(1.0, credit.worst_delinquency_days / 60),
                               f"{credit.worst_delinquency_days} days late at worst",
                               (Evidence("credit.worst_delinquency_days", str(credit.worst_delinquency_days)),)))
        return out
