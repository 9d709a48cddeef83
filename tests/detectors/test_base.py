from __future__ import annotations

import pytest
from pydantic import Field

from detectors import (
    Detector,
    DetectorNotFittedError,
    DetectorSettings,
    DetectorSettingsError,
    Evidence,
    Reason,
    ScoringContext,
    Vote,
)


class _Settings(DetectorSettings):
    threshold: float = Field(default=0.5, gt=0, le=1)


class _Trained(Detector):
    name = "trained_one"
    needs_training = True
    Settings = _Settings

    def _score(self, context: ScoringContext) -> Vote:
        self.check_fitted()
        return Vote(self.settings.threshold, 0.5, (Reason("X", "x", (Evidence("field", "v"),)),))


def test_vote_rejects_out_of_range_values() -> None:
    with pytest.raises(ValueError, match=r"Vote.score must be in \[0, 1\], got: 1.5"):
        Vote(1.5)
    with pytest.raises(ValueError, match="confidence"):
        Vote(0.5, confidence=float("nan"))


def test_vote_as_dict_carries_reasons_and_evidence() -> None:
    vote = Vote(0.7, 0.9, (Reason("CODE", "a sentence", (Evidence("applicant.phone", "138****0000"),), 1.25),))
    data = vote.as_dict()
    assert data["reasons"][0] == {
        "code": "CODE", "text": "a sentence", "strength": 1.25,
        "evidence": [{"field": "applicant.phone", "value": "138****0000"}],
    }
    assert vote.codes == ["CODE"]


def test_settings_are_validated_when_built_and_errors_name_the_value() -> None:
    with pytest.raises(DetectorSettingsError, match=r"'trained_one': threshold: Input should be less than or equal"):
        _Trained({"threshold": 7})
    with pytest.raises(DetectorSettingsError, match="unknown: Extra inputs are not permitted"):
        _Trained({"unknown": 1})
    with pytest.raises(DetectorSettingsError, match="expected a mapping"):
        _Trained(["a"])  # type: ignore[arg-type]
    assert _Trained({"threshold": 0.25}).settings.threshold == 0.25


def test_a_detector_that_needs_training_refuses_to_score_unfitted(context_of) -> None:
    detector = _Trained()
    assert not detector.is_fitted
    with pytest.raises(DetectorNotFittedError, match="trained_one"):
        detector.score_many([context_of(1)])
    detector.fit([])
    assert detector.is_fitted
    votes = detector.score_many([context_of(1), context_of(2)])
    assert [v.score for v in votes] == [0.5, 0.5]


def test_abstract_detector_cannot_be_built() -> None:
    with pytest.raises(TypeError):
        Detector()  # type: ignore[abstract]


def test_score_checks_the_fitted_state_before_the_detector_runs() -> None:
    from detectors.base import DetectorNotFittedError

    calls = []

    class Trained(Detector):
        name = "trained"
        needs_training = True

        def _score(self, context: ScoringContext) -> Vote:
            calls.append(context)
            return Vote(0.5)

    with pytest.raises(DetectorNotFittedError):
        Trained().score(None)  # type: ignore[arg-type]
    with pytest.raises(DetectorNotFittedError):
        Trained().score_many([None])  # type: ignore[list-item]
    assert calls == []
    assert Trained().fit([]).score(None).score == 0.5  # type: ignore[arg-type]


def test_a_plugin_that_overrides_score_is_refused() -> None:
    from detectors.registry import check_detector_class

    class Old(Detector):
        name = "old"

        def _score(self, context: ScoringContext) -> Vote:
            return Vote(0.5)

        def score(self, context: ScoringContext) -> Vote:
            return Vote(0.9)

    with pytest.raises(TypeError, match="overrides score"):
        check_detector_class(Old, "plugin 'old'")
