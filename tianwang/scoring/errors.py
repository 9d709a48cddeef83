"""Errors of the scoring pipeline, under :class:`~tianwang.errors.TianwangError`."""

from __future__ import annotations

from tianwang.errors import ConfigurationError, DecisionNotFoundError, TianwangError

__all__ = ["DecisionNotFoundError", "ScoringConfigError", "ScoringError"]


class ScoringError(TianwangError):
    """Scoring could not produce a decision."""


class ScoringConfigError(ConfigurationError):
    """The detector and strategy configuration file is invalid; the message says where and why."""
