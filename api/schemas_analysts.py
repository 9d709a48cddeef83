"""Bodies of the analysts' endpoints (detectors, configuration versions, bundles) and of jobs.

Every model has an example, so the OpenAPI document shows one for every body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BundleOut",
    "ConfigVersionOut",
    "DetectorOut",
    "JobIn",
    "JobOut",
    "ProposalIn",
    "ReviewIn",
]

_YAML = ("version: 1\ndetectors:\n  rules: {mode: active}\nstrategies:\n"
         "  baseline: {thresholds: {review: 500, reject: 900}}\nchampion: baseline\n")


class DetectorOut(BaseModel):
    """A detector as configured (or registered and not configured: mode ``off``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "synthetic_identity", "detector": "rules", "version": "1", "mode": "active", "layer": "fast",
        "weights": {"baseline": 1.0, "strict": 1.0}, "needs_training": False, "trained": True, "veto": False}]})

    name: str = Field(description="The name in the configuration (an instance name or the detector's).")
    detector: str = Field(description="The registered detector class it runs.")
    version: str
    mode: Literal["active", "shadow", "off"]
    layer: Literal["fast", "deep"]
    weights: dict[str, float] = Field(description="Its weight in each strategy's vote (learned when trained).")
    needs_training: bool
    trained: bool = Field(description="Whether it is fitted (on labelled history, or from a bundle).")
    veto: bool


class ConfigVersionOut(BaseModel):
    """A configuration version: the YAML text, its review and its backtest beside the active version's."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "version": 3, "parent": 2, "status": "proposed", "summary": "review from 450", "body": _YAML,
        "proposed_by": "usr_01", "proposed_at": "2026-12-01T09:00:00Z", "reviewed_by": None, "reviewed_at": None,
        "review_comment": None, "activated_at": None, "config_hash": None,
        "backtest": {"method": "replay of recorded votes", "active_version": 2,
                     "proposal": {"n_decisions": 1200, "n_labelled": 300, "auroc": 0.91},
                     "active": {"n_decisions": 1200, "n_labelled": 300, "auroc": 0.9}}}]})

    version: int
    parent: int | None
    status: Literal["proposed", "active", "rejected", "superseded", "withdrawn"]
    summary: str
    body: str = Field(description="The YAML configuration.")
    proposed_by: str
    proposed_at: datetime
    reviewed_by: str | None = Field(None, description="Who approved (activated) or rejected it.")
    reviewed_at: datetime | None = None
    review_comment: str | None = None
    activated_at: datetime | None = None
    backtest: dict[str, Any] | None = Field(None, description="Metrics of this version and of the version active "
                                            "when it was backtested, on the same stored history (null while "
                                            "the backtest job runs).")
    config_hash: str | None = Field(None, description="The hash decisions record (active version only).")


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"body": _YAML,
                                                                               "summary": "review from 500"}]})

    body: str = Field(min_length=1, max_length=200_000, description="The whole YAML configuration proposed.")
    summary: str = Field("", max_length=500, description="What changes and why.")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"comment": "backtest looks right"}]})

    comment: str = Field("", max_length=500)


class BundleOut(BaseModel):
    """A trained model bundle."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "2026-12-01", "created_at": "2026-12-01T03:00:00Z", "active": True,
        "activated_at": "2026-12-01T08:00:00Z", "activated_by": "usr_02",
        "metrics": {"n_applications": 10000, "n_labelled": 10000, "seconds": 95.2},
        "data_range": {"from": "2026-01-01T00:00:00+08:00", "to": "2026-06-30T23:00:00+08:00"}}]})

    name: str
    created_at: datetime
    active: bool
    activated_at: datetime | None = None
    activated_by: str | None = None
    metrics: dict[str, Any]
    data_range: dict[str, Any]


JobKind = Literal["ring_detection", "training", "index_rebuild", "backtest"]


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "ring_detection", "params": {"min_size": 3}},
        {"kind": "training", "params": {"applications": "/data/applications.ndjson",
                                        "labels": "/data/labels.ndjson", "name": "2026-12"}},
        {"kind": "backtest", "params": {"version": 3}},
    ]})

    kind: JobKind
    params: dict[str, Any] = Field(default_factory=dict, description="The kind's parameters (see POST /v1/jobs).")


class JobOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "job_01", "kind": "ring_detection", "status": "succeeded", "params": {}, "progress": 1.0,
        "result": {"rings": 12, "applicants": 5000}, "error": None, "created_by": "usr_01",
        "created_at": "2026-12-01T09:00:00Z", "started_at": "2026-12-01T09:00:01Z",
        "finished_at": "2026-12-01T09:00:09Z"}]})

    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    params: dict[str, Any]
    progress: float = Field(description="From 0 to 1.")
    result: dict[str, Any] | None = None
    error: str | None = None
    created_by: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
