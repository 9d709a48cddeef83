"""Identity theft: someone applies in another person's name.

Signals (default log-odds weights in :attr:`IdentityTheftDetector.SIGNALS`):

* the applicant's phone is not the phone registered to the id at the carrier (or the
  carrier has none on record), or it is a virtual-operator number;
* a low face-match score (a second signal when very low) or a failed liveness check at
  intake;
* the same id applying again within the window, at several dealers;
* the declared employer is not the one paying the id's social insurance;
* an age from the id's birth date that no lender would see (under 18, over 70); the
  id's check digit itself is verified when the application is validated;
* the applicant's phone or device also used by other identities;
* a declared income above the salary the id's own bank statement shows (someone
  borrowing in another's name has no reason to be modest about the victim's pay).

Examples
--------
>>> IdentityTheftDetector.name, IdentityTheftDetector.layer
('identity_theft', 'fast')
"""

from __future__ import annotations

import re
from typing import ClassVar

from detectors.base import Evidence
from detectors.context import ScoringContext
from detectors.signals import Finding, SignalDetector
from tianwang.identifiers import mask_phone

__all__ = ["VIRTUAL_OPERATOR_PREFIXES", "IdentityTheftDetector"]

#: Mobile prefixes of China's virtual network operators (170/171/162/165/167 ranges).
VIRTUAL_OPERATOR_PREFIXES: tuple[str, ...] = ("170", "171", "162", "165", "167")

_COMPANY_SUFFIX = re.compile(r"(股份)?有限(责任)?公司|集团|分公司|\s")


def _same_company(a: str, b: str) -> bool:
    na, nb = _COMPANY_SUFFIX.sub("", a).upper(), _COMPANY_SUFFIX.sub("", b).upper()
    return na == nb or (len(na) >= 4 and len(nb) >= 4 and (na in nb or nb in na))


class IdentityTheftDetector(SignalDetector):
    """Flags applications made with a stolen or borrowed identity."""

    name = "identity_theft"
    version = "1"
    needs_graph = True
    layer = "fast"
    inline = True
    SIGNALS: ClassVar[dict[str, float]] = {
        "PHONE_NOT_REGISTERED": 2.5,
        "NO_REGISTERED_PHONE": 0.7,
        "VIRTUAL_OPERATOR_PHONE": 1.0,
        "LOW_FACE_MATCH": 3.0,
        "VERY_LOW_FACE_MATCH": 2.0,
        "LIVENESS_FAILED": 3.0,
        "ID_VELOCITY": 2.0,
        "ID_SEVERAL_DEALERS": 1.5,
        "EMPLOYER_NOT_SOCIAL_INSURANCE": 2.0,
        "AGE_IMPLAUSIBLE": 2.0,
        "PHONE_OTHER_IDENTITIES": 2.0,
        "DEVICE_OTHER_IDENTITIES": 2.0,
        "NO_BANK_STATEMENT": 0.4,
        "INCOME_ABOVE_OWN_SALARY": 1.0,
    }

    def confidence(self, context: ScoringContext) -> float:
        a = context.application.applicant
        checks = [a.id_registered_phone is not None, a.face_match_score is not None, a.liveness_passed is not None,
                  context.links is not None]
        return 0.4 + 0.6 * sum(checks) / len(checks)

    def findings(self, context: ScoringContext) -> list[Finding]:
        a = context.application.applicant
        out: list[Finding] = []
        phone = mask_phone(a.phone)
        if a.id_registered_phone is None:
            out.append(Finding("NO_REGISTERED_PHONE", 1.0, "the carrier has no phone on record for the id",
                               (Evidence("applicant.id_registered_phone", None),)))
        elif a.id_registered_phone != a.phone:
            out.append(Finding(
                "PHONE_NOT_REGISTERED", 1.0,
                f"phone {phone} is not the phone registered to the id ({mask_phone(a.id_registered_phone)})",
                (Evidence("applicant.phone", phone), Evidence("applicant.id_registered_phone",
                                                              mask_phone(a.id_registered_phone))),
            ))
        if a.phone.startswith(VIRTUAL_OPERATOR_PREFIXES):
            out.append(Finding("VIRTUAL_OPERATOR_PHONE", 1.0, f"phone {phone} is a virtual-operator number",
                               (Evidence("applicant.phone", phone),)))
        if a.face_match_score is not None and a.face_match_score < 0.85:
            out.append(Finding(
                "LOW_FACE_MATCH", min(1.0, (0.85 - a.face_match_score) / 0.12),
                f"face match {a.face_match_score:.2f} is low (below 0.85)",
                (Evidence("applicant.face_match_score", f"{a.face_match_score:.2f}"),),
            ))
        if a.face_match_score is not None and a.face_match_score < 0.7:
            # a second step: real customers rarely fall this low (bad light does not do it)
            out.append(Finding(
                "VERY_LOW_FACE_MATCH", min(1.0, (0.7 - a.face_match_score) / 0.15),
                f"face match {a.face_match_score:.2f} is very low (below 0.70)",
                (Evidence("applicant.face_match_score", f"{a.face_match_score:.2f}"),),
            ))
        if a.liveness_passed is False:
            out.append(Finding("LIVENESS_FAILED", 1.0, "liveness check failed",
                               (Evidence("applicant.liveness_passed", "false"),)))
        si = a.employer.social_insurance_employer
        if si is not None and not _same_company(si, a.employer.name):
            out.append(Finding(
                "EMPLOYER_NOT_SOCIAL_INSURANCE", 1.0,
                f"declared employer {a.employer.name} is not the social-insurance employer {si}",
                (Evidence("applicant.employer.name", a.employer.name),
                 Evidence("applicant.employer.social_insurance_employer", si)),
            ))
        age = context.facts.age
        if age < 18 or age > 70:
            out.append(Finding("AGE_IMPLAUSIBLE", 1.0, f"age {age} from the id's birth date is implausible",
                               (Evidence("applicant.id_number", f"age {age}"),)))
        if not context.facts.has_bank_statement:
            out.append(Finding("NO_BANK_STATEMENT", 1.0, "no bank statement supplied", (Evidence("documents"),)))
        ratio = context.facts.income_over_salary
        if ratio is not None and ratio > 1.15:
            out.append(Finding(
                "INCOME_ABOVE_OWN_SALARY", min(1.0, (ratio - 1.15) / 0.5),
                f"declared income is {ratio:.1f}x the median salary deposit of the statement",
                (Evidence("applicant.monthly_income", f"x{ratio:.2f}", detail="declared over median salary"),),
            ))
        out.extend(self._graph_findings(context))
        return out

    def _graph_findings(self, context: ScoringContext) -> list[Finding]:
        links = context.links
        if links is None:
            return []
        out = []
        days = f"{links.window_days:g} days"
        person = links.person
        if person is not None and person.recent:
            out.append(Finding(
                "ID_VELOCITY", min(1.0, person.recent / 2),
                f"the same id applied {person.recent} more time(s) within {days}",
                tuple(Evidence("applicant.id_number", person.display, neighbour=n) for n in person.sample[:3]),
            ))
            if person.recent_dealers >= 2:
                out.append(Finding(
                    "ID_SEVERAL_DEALERS", min(1.0, (person.recent_dealers - 1) / 2),
                    f"the same id applied at {person.recent_dealers} dealer(s) within {days}",
                    (Evidence("dealer_id", str(person.recent_dealers), detail="distinct dealers"),),
                ))
        phone = links.phone
        if phone is not None and phone.as_applicant_phone and phone.identities:
            out.append(Finding(
                "PHONE_OTHER_IDENTITIES", min(1.0, phone.identities / 2),
                f"phone {phone.display} is also the phone of {phone.identities} other identit(ies)",
                tuple(Evidence("applicant.phone", phone.display, neighbour=n) for n in phone.sample[:3]),
            ))
        device = links.device
        if device is not None and device.identities:
            out.append(Finding(
                "DEVICE_OTHER_IDENTITIES", min(1.0, device.identities / 2),
                f"the device was used by {device.identities} other identit(ies)",
                tuple(Evidence("applicant.device_id", "device", neighbour=n) for n in device.sample[:3]),
            ))
        return out
