"""The detector contract: one abstract base class, the vote it returns, and its reasons.

A detector looks at one application (and, when it declares so, at the graph around
it) and casts a :class:`Vote`: a ``score`` in [0, 1], a ``confidence`` in [0, 1], and
:class:`Reason` codes, each with a short sentence a person can read and the
:class:`Evidence` behind it. Evidence values are always masked.

Shared behaviour lives in :class:`Detector` (after PyOD's ``BaseDetector``): settings
are validated when the detector is built, :meth:`Detector.fit` records the fitted
state, :meth:`Detector.score` refuses to run unfitted when training is required and
then calls the detector's own ``_score`` (a template method: no detector can forget
the check), and :meth:`Detector.score_many` does the same for backtests. A new
detector writes only what is its own: its settings model and its ``_score``.

Examples
--------
>>> class Always(Detector):
...     name = "always"
...     def _score(self, context):
...         return Vote(0.9, 1.0, (Reason("ALWAYS", "always suspicious"),))
>>> Always().score(None).score
0.9
>>> Always({"bogus": 1})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
detectors.base.DetectorSettingsError: invalid settings for detector 'always': bogus: Extra inputs are not permitted
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from tianwang.errors import ConfigurationError, TianwangError
from tianwang.frozen import quick_init

if TYPE_CHECKING:
    from detectors.context import LabelledContext, ScoringContext
    from graph_schema.store import GraphStore

__all__ = [
    "Detector",
    "DetectorError",
    "DetectorNotFittedError",
    "DetectorSettings",
    "DetectorSettingsError",
    "Evidence",
    "Layer",
    "Reason",
    "Vote",
]

Layer = Literal["fast", "deep"]
"""Fast detectors run first (cheap: rules, lists, identity checks); deep ones after."""


class DetectorError(TianwangError):
    """A detector failed on purpose (bad input it cannot score, a broken model)."""


class DetectorSettingsError(ConfigurationError, ValueError):
    """A detector was built with settings it does not accept; the message names each bad one."""


class DetectorNotFittedError(DetectorError):
    """A detector that needs training was asked to score before :meth:`Detector.fit`."""


class DetectorSettings(BaseModel):
    """Base of every detector's settings model: strict about unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@quick_init
@dataclass(frozen=True, slots=True)
class Evidence:
    """What a reason rests on: a field, a neighbour in the graph, a value (masked).

    ``value`` and ``neighbour`` are display strings and must never carry a raw
    identity number, phone or account: use the ``mask_*`` helpers of
    :mod:`tianwang.identifiers`.
    """

    field: str
    value: str | None = None
    neighbour: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("field", self.field), ("value", self.value), ("neighbour", self.neighbour),
                                  ("detail", self.detail)) if v is not None}


@quick_init
@dataclass(frozen=True, slots=True)
class Reason:
    """A reason code, the sentence a person reads, its weight in the vote and its evidence."""

    code: str
    text: str
    evidence: tuple[Evidence, ...] = ()
    strength: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "text": self.text,
            "strength": round(self.strength, 4),
            "evidence": [e.as_dict() for e in self.evidence],
        }


@dataclass(frozen=True, slots=True)
class Vote:
    """One detector's vote on one application.

    Attributes
    ----------
    score : float
        Probability-like fraud score in [0, 1].
    confidence : float
        How much the detector had to go on, in [0, 1] (0: nothing to judge by).
    reasons : tuple of Reason
        Most important first.
    baseline : float
        The score an application with no finding gets; the vote counts how far
        ``score`` is from it (in log-odds), so a clean application adds nothing.
    hard : bool
        A hard finding (a watchlisted identity) that may decide alone.
    """

    score: float
    confidence: float = 1.0
    reasons: tuple[Reason, ...] = ()
    baseline: float = 0.01
    hard: bool = False

    def __post_init__(self) -> None:
        for name in ("score", "confidence", "baseline"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"Vote.{name} must be in [0, 1], got: {value!r}")

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.reasons]

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 6),
            "confidence": round(self.confidence, 4),
            "baseline": round(self.baseline, 6),
            "hard": self.hard,
            "reasons": [r.as_dict() for r in self.reasons],
        }


@dataclass(slots=True)
class _FitState:
    fitted: bool = False
    n_samples: int = 0
    details: dict[str, Any] = field(default_factory=dict)


class Detector(ABC):
    """Base class of every detector.

    Subclasses set the class attributes below, may declare a :class:`DetectorSettings`
    subclass as ``Settings``, and implement :meth:`score`.

    Parameters
    ----------
    settings : mapping or DetectorSettings, optional
        Validated against ``Settings`` now; a bad value raises
        :class:`DetectorSettingsError` naming the detector and the field.
    """

    #: Unique name, snake_case; what the configuration file refers to.
    name: ClassVar[str]
    #: Version of the detector's logic; recorded with every vote.
    version: ClassVar[str] = "1"
    #: Whether it reads the graph (the pipeline gives it a point-in-time view).
    needs_graph: ClassVar[bool] = False
    #: Whether :meth:`fit` must run before :meth:`score`.
    needs_training: ClassVar[bool] = False
    #: Whether :meth:`fit` does anything (training is optional but useful).
    supports_training: ClassVar[bool] = False
    #: ``fast`` or ``deep``.
    layer: ClassVar[Layer] = "fast"
    #: Whether :meth:`score` is short, bounded work on the context (lookups in memory or by
    #: an index, a small model on one row or one nearest-neighbour search; no parsing of
    #: files, no waiting on another process): the pipeline then calls it in the scoring thread
    #: instead of handing it to a detector thread and waiting, a handoff that costs more than
    #: such a detector's work on a busy machine. Its budget still holds: a vote that comes
    #: later than ``budget_ms`` is dropped as a timeout (the caller did wait for it).
    inline: ClassVar[bool] = False
    #: The settings model; the default accepts no settings.
    Settings: ClassVar[type[DetectorSettings]] = DetectorSettings

    def __init__(self, settings: Mapping[str, Any] | DetectorSettings | None = None) -> None:
        self.settings = self.validate_settings(settings)
        self._fit_state = _FitState()

    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any] | DetectorSettings | None) -> Any:
        """Validate ``settings`` against :attr:`Settings`; raise :class:`DetectorSettingsError`."""
        if isinstance(settings, cls.Settings):
            return settings
        if settings is not None and not isinstance(settings, Mapping):
            raise DetectorSettingsError(
                f"invalid settings for detector {cls.name!r}: expected a mapping, got: {type(settings).__name__}"
            )
        try:
            return cls.Settings.model_validate(dict(settings or {}))
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors(include_input=False)
            )
            raise DetectorSettingsError(f"invalid settings for detector {cls.name!r}: {reasons}") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r}, fitted={self.is_fitted})"

    def runs_inline(self, context: ScoringContext) -> bool:
        """Whether the pipeline calls :meth:`score` on ``context`` in the scoring thread
        (see ``inline``); a detector whose cost depends on the application overrides it."""
        return self.inline

    # -- training ---------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self._fit_state.fitted

    @property
    def fit_details(self) -> dict[str, Any]:
        """What :meth:`fit` learned, for the decision record and reports."""
        return dict(self._fit_state.details)

    def fit(self, history: Sequence[LabelledContext]) -> Self:
        """Learn from labelled applications (each seen as of its own time).

        The base implementation only records that the detector is fitted; detectors
        with ``supports_training`` override :meth:`_fit`.
        """
        details = self._fit(history) or {}
        self._fit_state = _FitState(True, len(history), details)
        return self

    def _fit(self, history: Sequence[LabelledContext]) -> dict[str, Any] | None:
        return None

    def check_fitted(self) -> None:
        if self.needs_training and not self.is_fitted:
            raise DetectorNotFittedError(f"detector {self.name!r} needs fit() on labelled history before score()")

    def bind(self, store: GraphStore) -> None:  # noqa: B027 - a hook, empty by default
        """Use ``store`` for what the detector reads of the whole graph (rings, say), not per application.

        The pipeline calls this with its store for every detector of a configuration,
        before the detector is fitted or scores. The default does nothing.
        """

    def observe(self, context: ScoringContext) -> None:  # noqa: B027 - a hook, empty by default
        """See an application the store now holds (ingested or scored), after any vote on it.

        The pipeline calls this for every application, in time order, so a detector
        that keeps state about the graph (embeddings of known applications, online ring
        membership) can keep it current. Must be cheap and must not raise; the default
        does nothing.
        """

    def settle(self) -> None:  # noqa: B027 - a hook, empty by default
        """Wait for the background work this detector started (a ring refresh), if any.

        A service never calls it: requests do not wait for batch work, which swaps in
        when done. A backtest calls it after each application, so a replay sees, at each
        application, what it would have seen had that work been instant, and repeats.
        """

    def verdict(self, application_id: str, fraud: bool, typology: str | None = None) -> bool:
        """Take in an investigator's verdict on an application the pipeline has seen.

        Detectors that learn from confirmed cases between trainings (an index of known
        fraud, the confirmed members of a ring) override this; return whether the
        verdict was used. Must be cheap and thread-safe; the default uses nothing.
        """
        return False

    # -- scoring ----------------------------------------------------------------------
    def score(self, context: ScoringContext) -> Vote:
        """The vote on one application.

        Raises
        ------
        DetectorNotFittedError
            If the detector needs training and has not been fitted.
        """
        self.check_fitted()
        return self._score(context)

    def score_many(self, contexts: Sequence[ScoringContext]) -> list[Vote]:
        """Votes on many applications, in order (backtests); override ``_score_many`` to vectorise."""
        self.check_fitted()
        return self._score_many(contexts)

    @abstractmethod
    def _score(self, context: ScoringContext) -> Vote:
        """The detector's own vote on one application (the fitted state is checked already)."""

    def _score_many(self, contexts: Sequence[ScoringContext]) -> list[Vote]:
        return [self._score(c) for c in contexts]
