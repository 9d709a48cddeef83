"""From a band and its reasons to what the approval system should do.

An auto lender needs more than approve / review / reject:

| action | when | what the approval system does |
| --- | --- | --- |
| ``approve`` | approve band, nothing to verify | fund the loan |
| ``approve_with_verification`` | approve band, but a reason asks for proof | fund after the named tasks pass |
| ``review`` | review band (a case opens) | wait for the case; ``hold_funding``: do not pay the dealer yet |
| ``reject`` | reject band | decline |

Verification tasks are named by the reasons that asked for them (``proof_of_income``
for an income the documents or salary do not support, ``employment_check`` for an
employer without a credit code or social insurance, ``identity_check`` for a phone
not registered to the applicant or a weak face match). Funding is held on a review
when a reason points at the dealer or the price: those are the deals where a
colluding dealer is paid for a car that is not worth the loan.

Examples
--------
>>> choose_action("approve", ["INCOME_ABOVE_SALARY"]).as_dict()["type"]
'approve_with_verification'
>>> choose_action("review", ["RISKY_DEALER", "RING_MEMBER"]).hold_funding
True
>>> choose_action("approve", []).as_dict()
{'type': 'approve', 'verification_tasks': [], 'hold_funding': False}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ACTION_TYPES", "HOLD_FUNDING_REASONS", "VERIFICATION_TASKS", "Action", "choose_action"]

ACTION_TYPES = ("approve", "approve_with_verification", "review", "reject")

#: task -> the reason codes that ask for it
VERIFICATION_TASKS: Mapping[str, frozenset[str]] = {
    "proof_of_income": frozenset({
        "INCOME_ABOVE_STATED", "INCOME_ABOVE_SALARY", "INCOME_ABOVE_OWN_SALARY", "INCOME_ABOVE_DEPOSITS",
        "NO_BANK_STATEMENT", "ROUND_REGULAR_DEPOSITS", "CAR_FAR_ABOVE_INCOME", "CAR_FAR_FAR_ABOVE_INCOME",
        "DEBT_TO_INCOME",
    }),
    "employment_check": frozenset({
        "EMPLOYER_WITHOUT_CREDIT_CODE", "NO_SOCIAL_INSURANCE", "EMPLOYER_NOT_SOCIAL_INSURANCE",
        "SEAL_NOT_EMPLOYER", "SEAL_OF_AGENCY",
    }),
    "identity_check": frozenset({
        "NO_REGISTERED_PHONE", "PHONE_NOT_REGISTERED", "VIRTUAL_OPERATOR_PHONE", "LOW_FACE_MATCH",
        "VERY_LOW_FACE_MATCH", "LIVENESS_FAILED",
    }),
}

#: reasons that point at the dealer or the price: a review holds the dealer's funding
HOLD_FUNDING_REASONS = frozenset({
    "RISKY_DEALER", "PRICE_ABOVE_MODEL", "DEALER_RING_SHARE", "MINIMUM_DOWN_PAYMENT", "NO_VIN",
    "RING_MEMBER", "FORMS_RING", "LINKED_TO_RING",
})


@dataclass(frozen=True, slots=True)
class Action:
    """What the approval system should do with one application."""

    type: str
    verification_tasks: list[dict[str, Any]] = field(default_factory=list)
    hold_funding: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "verification_tasks": [dict(t) for t in self.verification_tasks],
                "hold_funding": self.hold_funding}


def choose_action(band: str, reason_codes: Iterable[str]) -> Action:
    """The action for a decision in ``band`` with these reasons.

    Parameters
    ----------
    band : {"approve", "review", "reject"}
    reason_codes : iterable of str
        The decision's reason codes, most important first.
    """
    codes = list(dict.fromkeys(reason_codes))
    if band == "reject":
        return Action("reject")
    tasks = []
    for task, asking in VERIFICATION_TASKS.items():
        named = [code for code in codes if code in asking]
        if named:
            tasks.append({"task": task, "reasons": named})
    if band == "review":
        return Action("review", tasks, any(code in HOLD_FUNDING_REASONS for code in codes))
    return Action("approve_with_verification", tasks) if tasks else Action("approve")
