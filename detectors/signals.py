"""Detectors built from named signals with log-odds weights, optionally learned.

Most expert checks are a handful of signals, each firing with a strength in [0, 1]:
"the phone is not the id's registered phone", "debt-to-income 64 %". A
:class:`SignalDetector` adds their weights in log-odds space to a bias and turns the
sum into a score; the reasons of the vote are the signals that fired, strongest first.

The weights start as expert defaults (the class's ``SIGNALS``) and may be overridden
in the settings. :meth:`SignalDetector.fit` re-estimates them from labelled history by
L2-regularised logistic regression (Newton's method, numpy only), shrunk towards the
expert defaults, with negative weights clipped to zero so that every signal stays a
reason *for* suspicion. Without labelled history the expert weights are used as they
are, so training is optional.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from detectors.base import Detector, DetectorSettings, Evidence, Reason, Vote
from detectors.context import LabelledContext, ScoringContext
from tianwang.stats import fit_logistic, sigmoid

__all__ = ["Finding", "SignalDetector", "SignalSettings"]


@dataclass(frozen=True, slots=True)
class Finding:
    """A signal that fired: its code, strength in (0, 1], sentence and evidence."""

    code: str
    strength: float
    text: str
    evidence: tuple[Evidence, ...] = ()


class SignalSettings(DetectorSettings):
    """Settings shared by signal detectors.

    ``weights`` override the default log-odds weight of named signals; ``bias`` is the
    log-odds of a clean application. ``train`` lets :meth:`~detectors.base.Detector.fit`
    learn the weights; ``target_typologies`` are the typologies it learns to tell from
    legitimate applications (other fraud is left out of training), or every fraud
    when no typology of the list occurs in the history. ``l2`` pulls learned weights
    towards the defaults.
    """

    weights: dict[str, float] = Field(default_factory=dict)
    bias: float = Field(default=-4.6, ge=-15, le=5)
    train: bool = True
    target_typologies: list[str] | None = None
    l2: float = Field(default=1.0, ge=0)
    min_strength: float = Field(default=0.05, ge=0, le=1)

    @field_validator("weights")
    @classmethod
    def _finite(cls, weights: dict[str, float]) -> dict[str, float]:
        for code, w in weights.items():
            if not math.isfinite(w) or abs(w) > 50:
                raise ValueError(f"weight of {code!r} must be a finite number within ±50, got: {w}")
        return weights


class SignalDetector(Detector):
    """Base of detectors that add up weighted signals (see the module docstring)."""

    #: Every signal the detector can fire, with its default log-odds weight.
    SIGNALS: ClassVar[dict[str, float]]
    supports_training: ClassVar[bool] = True
    Settings: ClassVar[type[DetectorSettings]] = SignalSettings

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        unknown = sorted(set(self.settings.weights) - set(self.SIGNALS))
        if unknown:
            from detectors.base import DetectorSettingsError

            raise DetectorSettingsError(
                f"invalid settings for detector {self.name!r}: weights: unknown signal(s) {unknown}; "
                f"known: {sorted(self.SIGNALS)}"
            )
        self.weights: dict[str, float] = {**self.SIGNALS, **self.settings.weights}
        self.bias: float = self.settings.bias
        #: The score that is "no news" in the vote: a clean application's score until
        #: trained, then the prevalence of the target in the training history.
        self.baseline: float = sigmoid(self.bias)

    @abstractmethod
    def findings(self, context: ScoringContext) -> list[Finding]:
        """The signals that fire on this application."""

    def confidence(self, context: ScoringContext) -> float:
        """How much the detector had to go on; 1 unless overridden."""
        return 1.0

    def _score(self, context: ScoringContext) -> Vote:
        found = [f for f in self.findings(context) if f.strength >= self.settings.min_strength]
        reasons = []
        z = self.bias
        for f in found:
            contribution = self.weights.get(f.code, 0.0) * min(f.strength, 1.0)
            z += contribution
            if contribution > 0:
                reasons.append(Reason(f.code, f.text, f.evidence, contribution))
        reasons.sort(key=lambda r: -r.strength)
        return Vote(sigmoid(z), self.confidence(context), tuple(reasons), baseline=self.baseline)

    def strengths(self, context: ScoringContext) -> np.ndarray:
        """The strength of every signal (0 where it did not fire), in ``SIGNALS`` order."""
        row = np.zeros(len(self.SIGNALS))
        index = {code: i for i, code in enumerate(self.SIGNALS)}
        for f in self.findings(context):
            if f.strength >= self.settings.min_strength:
                row[index[f.code]] = max(row[index[f.code]], min(f.strength, 1.0))
        return row

    def _fit(self, history: Sequence[LabelledContext]) -> dict[str, Any] | None:
        if not self.settings.train or not history:
            return {"trained": False}
        targets = set(self.settings.target_typologies or ())
        if targets and not any(h.typology in targets for h in history):
            targets = set()
        kept = [h for h in history if not h.fraud or not targets or h.typology in targets]
        y = np.array([1.0 if h.fraud else 0.0 for h in kept])
        if y.sum() < 5 or (1 - y).sum() < 5:
            return {"trained": False, "why": "fewer than 5 positive or negative examples"}
        x = np.vstack([self.strengths(h.context) for h in kept])
        # shrunk towards the expert weights, not towards what an earlier fit learned: fitting
        # again (the fusion fits on part of the history first) gives what one fit would
        defaults = {**self.SIGNALS, **self.settings.weights}
        prior = np.array([defaults[c] for c in self.SIGNALS])
        weights, bias = fit_logistic(x, y, l2=self.settings.l2, anchor=prior, bias=self.settings.bias)
        self.weights = {c: max(0.0, float(w)) for c, w in zip(self.SIGNALS, weights, strict=True)}
        self.bias = bias
        self.baseline = max(float(y.mean()), sigmoid(bias))
        return {
            "trained": True,
            "positives": int(y.sum()),
            "negatives": int((1 - y).sum()),
            "bias": round(bias, 4),
            "baseline": round(self.baseline, 5),
            "weights": {c: round(w, 4) for c, w in self.weights.items()},
        }
