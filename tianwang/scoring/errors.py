"""Errors of the scoring pipeline, under :class:`~tianwang.errors.TianwangError`."""

from __future__ import annotations

from tianwang.errors import ConfigurationError, TianwangError

__all__ = ["DecisionNotFoundError", "ScoringConfigError", "ScoringError"]


class ScoringError(TianwangError):
    """Scoring could not produce a decision."""


class ScoringConfigError(ConfigurationError):
    """The detector and strategy configuration file is invalid; the message says where and why."""


class DecisionNotFoundError(TianwangError, LookupError):
    """No decision is recorded for this application id."""

    def __init__(self, application_id: str) -> None:
        self.application_id = application_id
        super().__init__(f"no decision recorded for application {application_id!r}")
