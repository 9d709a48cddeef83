"""The bodies of the operations endpoints: health, readiness and the audit log."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AuditEntryOut", "HealthOut", "ReadyOut"]


class HealthOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "version": "0.13.0"}]})

    status: Literal["ok"]
    version: str


class ReadyOut(BaseModel):
    """Each check's result; ``ready`` only when every check passed (else the answer is ``503``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "ready", "checks": {"graph_store": "ok", "operational_db": "ok", "configuration": "ok"}},
        {"status": "ready", "checks": {"graph_store": "degraded", "operational_db": "ok", "configuration": "ok"},
         "graph_outbox_pending": 12},
        {"status": "not_ready", "checks": {"graph_store": "ok", "operational_db": "failed",
                                           "configuration": "ok"}, "failed": ["operational_db"]}]})

    status: Literal["ready", "not_ready"]
    checks: dict[str, Literal["ok", "degraded", "failed"]] = Field(
        description="graph_store, operational_db, configuration. The graph store is `degraded` (and the service "
                    "ready) when it cannot be reached but scoring goes on without graph evidence, its writes "
                    "waiting in the graph outbox.")
    failed: list[str] = Field(default_factory=list, description="The checks that failed.")
    graph_outbox_pending: int | None = Field(default=None, description="Applications waiting for the graph store.")


class AuditEntryOut(BaseModel):
    """One line of the append-only audit log: who did what, when, to which ids (never a personal value)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 42, "at": "2026-03-01T02:15:00.120000+00:00", "actor": "key_019ae2b1c4d3a1b2c3d4e5f6",
        "roles": ["scorer"], "action": "decision.read", "target_type": "decision",
        "target_ids": ["dec_019ae2b1c4d3a1b2c3d4e5f6"], "request_id": "req_019ae2b1c4d3a1b2c3d4e5f7", "detail": {}}]})

    id: int
    at: str
    actor: str = Field(description="A user or key id, or `cli` for commands run on the server.")
    roles: list[str]
    action: str = Field(examples=["decision.read"])
    target_type: str = Field(examples=["decision"])
    target_ids: list[str]
    request_id: str | None = None
    detail: dict[str, Any] = Field(description="Ids, codes and counts; never a personal value.")
