"""An application's documents and figures against what is usual, for :mod:`detectors.graph_evidence`.

A forged statement that inflates income a little, with salary deposits redrawn to match,
passes every check of its own; what gives it away is the company it keeps: a producer or
template few genuine statements come from, an income well above what the same occupation
usually earns, an edit long after the statement was made, deposits too round or too even.
:class:`ProfileTable` learns what is usual from the training history (medians and how often
each producer, template and issuer occurs); :meth:`ProfileTable.row` gives the numbers.
Nothing here is personal data.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import numpy as np

from tianwang.application import Application, Document

__all__ = ["PROFILE_FEATURE_NAMES", "ProfileTable"]

#: Column names, in order.
PROFILE_FEATURE_NAMES: tuple[str, ...] = (
    "income_over_occupation", "income_over_occupation_missing", "statement_edit_hours", "statement_age_days",
    "statement_times_missing", "producer_share", "template_share", "issuer_share", "producer_issuer_share",
    "round_deposits", "deposit_cv", "salary_months", "seal_differs", "stated_over_income", "has_id_card",
    "virtual_operator_phone", "landline_contacts", "ip_missing", "template_issuer_share", "income_over_employer",
    "income_over_employer_missing", "synthetic_tells", "theft_flags", "forgery_tells", "card_limit_over_income",
    "no_cards", "debt_over_income",
)

_MVNO = ("170", "171", "162", "165", "167")
_SOURCE_KINDS = ("producer", "template", "issuer", "producer_issuer", "template_issuer")


def _statement(app: Application) -> Document | None:
    return next((d for d in app.documents if d.type == "bank_statement"), None)


class ProfileTable:
    """What is usual in the training history: incomes by occupation, how common each statement source is."""

    def __init__(self) -> None:
        self._occupation_income: dict[str, float] = {}
        self._employer_income: dict[str, float] = {}
        self._sources: dict[str, Counter[str]] = {k: Counter() for k in _SOURCE_KINDS}
        self._statements = 0

    def fit(self, applications: Iterable[Application]) -> None:
        incomes: dict[str, list[float]] = {}
        by_employer: dict[str, list[float]] = {}
        sources: dict[str, Counter[str]] = {k: Counter() for k in _SOURCE_KINDS}
        statements = 0
        for app in applications:
            incomes.setdefault(app.applicant.occupation, []).append(app.applicant.monthly_income)
            by_employer.setdefault(_employer(app), []).append(app.applicant.monthly_income)
            st = _statement(app)
            if st is not None:
                statements += 1
                for kind, value in _sources(st).items():
                    sources[kind][value] += 1
        self._occupation_income = {k: float(np.median(v)) for k, v in incomes.items() if len(v) >= 10}
        self._employer_income = {k: float(np.median(v)) for k, v in by_employer.items() if len(v) >= 5}
        self._sources = sources
        self._statements = statements

    def _share(self, kind: str, value: str) -> float:
        return (self._sources[kind][value] + 1) / (self._statements + 1)

    def row(self, app: Application) -> list[float]:
        a = app.applicant
        usual = self._occupation_income.get(a.occupation)
        st = _statement(app)
        out = [a.monthly_income / usual if usual else 1.0, float(usual is None)]
        created = st.created_at if st is not None else None
        modified = st.modified_at if st is not None else None
        if created is not None and modified is not None:
            out += [max(0.0, (modified - created).total_seconds() / 3600),
                    max(0.0, (app.submitted_at - created).total_seconds() / 86400), 0.0]
        else:
            out += [0.0, 0.0, 1.0]
        shares = {kind: self._share(kind, value) for kind, value in _sources(st).items()} if st is not None else {}
        if st is not None:
            out += [math.log(shares[kind]) for kind in _SOURCE_KINDS[:4]]
            deposits = list(st.monthly_deposits or [])
            salary = list(st.salary_deposits or [])
            mean, std = _mean_std(deposits)
            out += [float(bool(deposits) and all(d % 1000 == 0 for d in deposits)),
                    std / mean if mean > 0 else 0.0, float(len(salary))]
        else:
            out += [0.0] * 4 + [0.0, 0.0, 0.0]
        proof = next((d for d in app.documents if d.type == "income_proof"), None)
        seal = proof.seal_company if proof is not None else None
        stated = proof.stated_monthly_income if proof is not None else None
        out += [float(seal is not None and seal != a.employer.name),
                stated / a.monthly_income if stated else 1.0,
                float(any(d.type == "id_card" for d in app.documents)),
                float(a.phone.startswith(_MVNO)),
                float(sum(c.phone.startswith("0") for c in a.emergency_contacts)),
                float(a.ip is None)]
        by_employer = self._employer_income.get(_employer(app))
        out += [math.log(shares["template_issuer"]) if st is not None else 0.0,
                a.monthly_income / by_employer if by_employer else 1.0, float(by_employer is None)]
        credit = app.credit
        age = (app.submitted_at.date() - app.birth_date).days / 365.25
        thin = credit.credit_cards == 0 and credit.open_loans == 0 and credit.inquiries_3m <= 1
        mvno = a.phone.startswith(_MVNO)
        out.append(float((age <= 32) + (credit.bureau_score is None) + thin + (a.id_registered_phone is None) + mvno
                         + (a.employer.credit_code is None) + (a.employer.social_insurance_employer is None)))
        face = a.face_match_score
        out.append(float((a.id_registered_phone is not None and a.id_registered_phone != a.phone)
                         + (a.id_registered_phone is None) + (face is not None and face < 0.85)
                         + (a.liveness_passed is False) + mvno
                         + (a.employer.social_insurance_employer not in (None, a.employer.name))))
        edit_hours, usual = out[2], out[0]
        rare = sum(shares.get(k, 1.0) < 0.01 for k in ("producer", "template_issuer"))
        out.append(float(rare + (edit_hours > 24) + out[9] + out[12] + (usual > 1.5)))
        # banks set card limits and lend on the income they verified: a declared income well above
        # what the limits per card and the instalments suggest is an income nobody else has seen
        income = max(a.monthly_income, 1.0)
        out += [credit.card_limit_total / credit.credit_cards / income if credit.credit_cards else 0.0,
                float(credit.credit_cards == 0), credit.monthly_debt_payments / income]
        return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    """``np.mean`` and ``np.std`` of ``values`` (0 for none), computed as they compute them (the same
    bits) without their Python wrappers, which cost more than the sums on a dozen numbers."""
    if not values:
        return 0.0, 0.0
    x = np.asarray(values, dtype=np.float64)
    mean = np.add.reduce(x) / len(x)
    centred = x - mean
    return float(mean), float(np.sqrt(np.add.reduce(centred * centred) / len(x)))


def _employer(app: Application) -> str:
    return app.applicant.employer.credit_code or app.applicant.employer.name


def _sources(statement: Document) -> dict[str, str]:
    producer = statement.producer or ""
    issuer = statement.issuer_name or ""
    template = statement.template_id or ""
    return {"producer": producer, "template": template, "issuer": issuer, "producer_issuer": f"{producer}|{issuer}",
            "template_issuer": f"{template}|{issuer}"}
