"""The bodies the service answers with (request bodies are schema v1 or small models here).

Every model has an example, so the OpenAPI document shows one for every body.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ActionOut",
    "DecisionOut",
    "ErrorDetail",
    "ErrorOut",
    "LoginIn",
    "LoginOut",
    "Page",
    "PageInfo",
    "PrincipalOut",
    "ReasonOut",
    "SessionOut",
]

T = TypeVar("T")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable error code.", examples=["invalid_application"])
    message: str = Field(description="What went wrong, for a person; never echoes a submitted value.")
    field: str | None = Field(None, description="The schema path of the field to blame, if one is.",
                              examples=["applicant.phone"])
    fields: list[Any] | None = Field(None, description="Every field to blame, when there are several.")


class ErrorOut(BaseModel):
    """An error answer."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"error": {
        "code": "invalid_application", "message": "application is invalid (1 bad field(s)): applicant.phone: "
        "not a mainland China mobile number", "field": "applicant.phone",
        "fields": [{"field": "applicant.phone", "message": "not a mainland China mobile number"}]}}]})

    error: ErrorDetail


class PageInfo(BaseModel):
    has_more: bool = Field(description="Whether another page follows.")
    next: str | None = Field(None, description="The cursor of the next page (pass it as `cursor`).")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``data`` and the cursor of the next page."""

    data: list[T]
    pagination: PageInfo


class EvidenceOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    field: str | None = None
    value: Any = Field(None, description="Masked when personal.")
    neighbour: Any = None
    detail: Any = None


class ReasonOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    detector: str
    code: str = Field(examples=["INCOME_ABOVE_SALARY"])
    text: str
    strength: float
    evidence: list[EvidenceOut] = []


class VerificationTask(BaseModel):
    task: Literal["proof_of_income", "employment_check", "identity_check"]
    reasons: list[str] = Field(description="The reason codes that asked for the task.")


class ActionOut(BaseModel):
    type: Literal["approve", "approve_with_verification", "review", "reject"]
    verification_tasks: list[VerificationTask] = []
    hold_funding: bool = Field(False, description="Do not pay the dealer until the case closes.")


class DegradedOut(BaseModel):
    """How a decision was made without the graph store (it was down or too slow)."""

    graph: Literal["unavailable"]
    why: str = Field(description="What the store did: refused the connection, did not answer in time...")
    detectors: list[str] = Field(description="The active detectors that read the graph and did not run.")
    band_raised: bool = Field(description="Whether an approve became a review for want of graph evidence "
                                          "(`degraded.approve` in the scoring configuration).")
    outbox: bool = Field(description="The application waits in the graph outbox and is written when the store "
                                     "answers again.")


class LeftOut(BaseModel):
    detector: str
    status: str
    why: str


_DECISION_EXAMPLE: dict[str, Any] = {
    "decision_id": "dec_019ae2b1c4d3a1b2c3d4e5f6", "application_id": "APP-EXAMPLE-0001",
    "submitted_at": "2026-03-01T10:15:00+08:00", "fraud_score": 612, "band": "review",
    "action": {"type": "review", "hold_funding": True,
               "verification_tasks": [{"task": "proof_of_income", "reasons": ["INCOME_ABOVE_SALARY"]}]},
    "reasons": [{"detector": "rules", "code": "RISKY_DEALER", "text": "the dealer's recent fraud rate is high",
                 "strength": 0.8, "evidence": [{"field": "dealer_id", "value": "D-0042"}]}],
    "votes": [{"detector": "rules", "version": "1", "mode": "active", "layer": "fast", "status": "ok", "ms": 0.4,
               "voting": True, "weight": 1.0, "contribution": 1.2}],
    "left_out": [], "strategy": "default", "config_version": "c0ffee", "bundle": None,
    "timings_ms": {"validate": 0.2, "upsert": 0.9, "total": 4.1}, "decided_at": "2026-03-01T02:15:00.120000+00:00",
    "status": "pending", "final_action": None, "finalized_at": None, "case_id": "case_019ae2b1c4d3a1b2c3d4e5f7",
}


class DecisionOut(BaseModel):
    """A decision: the score, band, action, reasons, every detector's vote and what was left out."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_DECISION_EXAMPLE]})

    decision_id: str
    application_id: str
    submitted_at: str
    fraud_score: int = Field(ge=0, le=1000, description="0 (clean) to 1000 (certain fraud).")
    band: Literal["approve", "review", "reject"]
    action: ActionOut
    reasons: list[ReasonOut]
    votes: list[dict[str, Any]] = Field(description="Every detector's vote, or why it did not vote.")
    left_out: list[LeftOut] = Field(description="Active detectors that did not vote, and why.")
    strategy: str
    config_version: str
    bundle: str | None = Field(None, description="The model bundle that made the decision.")
    timings_ms: dict[str, float]
    decided_at: str
    status: Literal["final", "pending", "finalized"] = Field(
        description="`final`: the answer stands; `pending`: a case is open; `finalized`: the case closed.")
    final_action: str | None = Field(None, description="After the case closed: approve or reject.")
    finalized_at: str | None = None
    case_id: str | None = None
    degraded: DegradedOut | None = Field(None, description="Set when the graph store could not be reached: "
                                         "the decision was made without the detectors that read the graph.")


class LoginIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"username": "li.na", "password": "a long passphrase"}]})

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class PrincipalOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "usr_019ae2b1c4d3a1b2c3d4e5f6", "kind": "user", "name": "li.na", "roles": ["investigator"]}]})

    id: str
    kind: Literal["user", "key"]
    name: str
    roles: list[str]


class SessionOut(BaseModel):
    """The workbench's session: the person, and the anti-forgery token for ``X-CSRF-Token``
    (both null when there is no session)."""

    user: PrincipalOut | None
    csrf_token: str | None = Field(description="Send it in `X-CSRF-Token` with every change made with the cookie.")
    expires_in: int = Field(description="Seconds the session lasts (0 without one).")


class LoginOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"token": "twt_eyJzdWIiOi...c2f1", "token_type": "bearer", "expires_in": 28800,
         "user": {"id": "usr_019ae2b1c4d3a1b2c3d4e5f6", "kind": "user", "name": "li.na", "roles": ["investigator"]}}]})

    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: PrincipalOut
