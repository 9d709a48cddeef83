"""One numeric row per application, from its scoring context, for models and embeddings.

The row holds the application's own figures (loan, credit, income, documents,
biometrics; :mod:`detectors.facts`) and, when the context has graph links, the
counts of what it shares with earlier applications (:meth:`GraphLinks.counts`).
Nothing in it is personal data: no keys, no names, no numbers that identify anyone.
Missing values become 0 with a companion ``*_missing`` column, and heavy-tailed
amounts enter as ``log1p``, so rows can be compared by distance once standardised
(:class:`embeddings.scaling.FeatureScaler`). The known-fraud embedders
(:mod:`detectors.embedders`) and the ring GNN's rows (:mod:`detectors.ring_gnn_features`)
are built on it.

Examples
--------
>>> len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
True
>>> "graph_device_identities" in FEATURE_NAMES
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from detectors.context import ScoringContext

__all__ = ["FEATURE_NAMES", "application_features", "feature_matrix"]

FloatArray = npt.NDArray[np.float64]

_GRAPH_COUNTS = (
    *(f"{kind}_{count}" for kind in ("person", "phone", "device", "account", "address", "vehicle", "vehicle_user")
      for count in ("applications", "identities", "recent", "recent_dealers", "as_applicant_phone", "as_contact",
                    "as_vehicle_user")),
    "contact_max_applications",
    "contact_max_identities",
    "contact_as_applicant_phone",
    "contact_recent",
    "contact_intermediary_identities",
)

_OWN = (
    "age",
    "log_income",
    "log_price",
    "log_amount",
    "term_months",
    "annual_rate",
    "down_payment_ratio",
    "is_new",
    "has_vin",
    "vehicle_for_someone_else",
    "inquiries_3m",
    "open_loans",
    "credit_cards",
    "card_utilisation",
    "card_utilisation_missing",
    "worst_delinquency_days",
    "bureau_score",
    "bureau_score_missing",
    "dti",
    "dti_with_loan",
    "dti_missing",
    "price_to_annual_income",
    "loan_to_annual_income",
    "income_over_salary",
    "income_over_salary_missing",
    "income_over_deposits",
    "income_over_deposits_missing",
    "n_documents",
    "has_bank_statement",
    "has_income_proof",
    "thin_file",
    "face_match_score",
    "face_match_missing",
    "liveness_failed",
    "registered_phone_missing",
    "registered_phone_differs",
    "employer_credit_code_missing",
    "social_insurance_missing",
    "social_insurance_differs",
    "n_contacts",
    "has_device",
    "has_account",
    "online",
    "hour_of_day",
    "weekend",
)

#: Column names, in order: the application's own figures, then ``graph_*`` link counts.
FEATURE_NAMES: tuple[str, ...] = (*_OWN, *(f"graph_{c}" for c in _GRAPH_COUNTS))


def _clip(x: float | None, high: float) -> float:
    return 0.0 if x is None or not math.isfinite(x) else min(max(x, 0.0), high)


def application_features(context: ScoringContext) -> FloatArray:
    """The feature row of one application (``len(FEATURE_NAMES)`` floats, read-only).

    Computed once per context and kept in ``context.extras``: several detectors read it.
    """
    row = context.extras.get("application_features")
    if row is None:
        row = context.extras["application_features"] = _features(context)
    return row


def _features(context: ScoringContext) -> FloatArray:
    app, f = context.application, context.facts
    a, credit, loan = app.applicant, app.credit, app.loan
    employer = a.employer
    submitted = app.submitted_at
    own = [
        float(f.age),
        math.log1p(a.monthly_income),
        math.log1p(loan.vehicle_price),
        math.log1p(loan.amount),
        float(loan.term_months),
        loan.annual_rate,
        f.down_payment_ratio,
        float(app.vehicle.is_new),
        float(app.vehicle.vin is not None),
        float(app.vehicle.user_id_number is not None and app.vehicle.user_id_number != a.id_number),
        float(credit.inquiries_3m),
        float(credit.open_loans),
        float(credit.credit_cards),
        _clip(f.card_utilisation, 2.0),
        float(f.card_utilisation is None),
        math.log1p(credit.worst_delinquency_days),
        (credit.bureau_score or 0) / 1000.0,
        float(credit.bureau_score is None),
        _clip(f.dti, 5.0),
        _clip(f.dti_with_loan, 5.0),
        float(f.dti is None),
        _clip(f.price_to_annual_income, 20.0),
        _clip(f.loan_to_annual_income, 20.0),
        _clip(f.income_over_salary, 10.0),
        float(f.income_over_salary is None),
        _clip(f.income_over_deposits, 10.0),
        float(f.income_over_deposits is None),
        float(f.n_documents),
        float(f.has_bank_statement),
        float(f.has_income_proof),
        float(f.thin_file),
        a.face_match_score if a.face_match_score is not None else 0.0,
        float(a.face_match_score is None),
        float(a.liveness_passed is False),
        float(a.id_registered_phone is None),
        float(a.id_registered_phone is not None and a.id_registered_phone != a.phone),
        float(employer.credit_code is None),
        float(employer.social_insurance_employer is None),
        float(employer.social_insurance_employer is not None and employer.social_insurance_employer != employer.name),
        float(len(a.emergency_contacts)),
        float(a.device_id is not None),
        float(a.bank_account is not None),
        float(app.channel == "online"),
        float(submitted.hour),
        float(submitted.weekday() >= 5),
    ]
    counts = context.links.counts() if context.links is not None else {}
    graph = [math.log1p(counts.get(c, 0.0)) for c in _GRAPH_COUNTS]
    row = np.asarray(own + graph, dtype=np.float64)
    row.flags.writeable = False
    return row


def feature_matrix(contexts: Sequence[ScoringContext]) -> FloatArray:
    """Rows of :func:`application_features`, stacked (``(n, len(FEATURE_NAMES))``)."""
    if not contexts:
        return np.zeros((0, len(FEATURE_NAMES)))
    return np.vstack([application_features(c) for c in contexts])
