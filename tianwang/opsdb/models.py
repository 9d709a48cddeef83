"""The tables of the operational database (SQLAlchemy 2, declarative).

One class per table; Alembic migrations in ``migrations/versions`` create them (the
schema is never created from these classes at run time). Times are timezone-aware UTC.
Nothing here holds a raw identity number, phone, bank account or name: applications
are named by their id, people on watchlists by HMAC keys and masked hints; the vault
holds such values only sealed (ciphertexts bound to their application and field).

| table | holds |
| --- | --- |
| ``decisions`` | every decision, one per application id (scoring is idempotent) |
| ``cases``, ``case_events`` | investigators' cases (an application or a ring) and their timeline |
| ``verdicts``, ``outcomes`` | labels: investigators' verdicts and delayed repayment outcomes |
| ``audit_log`` | append-only: who read or changed what, when |
| ``users``, ``api_keys`` | people (hashed passwords) and systems (hashed keys) with roles |
| ``config_versions`` | configuration proposals, reviews and the active version |
| ``model_bundles`` | trained bundles and which one is active |
| ``webhook_outbox`` | events waiting for (or done with) delivery |
| ``jobs`` | batch jobs started through the API |
| ``vault_entries`` | raw personal values sealed with AES-256-GCM (:mod:`tianwang.vault`), each naming its key |
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKey",
    "AuditChain",
    "AuditEntry",
    "Base",
    "Case",
    "CaseEvent",
    "ConfigVersion",
    "DecisionRow",
    "Job",
    "ModelBundle",
    "OutboxEvent",
    "Outcome",
    "User",
    "VaultEntry",
    "Verdict",
    "utcnow",
]


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps none: it is added back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give operational timestamps in UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: Json, list[Any]: Json}


class DecisionRow(Base):
    """A decision as the approval system received it, and its final outcome once a case closed."""

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), unique=True)
    decided_at: Mapped[datetime] = mapped_column(index=True)
    submitted_at: Mapped[str] = mapped_column(String(40))
    dealer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    fraud_score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(16), index=True)
    action: Mapped[str] = mapped_column(String(40))
    strategy: Mapped[str] = mapped_column(String(64))
    config_version: Mapped[str] = mapped_column(String(64))
    bundle: Mapped[str | None] = mapped_column(String(128))
    record: Mapped[dict[str, Any]]
    #: ``final`` when the first answer stands, ``pending`` while a case is open, ``finalized`` after it closed
    status: Mapped[str] = mapped_column(String(16), default="final")
    final_action: Mapped[str | None] = mapped_column(String(40))
    finalized_at: Mapped[datetime | None]
    case_id: Mapped[str | None] = mapped_column(String(40))


_OPEN_RING_CASE = text("kind = 'ring' AND status != 'closed'")


class Case(Base):
    """An investigator's case: one application under review, or a ring with all its members."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("cases_queue", "status", "risk", "opened_at"),
        # one open case per ring: two investigators opening a ring's case at once get the same one
        Index("one_open_case_per_ring", "ring_id", unique=True, sqlite_where=_OPEN_RING_CASE,
              postgresql_where=_OPEN_RING_CASE),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # application | ring
    application_id: Mapped[str | None] = mapped_column(String(64), index=True)
    ring_id: Mapped[str | None] = mapped_column(String(64), index=True)
    decision_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | in_progress | closed
    risk: Mapped[int] = mapped_column(Integer, default=0)  # the fraud score, 0-1000
    title: Mapped[str] = mapped_column(String(200), default="")
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    snoozed_until: Mapped[datetime | None]
    #: confirmed_fraud | false_positive | verified_legitimate, once closed
    outcome: Mapped[str | None] = mapped_column(String(32))
    typology: Mapped[str | None] = mapped_column(String(64))
    hold_funding: Mapped[bool] = mapped_column(Boolean, default=False)
    verification_tasks: Mapped[list[Any]] = mapped_column(default=list)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    #: when the case was last opened for review, and the ring's members then (ring cases)
    last_reviewed_at: Mapped[datetime | None]
    reviewed_members: Mapped[list[Any]] = mapped_column(default=list)


class CaseEvent(Base):
    """One entry of a case's timeline."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Verdict(Base):
    """An investigator's verdict on an application or a ring (all its members)."""

    __tablename__ = "verdicts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[str | None] = mapped_column(String(64), index=True)
    ring_id: Mapped[str | None] = mapped_column(String(64), index=True)
    case_id: Mapped[str | None] = mapped_column(String(40))
    fraud: Mapped[bool] = mapped_column(Boolean)
    typology: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # case | api
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
    applications: Mapped[list[Any]] = mapped_column(default=list)  # every application it labelled


class Outcome(Base):
    """A delayed repayment outcome of an application (a label that arrives weeks later)."""

    __tablename__ = "outcomes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), index=True)
    #: first_payment_default | early_default | charge_off | paid_as_agreed
    kind: Mapped[str] = mapped_column(String(32))
    observed_on: Mapped[str] = mapped_column(String(10))  # ISO date
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditEntry(Base):
    """One line of the append-only audit log (the database refuses updates and deletes)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_ids: Mapped[list[Any]] = mapped_column(default=list)
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the hash of the line before (the chain's start: 64 zeros); null on lines older than the chain
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    #: sha256 of ``prev_hash`` and this line's content (:func:`tianwang.service.audit.line_hash`)
    hash: Mapped[str | None] = mapped_column(String(64), default=None)


class AuditChain(Base):
    """The head of the audit log's hash chain: one row, updated by every line in the line's transaction, so
    lines join the chain one at a time (the update holds the row until the transaction ends)."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    """A person who logs in (investigator, analyst, approver, admin)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiKey(Base):
    """A system's API key: only its hash is kept; ``prefix`` names it (shown in lists and logs)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    client: Mapped[str] = mapped_column(String(64), index=True)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class ConfigVersion(Base):
    """A version of the scoring configuration: proposed, reviewed (maker-checker), active or superseded."""

    __tablename__ = "config_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)  # the YAML file
    summary: Mapped[str] = mapped_column(String(500), default="")
    #: proposed | active | rejected | superseded | withdrawn
    status: Mapped[str] = mapped_column(String(16), index=True)
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime]
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str | None] = mapped_column(String(500))
    activated_at: Mapped[datetime | None]
    backtest: Mapped[dict[str, Any] | None] = mapped_column(Json)


class ModelBundle(Base):
    """A trained model bundle (a folder under the bundle directory) and whether it is the active one."""

    __tablename__ = "model_bundles"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime]
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    data_range: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    activated_at: Mapped[datetime | None]
    activated_by: Mapped[str | None] = mapped_column(String(64))


class OutboxEvent(Base):
    """A webhook event in the durable outbox: pending until the receiver answers 2xx."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (Index("outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the event id receivers dedupe on
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))


class Job(Base):
    """A batch job (ring detection, training, index rebuild, backtest) started through the API."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued | running | succeeded | failed
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(Json)
    error: Mapped[str | None] = mapped_column(String(1000))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class VaultEntry(Base):
    """One raw personal value of an application, sealed (AES-256-GCM under the key ``key_id``, its additional
    data binding it to ``application_id`` and ``field``): written with the application's decision, opened only
    by an investigator's audited reveal, re-sealed by ``tianwang vault rotate``."""

    __tablename__ = "vault_entries"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: the schema path, e.g. ``applicant.phone``, ``applicant.emergency_contacts[0].name``
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_at: Mapped[datetime]
