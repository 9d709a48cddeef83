"""Repayment outcomes: what a servicing system learns of a funded loan weeks or months later.

An outcome names what happened to the loan: ``first_payment_default`` (no payment ever
made, the classic sign of a loan taken never to be repaid), ``early_default`` and
``charge_off`` (credit losses, not fraud by themselves) or ``paid_as_agreed``. Where no
investigator judged the application, an outcome is its label: fraud for a first-payment
default (:data:`FRAUD_OUTCOMES`), legitimate for the others.

The service (``POST /v1/outcomes``), the analysts' replays and the backtest
(``tianwang evaluate --outcomes``) all read outcomes by this one rule.

Examples
--------
>>> counts_as_fraud("first_payment_default"), counts_as_fraud("charge_off")
(True, False)
"""

from __future__ import annotations

__all__ = ["FRAUD_OUTCOMES", "OUTCOME_KINDS", "counts_as_fraud"]

#: Every kind of outcome, in the order a loan goes bad (or does not).
OUTCOME_KINDS: tuple[str, ...] = ("first_payment_default", "early_default", "charge_off", "paid_as_agreed")
#: The outcomes that count as fraud when no verdict says otherwise.
FRAUD_OUTCOMES = frozenset({"first_payment_default"})


def counts_as_fraud(kind: str) -> bool:
    """Whether an outcome of this kind is a fraud label by itself."""
    return kind in FRAUD_OUTCOMES
