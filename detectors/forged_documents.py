"""Forged documents: bank statements and income proofs that were made up or edited.

Signals (default log-odds weights in :attr:`ForgedDocumentsDetector.SIGNALS`):

* declared income well above the salary deposits of the statement (or, with no
  salary paid in, above its deposits), or above the income the document itself states;
* deposits that are large, round and equal every month, unlike a salary;
* a statement whose producer is an editing tool, or whose template belongs to
  another bank than its issuer; after :meth:`~detectors.base.Detector.fit`, also a
  producer or template never seen from that issuer in legitimate history;
* a document modified long after it was created; a raw PDF (see :mod:`detectors.pdf`)
  with incremental updates;
* an income proof sealed by a company other than the declared employer (a staffing
  agency's seal is a weak signal: dispatched staff are common);
* the same document file submitted by another identity.

Examples
--------
>>> ForgedDocumentsDetector.layer
'deep'
>>> _template_bank("ICBC-STMT-2024")
'ICBC'
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from detectors.base import Evidence
from detectors.context import LabelledContext, ScoringContext
from detectors.pdf import read_pdf_facts
from detectors.pdf_worker import pdf_workers
from detectors.signals import Finding, SignalDetector, SignalSettings
from tianwang.application import Document

__all__ = ["BANK_CODES", "EDITING_TOOLS", "ForgedDocumentsDetector", "ForgedDocumentsSettings"]

#: Statement-template prefixes of Chinese banks, by the bank's name as it appears on statements.
BANK_CODES: dict[str, str] = {
    "中国工商银行": "ICBC", "中国建设银行": "CCB", "中国农业银行": "ABC", "中国银行": "BOC",
    "交通银行": "BOCOM", "招商银行": "CMB", "中国邮政储蓄银行": "PSBC", "兴业银行": "CIB",
    "上海浦东发展银行": "SPDB", "中信银行": "CITIC", "中国光大银行": "CEB", "中国民生银行": "CMBC",
    "华夏银行": "HXB", "平安银行": "PAB", "广发银行": "CGB", "北京银行": "BOB",
}

#: Producers of general-purpose editors: a bank's statement system does not write these.
EDITING_TOOLS: tuple[str, ...] = (
    "photoshop", "acrobat pro", "acrobat standard", "pdfelement", "smallpdf", "ilovepdf", "foxit phantom",
    "foxit pdf editor", "pdf-xchange", "nitro", "gimp", "canva", "microsoft word", "wps office", "sejda",
)

_AGENCY = re.compile(r"劳务派遣|人力资源|劳务|外包|人才服务")
_COMPANY_SUFFIX = re.compile(r"(股份)?有限(责任)?公司|集团|分公司|\s")
_MIN_ISSUER_DOCS = 30


def _template_bank(template_id: str) -> str:
    return template_id.split("-", 1)[0].upper()


def _company(name: str) -> str:
    return _COMPANY_SUFFIX.sub("", name).upper()


def _is_editing_tool(producer: str) -> bool:
    lowered = producer.lower()
    return any(tool in lowered for tool in EDITING_TOOLS)


def _round_and_regular(deposits: Sequence[float]) -> bool:
    """At least three deposits, all equal, a multiple of 100: a transfer made to look like pay."""
    return len(deposits) >= 3 and len(set(deposits)) == 1 and deposits[0] >= 1000 and deposits[0] % 100 == 0


class ForgedDocumentsSettings(SignalSettings):
    """``pdf_ms``: the time one call may spend reading raw PDF attachments, all of them together.

    Keep it below the detector's ``budget_ms``: PDFs are read in worker processes
    (:mod:`detectors.pdf_worker`), and one not read in this time is left unread.
    """

    pdf_ms: float = Field(default=40.0, gt=0, le=10_000)


class ForgedDocumentsDetector(SignalDetector):
    """Flags supporting documents that look made up or edited.

    Building one starts the PDF worker processes (pypdf is imported there, at start-up,
    not in the first call's budget).
    """

    name = "forged_documents"
    version = "1"
    layer = "deep"
    SIGNALS: ClassVar[dict[str, float]] = {
        "INCOME_ABOVE_SALARY": 3.0,
        "INCOME_ABOVE_DEPOSITS": 1.5,
        "INCOME_ABOVE_STATED": 1.5,
        "ROUND_REGULAR_DEPOSITS": 2.0,
        "EDITING_TOOL_PRODUCER": 3.0,
        "TEMPLATE_OF_OTHER_BANK": 3.0,
        "UNSEEN_PRODUCER_FOR_ISSUER": 1.5,
        "UNSEEN_TEMPLATE_FOR_ISSUER": 1.5,
        "MODIFIED_AFTER_CREATION": 2.5,
        "PDF_INCREMENTAL_UPDATES": 2.0,
        "SEAL_NOT_EMPLOYER": 2.5,
        "SEAL_OF_AGENCY": 0.5,
        "DOCUMENT_REUSED": 3.0,
    }
    Settings = ForgedDocumentsSettings

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        pdf_workers()
        self._issuer_docs: Counter[str] = Counter()
        self._issuer_producers: set[tuple[str, str]] = set()
        self._issuer_templates: set[tuple[str, str]] = set()

    def runs_inline(self, context: ScoringContext) -> bool:
        """Inline unless there are attachments: reading PDFs waits on the PDF worker processes."""
        return not context.attachments

    def confidence(self, context: ScoringContext) -> float:
        return 1.0 if context.application.documents else 0.2

    def _fit(self, history: Sequence[LabelledContext]) -> dict[str, Any] | None:
        issuer_docs: Counter[str] = Counter()
        producers: set[tuple[str, str]] = set()
        templates: set[tuple[str, str]] = set()
        for item in history:
            if item.fraud:
                continue
            for doc in item.context.application.documents:
                if doc.type == "bank_statement" and doc.issuer_name:
                    issuer_docs[doc.issuer_name] += 1
                    if doc.producer:
                        producers.add((doc.issuer_name, doc.producer))
                    if doc.template_id:
                        templates.add((doc.issuer_name, doc.template_id))
        self._issuer_docs, self._issuer_producers, self._issuer_templates = issuer_docs, producers, templates
        details = super()._fit(history) or {}
        details["issuers_profiled"] = sum(1 for n in issuer_docs.values() if n >= _MIN_ISSUER_DOCS)
        return details

    def findings(self, context: ScoringContext) -> list[Finding]:
        app = context.application
        out: list[Finding] = []
        income = app.applicant.monthly_income
        ratio = context.facts.income_over_salary
        if ratio is not None and ratio > 1.25:
            out.append(Finding(
                "INCOME_ABOVE_SALARY", min(1.0, (ratio - 1.25) / 0.75),
                f"declared income {income:,.0f} is {ratio:.1f}x the median salary deposit",
                (Evidence("applicant.monthly_income", f"{income:,.0f}"),
                 Evidence("documents[].salary_deposits", f"x{ratio:.2f}", detail="declared over median salary")),
            ))
        inflow = context.facts.income_over_deposits
        if ratio is None and inflow is not None and inflow > 1.25:
            out.append(Finding(
                "INCOME_ABOVE_DEPOSITS", min(1.0, (inflow - 1.25) / 0.75) if math.isfinite(inflow) else 1.0,
                f"declared income {income:,.0f} is {inflow:.1f}x the median monthly deposit, and no salary is paid in",
                (Evidence("documents[].monthly_deposits", f"x{inflow:.2f}", detail="declared over median deposit"),),
            ))
        pdf_deadline = time.monotonic() + self.settings.pdf_ms / 1000
        for i, doc in enumerate(app.documents):
            out.extend(self._document_findings(context, i, doc, pdf_deadline))
        return out

    def _document_findings(self, context: ScoringContext, i: int, doc: Document,
                           pdf_deadline: float) -> list[Finding]:
        app = context.application
        where = f"documents[{i}]"
        kind = doc.type or "document"
        out: list[Finding] = []
        income = app.applicant.monthly_income
        if doc.stated_monthly_income and income > 1.25 * doc.stated_monthly_income:
            out.append(Finding("INCOME_ABOVE_STATED", 1.0,
                               f"declared income {income:,.0f} is above the {kind}'s {doc.stated_monthly_income:,.0f}",
                               (Evidence(f"{where}.stated_monthly_income", f"{doc.stated_monthly_income:,.0f}"),)))
        for field in ("monthly_deposits", "salary_deposits"):
            deposits = getattr(doc, field) or []
            if _round_and_regular(deposits):
                out.append(Finding(
                    "ROUND_REGULAR_DEPOSITS", 1.0,
                    f"{len(deposits)} equal round deposits of {deposits[0]:,.0f}, unlike a salary",
                    (Evidence(f"{where}.{field}", f"{len(deposits)} x {deposits[0]:,.0f}"),),
                ))
                break
        producer, created, modified, updates = doc.producer, doc.created_at, doc.modified_at, 0
        raw = context.attachments.get(doc.sha256 or "")
        if raw is not None:
            pdf = read_pdf_facts(raw, timeout=max(pdf_deadline - time.monotonic(), 0.0))
            producer = producer or pdf.producer
            created, modified, updates = created or pdf.created_at, modified or pdf.modified_at, pdf.incremental_updates
        if doc.type == "bank_statement":
            out.extend(self._statement_findings(where, doc, producer))
        if created is not None and modified is not None:
            gap_days = (modified - created).total_seconds() / 86400
            if gap_days > 1:
                out.append(Finding("MODIFIED_AFTER_CREATION", min(1.0, gap_days / 5),
                                   f"{kind} modified {gap_days:.1f} days after it was created",
                                   (Evidence(f"{where}.modified_at", f"+{gap_days:.1f} days"),)))
        if updates:
            out.append(Finding("PDF_INCREMENTAL_UPDATES", min(1.0, updates / 2),
                               f"the {kind} PDF was changed {updates} time(s) after it was written",
                               (Evidence(f"{where}.sha256", (doc.sha256 or "")[:12], detail="incremental updates"),)))
        if doc.seal_company and doc.type == "income_proof":
            employer = app.applicant.employer.name
            if _company(doc.seal_company) != _company(employer):
                agency = bool(_AGENCY.search(doc.seal_company))
                out.append(Finding(
                    "SEAL_OF_AGENCY" if agency else "SEAL_NOT_EMPLOYER", 1.0,
                    f"income proof sealed by {doc.seal_company}, not the declared employer {employer}",
                    (Evidence(f"{where}.seal_company", doc.seal_company),
                     Evidence("applicant.employer.name", employer)),
                ))
        if doc.sha256 and context.documents is not None:
            others = context.documents.other_identities(doc.sha256, context.keys.id_hash, context.as_of)
            if others:
                out.append(Finding("DOCUMENT_REUSED", min(1.0, others / 2),
                                   f"the same {kind} file was submitted by {others} other identit(ies)",
                                   (Evidence(f"{where}.sha256", doc.sha256[:12] + "…"),)))
        return out

    def _statement_findings(self, where: str, doc: Document, producer: str | None) -> list[Finding]:
        out = []
        issuer = doc.issuer_name
        if producer and _is_editing_tool(producer):
            out.append(Finding("EDITING_TOOL_PRODUCER", 1.0, f"statement produced by an editing tool ({producer})",
                               (Evidence(f"{where}.producer", producer),)))
        code = BANK_CODES.get(issuer or "")
        if doc.template_id and code and _template_bank(doc.template_id) != code:
            out.append(Finding("TEMPLATE_OF_OTHER_BANK", 1.0,
                               f"statement of {issuer} uses template {doc.template_id} of another bank",
                               (Evidence(f"{where}.template_id", doc.template_id), Evidence(f"{where}.issuer_name",
                                                                                            issuer))))
        if issuer and self._issuer_docs.get(issuer, 0) >= _MIN_ISSUER_DOCS:
            if producer and (issuer, producer) not in self._issuer_producers and not _is_editing_tool(producer):
                out.append(Finding("UNSEEN_PRODUCER_FOR_ISSUER", 1.0,
                                   f"producer {producer} never seen on genuine statements of {issuer}",
                                   (Evidence(f"{where}.producer", producer),)))
            if doc.template_id and (issuer, doc.template_id) not in self._issuer_templates:
                out.append(Finding("UNSEEN_TEMPLATE_FOR_ISSUER", 1.0,
                                   f"template {doc.template_id} never seen on genuine statements of {issuer}",
                                   (Evidence(f"{where}.template_id", doc.template_id),)))
        return out

