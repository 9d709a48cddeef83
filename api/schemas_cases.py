"""The bodies of the cases, verdicts and outcomes endpoints (each with an example)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tianwang.application import APPLICATION_ID_PATTERN

__all__ = ["AssignIn", "CaseDetailOut", "CaseOut", "CloseIn", "NoteIn", "OutcomeIn", "OutcomeOut", "RevealIn",
           "RevealOut", "RingCaseIn", "SnoozeIn", "VerdictIn", "VerdictOut"]

_CASE_EXAMPLE: dict[str, Any] = {
    "case_id": "case_019ae2b1c4d3a1b2c3d4e5f6", "kind": "application", "application_id": "APP-2026-000123",
    "ring_id": None, "decision_id": "dec_019ae2b1c4d3a1b2c3d4e5f6", "status": "in_progress", "risk": 612,
    "title": "application APP-2026-000123", "assignee": "li.na", "snoozed_until": None, "outcome": None,
    "typology": None, "hold_funding": True, "verification_tasks": ["proof_of_income"],
    "opened_at": "2026-03-01T01:00:00+00:00", "updated_at": "2026-03-01T02:00:00+00:00",
    "due_at": "2026-03-02T01:00:00+00:00", "closed_at": None, "age_seconds": 3600, "overdue": False,
}

CaseKind = Literal["application", "ring"]
CaseStatus = Literal["open", "in_progress", "closed"]
CaseOutcome = Literal["confirmed_fraud", "false_positive", "verified_legitimate"]


class CaseOut(BaseModel):
    """A case as the queue shows it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CASE_EXAMPLE]})

    case_id: str
    kind: CaseKind
    application_id: str | None = None
    ring_id: str | None = None
    decision_id: str | None = None
    status: CaseStatus
    risk: int = Field(description="The fraud score (0-1000); a ring's risk times 1000.")
    title: str
    assignee: str | None = None
    snoozed_until: str | None = None
    outcome: CaseOutcome | None = None
    typology: str | None = None
    hold_funding: bool
    verification_tasks: list[Any]
    opened_at: str
    updated_at: str
    due_at: str | None = Field(None, description="When the case should be reviewed by (24 h after opening).")
    closed_at: str | None = None
    age_seconds: int = Field(description="Seconds since it opened (until it closed).")
    overdue: bool = Field(description="Still open after `due_at`.")
    verdict_id: str | None = Field(None, description="On closing: the verdict recorded.")
    event_id: str | None = Field(None, description="On closing an application's case: the webhook event's id.")


class TimelineEvent(BaseModel):
    at: str
    actor: str
    kind: str = Field(examples=["opened", "assigned", "note", "snoozed", "closed"])
    detail: dict[str, Any]


class RingMemberOut(BaseModel):
    applicant: str = Field(description="The member's identity number, masked.", examples=["110***********0016"])
    applications: list[str]
    joined_since_last_review: bool


class RingDetailOut(BaseModel):
    ring_id: str
    ring_risk: float
    ring_found: bool = Field(description="False when no ring run knows the ring any more (its members are gone).")
    members: list[RingMemberOut]
    joined_since_last_review: list[RingMemberOut] = Field(
        description="Members that joined the ring after the case was last reviewed (opened or closed).")
    left_since_last_review: list[RingMemberOut] = Field(description="Members reviewed then, in no ring now.")
    last_reviewed_at: str | None = None


class MatchedOut(BaseModel):
    kind: str = Field(description="What both applications link to: Dealer, Employer, Phone, Device, Address ...")
    value: str = Field(description="Masked when personal.")


class SimilarFraudOut(BaseModel):
    """A confirmed fraud case near the application (the known-fraud similarity detector's evidence)."""

    application_id: str
    distance: float | None = None
    typology: str | None = Field(None, description="From its fraud verdict.")
    matched: list[MatchedOut] = Field(description="What it shares with the case's application in the graph.")


class CaseDetailOut(CaseOut):
    """A case with its decision (evidence masked), its timeline and, for a ring, its members."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_CASE_EXAMPLE, "decision": None, "ring": None,
        "timeline": [{"at": "2026-03-01T01:00:00+00:00", "actor": "system", "kind": "opened",
                      "detail": {"decision_id": "dec_019ae2b1c4d3a1b2c3d4e5f6", "band": "review"}}]}]})

    decision: dict[str, Any] | None = Field(None, description="The decision as scoring answered it (masked).")
    timeline: list[TimelineEvent]
    ring: RingDetailOut | None = None
    similar_fraud: list[SimilarFraudOut] = Field(
        default_factory=list, description="An application's case: the nearest confirmed fraud cases and what "
                                          "they share with it (empty when the detector found none).")


class RingCaseIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"ring_id": "R-000042"}]})

    ring_id: str = Field(min_length=1, max_length=64)


class AssignIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"assignee": "li.na"}]})

    assignee: str | None = Field(None, max_length=64, description="A name; null puts the case back in the queue.")


class NoteIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "Called the employer: no such employee."}]})

    text: str = Field(min_length=1, max_length=4000)


class SnoozeIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"until": "2026-03-03T09:00:00+08:00"}]})

    until: datetime = Field(description="With its offset; the case leaves the queue until then.")


class RevealIn(BaseModel):
    """One raw value to reveal from the vault."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"field": "applicant.phone"},
        {"application_id": "APP-2026-000123", "field": "applicant.emergency_contacts[0].phone"}]})

    application_id: str | None = Field(
        None, min_length=1, max_length=64, pattern=APPLICATION_ID_PATTERN,
        description="The application (default: an application case's own; a ring's case needs a member's).")
    field: str = Field(min_length=1, max_length=64, description=(
        "The field's schema path: `applicant.id_number`, `applicant.name`, `applicant.phone`, "
        "`applicant.id_registered_phone`, `applicant.address`, `applicant.bank_account`, "
        "`applicant.emergency_contacts[N].name`, `applicant.emergency_contacts[N].phone`, "
        "`vehicle.user_id_number`."))


class RevealOut(BaseModel):
    """A raw value from the vault (answered with `Cache-Control: no-store`; the reveal is audited)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "case_id": "case_019ae2b1c4d3a1b2c3d4e5f6", "application_id": "APP-2026-000123",
        "field": "applicant.phone", "value": "13912345678"}]})

    case_id: str
    application_id: str
    field: str
    value: str = Field(description="The raw value, as the application held it (normalised).")


class VerificationIn(BaseModel):
    """A verification task asked of the applicant."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"task": "proof_of_income"}]})

    task: Literal["proof_of_income", "employment_check", "identity_check"]
    note: str | None = Field(None, max_length=4000)


class HoldIn(BaseModel):
    """Hold the dealer's funding until the case closes (or release it)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"hold": True}]})

    hold: bool
    note: str | None = Field(None, max_length=4000)


class CloseIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"outcome": "confirmed_fraud", "typology": "synthetic_identity", "note": "Payslips forged."}]})

    outcome: CaseOutcome
    typology: str | None = Field(None, max_length=64, description="Required for confirmed_fraud.")
    note: str | None = Field(None, max_length=4000)


class VerdictIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"application_id": "APP-2026-000123", "fraud": True, "typology": "synthetic_identity"}]})

    application_id: str | None = Field(None, min_length=1, max_length=64, pattern=APPLICATION_ID_PATTERN)
    ring_id: str | None = Field(None, min_length=1, max_length=64)
    fraud: bool
    typology: str | None = Field(None, max_length=64, description="Required when fraud is true.")


class VerdictOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "verdict_id": "vrd_019ae2b1c4d3a1b2c3d4e5f6", "application_id": "APP-2026-000123", "ring_id": None,
        "case_id": None, "fraud": True, "typology": "synthetic_identity", "source": "api", "actor": "li.na",
        "at": "2026-03-01T02:00:00+00:00", "applications": ["APP-2026-000123"], "detectors_informed": 1}]})

    verdict_id: str
    application_id: str | None = None
    ring_id: str | None = None
    case_id: str | None = None
    fraud: bool
    typology: str | None = None
    source: Literal["api", "case"]
    actor: str
    at: str
    applications: list[str]
    detectors_informed: int | None = Field(None, description="Applications the running pipeline knew.")


class OutcomeIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"application_id": "APP-2026-000123", "kind": "first_payment_default", "observed_on": "2026-04-15"}]})

    application_id: str = Field(min_length=1, max_length=64, pattern=APPLICATION_ID_PATTERN)
    kind: Literal["first_payment_default", "early_default", "charge_off", "paid_as_agreed"]
    observed_on: date


class OutcomeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "outcome_id": "out_019ae2b1c4d3a1b2c3d4e5f6", "application_id": "APP-2026-000123",
        "kind": "first_payment_default", "observed_on": "2026-04-15", "counts_as_fraud": True,
        "at": "2026-04-16T02:00:00+00:00", "detectors_informed": 1}]})

    outcome_id: str
    application_id: str
    kind: str
    observed_on: str
    counts_as_fraud: bool = Field(description="Whether it counts as fraud in the training labels.")
    at: str
    detectors_informed: int = Field(0, description="1 when it reached the running detectors as a fraud label.")
