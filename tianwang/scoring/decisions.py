"""What the pipeline answers and records: a :class:`Decision` and each :class:`DetectorOutcome`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from detectors.base import Reason, Vote

__all__ = ["Decision", "DetectorOutcome", "OutcomeStatus", "StrategyResult"]

OutcomeStatus = Literal["ok", "timeout", "error", "skipped", "unavailable"]


@dataclass(slots=True)
class DetectorOutcome:
    """How one detector ran on one application.

    ``status`` is ``ok`` with a ``vote``, or ``timeout``/``error``/``skipped``/``unavailable``
    (it reads the graph, and the graph store could not be reached) with
    ``why`` (an error's type and, for Tianwang's own errors, its message, which never
    carries personal data). ``voting`` says whether the vote counted (active and in
    the deciding strategy); ``contribution`` is what it added to the log-odds.
    """

    detector: str
    version: str
    mode: str
    layer: str
    status: OutcomeStatus
    ms: float
    vote: Vote | None = None
    why: str | None = None
    voting: bool = False
    weight: float = 0.0
    contribution: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "detector": self.detector,
            "version": self.version,
            "mode": self.mode,
            "layer": self.layer,
            "status": self.status,
            "ms": round(self.ms, 3),
            "voting": self.voting,
            "weight": self.weight,
            "contribution": round(self.contribution, 4),
        }
        if self.vote is not None:
            out["vote"] = self.vote.as_dict()
        if self.why is not None:
            out["why"] = self.why
        return out


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """What a strategy made of the votes."""

    strategy: str
    role: str
    fraud_score: int
    band: str

    def as_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "role": self.role, "fraud_score": self.fraud_score, "band": self.band}


@dataclass(slots=True)
class Decision:
    """One explained decision on one application."""

    application_id: str
    submitted_at: str
    fraud_score: int
    band: str
    strategy: str
    role: str
    decided_by: str
    reasons: list[tuple[str, Reason]]
    outcomes: list[DetectorOutcome]
    timings_ms: dict[str, float]
    config_version: str
    store: dict[str, Any]
    other_strategy: StrategyResult | None = None
    vetoes: list[str] = field(default_factory=list)
    degraded: dict[str, Any] | None = None
    """Set when the graph store could not be reached: ``why``, the detectors that could not run,
    and whether the band was raised for want of graph evidence."""

    @property
    def left_out(self) -> list[dict[str, str]]:
        """Detectors that did not vote although they should have, and why."""
        return [{"detector": o.detector, "status": o.status, "why": o.why or o.status}
                for o in self.outcomes if o.status != "ok" and o.mode == "active"]

    def vote_of(self, detector: str) -> Vote | None:
        for outcome in self.outcomes:
            if outcome.detector == detector:
                return outcome.vote
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "application_id": self.application_id,
            "submitted_at": self.submitted_at,
            "fraud_score": self.fraud_score,
            "band": self.band,
            "decided_by": self.decided_by,
            "strategy": self.strategy,
            "role": self.role,
            "reasons": [{"detector": d, **r.as_dict()} for d, r in self.reasons],
            "left_out": self.left_out,
            "vetoes": self.vetoes,
            "votes": [o.as_dict() for o in self.outcomes],
            "other_strategy": self.other_strategy.as_dict() if self.other_strategy else None,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "config_version": self.config_version,
            "store": self.store,
            "degraded": self.degraded,
        }
