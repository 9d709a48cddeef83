"""The bodies of the rings, network, path, dealer scorecard and watchlist endpoints.

Personal values never appear here raw: graph nodes carry keys that are HMACs (shown as
opaque ids) and masked labels; watchlist entries only their masked hint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DealerScorecardOut",
    "GraphEdgeOut",
    "GraphNodeOut",
    "NetworkOut",
    "PathOut",
    "RingDetailOut",
    "RingOut",
    "RingRefreshOut",
    "WatchlistEntryIn",
    "WatchlistEntryOut",
]


# -- watchlist -------------------------------------------------------------------------------
class WatchlistEntryIn(BaseModel):
    """A value to put on the watchlist. The value is stored only as its key and a masked hint."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "phone", "value": "13800138000", "reason": "confirmed fraud ring member",
         "expires_at": "2027-03-01T00:00:00+08:00"}]})

    kind: Literal["id_number", "phone", "device", "bank_account", "employer"]
    value: str = Field(min_length=1, max_length=128, description="The raw value (never stored nor echoed).")
    reason: str | None = Field(None, max_length=500)
    expires_at: datetime | None = Field(None, description="When the entry stops counting (with a time zone).")


class WatchlistEntryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"entry_id": "wl_019ae2b1c4d3a1b2c3d4e5f6", "kind": "phone", "hint": "138****8000",
         "reason": "confirmed fraud ring member", "added_at": "2026-03-01T02:15:00+00:00",
         "expires_at": "2027-02-28T16:00:00+00:00", "added_by": "key_019ae2b1c4d3", "active": True}]})

    entry_id: str
    kind: str
    hint: str = Field(description="The value, masked.")
    reason: str | None = None
    added_at: str | None = None
    expires_at: str | None = None
    added_by: str | None = None
    active: bool = Field(description="False once `expires_at` has passed.")


# -- graph -----------------------------------------------------------------------------------
class GraphNodeOut(BaseModel):
    id: str = Field(description="An opaque node id (applications: `app:<application id>`).")
    type: str = Field(description="The node's label: Application, Person, Phone, Device, ...")
    label: str = Field(description="What a person may see of it: masked when personal.")
    hub: bool = Field(False, description="A hub collapsed into one node (`count` neighbours).")
    count: int | None = Field(None, description="For a hub: how many neighbours it has (counted up to 1000).")
    confirmed_fraud: bool = Field(False, description="An application confirmed as fraud (verdict or reject).")
    band: str | None = Field(None, description="An application's decision band, where decided.")


class GraphEdgeOut(BaseModel):
    source: str
    target: str
    type: str = Field(description="The relationship type: SUBMITTED, USES_PHONE, LISTS_CONTACT, ...")


_NODES_EXAMPLE: Any = [
    {"id": "app:APP-000001", "type": "Application", "label": "APP-000001", "hub": False, "count": None,
     "confirmed_fraud": False, "band": "review"},
    {"id": "phone:3f9a0c1d2e4b5a6c", "type": "Phone", "label": "139****0001", "hub": False, "count": None,
     "confirmed_fraud": False, "band": None},
    {"id": "app:APP-000002", "type": "Application", "label": "APP-000002", "hub": False, "count": None,
     "confirmed_fraud": True, "band": "reject"},
]
_EDGES_EXAMPLE: Any = [{"source": "app:APP-000001", "target": "phone:3f9a0c1d2e4b5a6c", "type": "USES_PHONE"},
                  {"source": "app:APP-000002", "target": "phone:3f9a0c1d2e4b5a6c", "type": "LISTS_CONTACT"}]


class NetworkOut(BaseModel):
    """An application's network up to two hops, hubs collapsed."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"application_id": "APP-000001", "hops": 1, "nodes": _NODES_EXAMPLE, "edges": _EDGES_EXAMPLE,
         "truncated": False}]})

    application_id: str
    hops: int
    nodes: list[GraphNodeOut]
    edges: list[GraphEdgeOut]
    truncated: bool = Field(description="Whether a limit left nodes out.")


class NodeNeighboursOut(BaseModel):
    """A node and its neighbours (a click on a drawn node)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"node_id": "phone:3f2a9c1d0b7e6a51", "nodes": _NODES_EXAMPLE, "edges": _EDGES_EXAMPLE, "truncated": False}]})

    node_id: str
    nodes: list[GraphNodeOut] = Field(description="The node first (a hub with its count when truncated), then its "
                                                  "neighbours.")
    edges: list[GraphEdgeOut]
    truncated: bool = Field(description="Whether it has more neighbours than `limit`.")


class DealerRowOut(BaseModel):
    """One dealer in the list: the scorecard's figures without its rings."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "dealer_id": "D-BJ-001", "applications": 120, "decided": 118,
        "decisions_by_band": {"approve": 100, "review": 15, "reject": 3}, "labelled": 6, "confirmed_fraud": 3,
        "fraud_rate": 0.5, "in_risky_rings": 7, "ring_share": 0.058, "inflated_deals": 2, "rings_touching": 1}]})

    dealer_id: str
    applications: int
    decided: int
    decisions_by_band: dict[str, int]
    labelled: int
    confirmed_fraud: int
    fraud_rate: float | None = None
    in_risky_rings: int
    ring_share: float
    inflated_deals: int
    rings_touching: int = Field(description="Rings with an application at the dealer.")


class PathOut(BaseModel):
    """The shortest path between two applications through what they share."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"from": "APP-000001", "to": "APP-000002", "hops": 2, "nodes": _NODES_EXAMPLE, "edges": _EDGES_EXAMPLE}]})

    from_: str = Field(alias="from")
    to: str
    hops: int = Field(description="Relationships on the path.")
    nodes: list[GraphNodeOut] = Field(description="In path order.")
    edges: list[GraphEdgeOut]


# -- rings -----------------------------------------------------------------------------------
_RING_EXAMPLE: dict[str, Any] = {
    "ring_id": "R-000001", "risk": 0.91, "size": 4, "applications": 5, "confirmed_fraud": 1,
    "shared_labels": ["Phone", "Device"], "dealers": ["D-BJ-001"], "first_at": "2026-03-01T01:00:00+00:00",
    "last_at": "2026-03-09T05:00:00+00:00", "joined_since_detection": 0}


class RingOut(BaseModel):
    """A ring in the list."""

    model_config = ConfigDict(json_schema_extra={"examples": [_RING_EXAMPLE]})

    ring_id: str
    risk: float = Field(ge=0, le=1)
    size: int = Field(description="Applicants.")
    applications: int
    confirmed_fraud: int = Field(description="Applications confirmed as fraud.")
    shared_labels: list[str] = Field(description="Kinds of attribute two or more members share.")
    dealers: list[str]
    first_at: str | None = None
    last_at: str | None = Field(None, description="The ring's last activity: its latest application.")
    joined_since_detection: int = Field(0, description="Identities attached online since the run.")


class RingMemberOut(BaseModel):
    application_id: str
    submitted_at: str | None = None
    dealer_id: str | None = None
    band: str | None = Field(None, description="The decision's band, where decided here.")
    fraud_score: int | None = None
    confirmed_fraud: bool = False


class SharedAttributeOut(BaseModel):
    kind: str = Field(description="Phone, Device, BankAccount, Address, Employer, Vehicle, Person ...")
    id: str = Field(description="The attribute's opaque node id.")
    value: str = Field(description="Masked when personal.")
    members: int = Field(description="How many of the ring's applications share it.")


class RingStatisticsOut(BaseModel):
    size: int
    applications: int
    risk: float
    labelled: int = Field(description="Members' applications with a verdict or a reject decision.")
    fraud_rate: float | None = Field(None, description="Confirmed fraud among the labelled; null if none.")
    first_at: str | None = None
    last_at: str | None = None
    time_span_days: float | None = None
    dealers: list[str]


class RingDetailOut(BaseModel):
    """One ring: members, shared attributes (masked), statistics and its subgraph."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "ring_id": "R-000001", "risk": 0.91,
        "members": [{"application_id": "APP-000001", "submitted_at": "2026-03-01T01:00:00+00:00",
                     "dealer_id": "D-BJ-001", "band": "review", "fraud_score": 612, "confirmed_fraud": False}],
        "shared_attributes": [{"kind": "Phone", "id": "phone:3f9a0c1d2e4b5a6c", "value": "139****0001",
                               "members": 3}],
        "statistics": {"size": 4, "applications": 5, "risk": 0.91, "labelled": 1, "fraud_rate": 1.0,
                       "first_at": "2026-03-01T01:00:00+00:00", "last_at": "2026-03-09T05:00:00+00:00",
                       "time_span_days": 8.2, "dealers": ["D-BJ-001"]},
        "nodes": _NODES_EXAMPLE, "edges": _EDGES_EXAMPLE}]})

    ring_id: str
    risk: float
    members: list[RingMemberOut]
    shared_attributes: list[SharedAttributeOut]
    statistics: RingStatisticsOut
    nodes: list[GraphNodeOut]
    edges: list[GraphEdgeOut]


class RingRefreshOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"rings": 3, "risky_rings": 1, "seconds": 0.41}]})

    rings: int
    risky_rings: int
    seconds: float


class RingTouchOut(BaseModel):
    ring_id: str
    risk: float
    applications_here: int


class DealerScorecardOut(BaseModel):
    """A dealer's applications, decisions, fraud rate, inflated deals and the rings touching it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "dealer_id": "D-BJ-001", "applications": 120, "decided": 118,
        "decisions_by_band": {"approve": 100, "review": 15, "reject": 3}, "labelled": 6, "confirmed_fraud": 3,
        "fraud_rate": 0.5, "in_risky_rings": 7, "ring_share": 0.058, "inflated_deals": 2,
        "rings": [{"ring_id": "R-000001", "risk": 0.91, "applications_here": 5}]}]})

    dealer_id: str
    applications: int = Field(description="Applications taken at the dealer (graph).")
    decided: int = Field(description="Of those, decided by this service.")
    decisions_by_band: dict[str, int]
    labelled: int
    confirmed_fraud: int
    fraud_rate: float | None = Field(None, description="Confirmed fraud among the labelled; null if none.")
    in_risky_rings: int = Field(description="Applications whose applicant is in a risky ring.")
    ring_share: float
    inflated_deals: int = Field(description="Inflated deals of risky rings' members at the dealer.")
    rings: list[RingTouchOut]
