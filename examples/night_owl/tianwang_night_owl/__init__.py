"""An example Tianwang detector plugin: online applications submitted in the small hours.

Registered through ``[project.entry-points."tianwang.detectors"]`` in this folder's
``pyproject.toml``.

Examples
--------
>>> NightOwlDetector({"start_hour": 5, "end_hour": 1})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
detectors.base.DetectorSettingsError: invalid settings for detector 'night_owl': ...end_hour must be after start_hour...
"""

from __future__ import annotations

from pydantic import Field, model_validator

from detectors import Detector, DetectorSettings, Evidence, Reason, ScoringContext, Vote

__all__ = ["NightOwlDetector", "NightOwlSettings"]


class NightOwlSettings(DetectorSettings):
    """The night, in local hours of the application's own time zone, and the score it earns."""

    start_hour: int = Field(default=1, ge=0, le=23)
    end_hour: int = Field(default=5, ge=1, le=24)
    night_score: float = Field(default=0.05, gt=0, lt=1)
    channels: list[str] = Field(default_factory=lambda: ["online"])

    @model_validator(mode="after")
    def _ordered(self) -> NightOwlSettings:
        if self.end_hour <= self.start_hour:
            raise ValueError(f"end_hour must be after start_hour, got: {self.start_hour}..{self.end_hour}")
        return self


class NightOwlDetector(Detector):
    """Online applications made between ``start_hour`` and ``end_hour`` local time."""

    name = "night_owl"
    version = "0.1.0"
    layer = "fast"
    needs_graph = False
    Settings = NightOwlSettings

    def _score(self, context: ScoringContext) -> Vote:
        s: NightOwlSettings = self.settings
        app = context.application
        baseline = 0.01
        hour = app.submitted_at.hour
        if app.channel in s.channels and s.start_hour <= hour < s.end_hour:
            reason = Reason(
                "NIGHT_SUBMISSION",
                f"{app.channel} application submitted at {hour:02d}:xx local time",
                (Evidence("submitted_at", f"{hour:02d}:xx"), Evidence("channel", app.channel)),
            )
            return Vote(max(s.night_score, baseline), 1.0, (reason,), baseline)
        return Vote(baseline, 1.0, (), baseline)
