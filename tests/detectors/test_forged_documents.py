from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from detectors import ForgedDocumentsDetector
from detectors.context import build_context
from detectors.pdf import parse_pdf_date, read_pdf_facts
from tianwang.application import parse_application
from tianwang.scoring.persistence import InMemoryDocumentIndex

from ..builders import T0, application
from .quality import held_out_quality


def _statement(**fields: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "type": "bank_statement", "sha256": "ab" * 32, "producer": "iText 5.5.13",
        "created_at": (T0 - timedelta(days=3)).isoformat(), "modified_at": (T0 - timedelta(days=3)).isoformat(),
        "template_id": "ICBC-STMT-2024", "issuer_name": "中国工商银行",
        "monthly_deposits": [17012.31, 17769.95, 16996.7], "salary_deposits": [17012.31, 17769.95, 16996.7],
    }
    doc.update(fields)
    return doc


def test_a_genuine_statement_raises_nothing(context_of) -> None:
    vote = ForgedDocumentsDetector().score(context_of(1, documents=[_statement()]))
    assert vote.codes == []


def test_income_far_above_salary_and_round_deposits(context_of) -> None:
    vote = ForgedDocumentsDetector().score(context_of(1, documents=[_statement(
        salary_deposits=[6000.0, 6000.0, 6000.0], monthly_deposits=[6000.0, 6000.0, 6000.0])]))
    assert {"INCOME_ABOVE_SALARY", "ROUND_REGULAR_DEPOSITS"} <= set(vote.codes)
    assert "3.0x" in next(r.text for r in vote.reasons if r.code == "INCOME_ABOVE_SALARY")


def test_producer_template_and_modification(context_of) -> None:
    vote = ForgedDocumentsDetector().score(context_of(1, documents=[_statement(
        producer="Adobe Photoshop 24.0 (Windows)", template_id="CCB-DZD-V8",
        modified_at=(T0 + timedelta(days=9)).isoformat())]))
    assert {"EDITING_TOOL_PRODUCER", "TEMPLATE_OF_OTHER_BANK", "MODIFIED_AFTER_CREATION"} <= set(vote.codes)


def test_seal_of_another_company_and_of_a_staffing_agency(context_of) -> None:
    detector = ForgedDocumentsDetector()
    other = detector.score(context_of(1, documents=[{"type": "income_proof", "seal_company": "上海远洋物流有限公司"}]))
    agency_seal = "北京外企人力资源服务有限公司"
    agency = detector.score(context_of(1, documents=[{"type": "income_proof", "seal_company": agency_seal}]))
    own = detector.score(context_of(1, documents=[{"type": "income_proof", "seal_company": "北京星河科技有限公司"}]))
    assert other.codes == ["SEAL_NOT_EMPLOYER"]
    assert agency.codes == ["SEAL_OF_AGENCY"] and agency.score < other.score
    assert own.codes == []


def test_the_same_file_from_another_identity(keyer) -> None:
    index = InMemoryDocumentIndex()
    first = parse_application(application(1, documents=[_statement()]))
    second = parse_application(application(2, documents=[_statement()]))
    first_context = build_context(first, keyer, documents=index)
    index.add("ab" * 32, first_context.keys.id_hash, first.submitted_ts)
    same_person_again = build_context(first, keyer, documents=index)
    other_person = build_context(second, keyer, documents=index)
    detector = ForgedDocumentsDetector()
    assert "DOCUMENT_REUSED" not in detector.score(same_person_again).codes
    assert "DOCUMENT_REUSED" in detector.score(other_person).codes


def _pdf(producer: str, created: str, modified: str, updates: int) -> bytes:
    """A one-page PDF, then ``updates`` incremental updates (each appends a revision ending in %%EOF)."""
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Producer": "iText 5.5.13", "/CreationDate": created, "/ModDate": created})
    buffer = io.BytesIO()
    writer.write(buffer)
    raw = buffer.getvalue()
    for _ in range(updates):
        editor = pypdf.PdfWriter(io.BytesIO(raw), incremental=True)
        editor.add_metadata({"/Producer": producer, "/ModDate": modified})
        buffer = io.BytesIO()
        editor.write(buffer)
        raw = buffer.getvalue()
    return raw


def test_pdf_metadata_is_read_with_a_pdf_library() -> None:
    facts = read_pdf_facts(_pdf("PDFelement 9", "D:20260101090000+08'00'", "D:20260120100000+08'00'", 1))
    assert facts.readable and facts.producer == "PDFelement 9"
    assert facts.created_at == datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=8)))
    assert facts.incremental_updates == 1
    assert parse_pdf_date("garbage") is None
    assert not read_pdf_facts(b"%PDF-1.7 broken").readable or read_pdf_facts(b"%PDF-1.7 broken").producer is None


def test_a_raw_pdf_attachment_feeds_the_checks(keyer) -> None:
    raw = _pdf("Smallpdf.com", "D:20260101090000+08'00'", "D:20260125100000+08'00'", 1)
    doc = {"type": "bank_statement", "sha256": "cd" * 32, "issuer_name": "中国工商银行"}
    app = parse_application(application(1, documents=[doc]))
    vote = ForgedDocumentsDetector().score(build_context(app, keyer, attachments={"cd" * 32: raw}))
    assert {"EDITING_TOOL_PRODUCER", "MODIFIED_AFTER_CREATION", "PDF_INCREMENTAL_UPDATES"} <= set(vote.codes)


def test_fit_learns_issuer_profiles(generated_contexts) -> None:
    detector = ForgedDocumentsDetector()
    detector.fit(generated_contexts[:3000])
    assert detector.fit_details["issuers_profiled"] >= 3


def test_quality_floor_on_generated_data(generated_contexts) -> None:
    auc, recall = held_out_quality(ForgedDocumentsDetector({"target_typologies": ["forged_documents"]}),
                                   generated_contexts, "forged_documents")
    assert auc >= 0.93
    assert recall >= 0.5
