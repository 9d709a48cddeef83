"""Which detectors exist: the built-ins, registered explicitly, and plugins.

An analyst's package registers detectors through packaging metadata::

    [project.entry-points."tianwang.detectors"]
    night_owl = "tianwang_night_owl:NightOwlDetector"

Every entry point is checked when it is loaded: it must be a concrete subclass of
:class:`~detectors.base.Detector` with a snake_case ``name``. One that fails to
import or fails the check is skipped with a warning naming it; the others load. Two
detectors with the same name are an error (:class:`DuplicateDetectorError`), whoever
registered them.

Examples
--------
>>> registry = DetectorRegistry.builtin()
>>> registry.resolve("Identity_Theft").name
'identity_theft'
>>> registry.resolve("nope")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
detectors.registry.UnknownDetectorError: unknown detector 'nope'; known: forged_documents, fraud_ring, ...
"""

from __future__ import annotations

import inspect
import logging
import re
import warnings
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

from detectors.base import Detector
from detectors.forged_documents import ForgedDocumentsDetector
from detectors.fraud_ring import FraudRingDetector
from detectors.gnn_ring import GnnRingDetector
from detectors.graph_evidence import GraphEvidenceDetector
from detectors.identity_theft import IdentityTheftDetector
from detectors.known_fraud_similarity import KnownFraudSimilarityDetector
from detectors.multi_lending import MultiLendingDetector
from detectors.rules import RulesDetector
from detectors.watchlist import WatchlistDetector
from tianwang.errors import ConfigurationError

__all__ = [
    "BUILTIN_DETECTORS",
    "ENTRY_POINT_GROUP",
    "DetectorRegistry",
    "DuplicateDetectorError",
    "PluginWarning",
    "UnknownDetectorError",
    "load_plugins",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tianwang.detectors"

#: The built-in detectors, in the order they are listed.
BUILTIN_DETECTORS: tuple[type[Detector], ...] = (
    IdentityTheftDetector,
    ForgedDocumentsDetector,
    MultiLendingDetector,
    RulesDetector,
    WatchlistDetector,
    KnownFraudSimilarityDetector,
    FraudRingDetector,
    GnnRingDetector,
    GraphEvidenceDetector,
)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class PluginWarning(UserWarning):
    """A detector plugin was skipped; the message names it and says why."""


class DuplicateDetectorError(ConfigurationError):
    """Two detectors claim the same name."""


class UnknownDetectorError(ConfigurationError, KeyError):
    """No detector has this name; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def check_detector_class(obj: Any, origin: str) -> type[Detector]:
    """Check that ``obj`` is a usable detector class; raise ``TypeError`` saying what is wrong."""
    if not (inspect.isclass(obj) and issubclass(obj, Detector)):
        raise TypeError(f"{origin} is not a subclass of detectors.Detector (got {obj!r})")
    if "score" in vars(obj) or "score_many" in vars(obj):
        raise TypeError(f"{origin} overrides score(); implement _score() (score() checks the fitted state first)")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        raise TypeError(f"{origin} is abstract: implement {missing}")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise TypeError(f"{origin} needs a snake_case class attribute 'name', got: {name!r}")
    if obj.layer not in ("fast", "deep"):
        raise TypeError(f"{origin}: layer must be 'fast' or 'deep', got: {obj.layer!r}")
    return obj


class DetectorRegistry:
    """Detector classes by name; names resolve case-insensitively."""

    def __init__(self, detectors: Iterable[type[Detector]] = ()) -> None:
        self._classes: dict[str, type[Detector]] = {}
        self._origin: dict[str, str] = {}
        for cls in detectors:
            self.register(cls)

    @classmethod
    def builtin(cls) -> DetectorRegistry:
        return cls(BUILTIN_DETECTORS)

    @classmethod
    def with_plugins(cls, group: str = ENTRY_POINT_GROUP) -> DetectorRegistry:
        """The built-ins plus every plugin of the entry-point ``group`` that loads."""
        registry = cls.builtin()
        for origin, plugin in load_plugins(group).items():
            registry.register(plugin, origin=origin)
        return registry

    def register(self, cls: type[Detector], *, origin: str | None = None) -> type[Detector]:
        origin = origin or f"{cls.__module__}.{cls.__qualname__}"
        check_detector_class(cls, origin)
        key = cls.name.lower()
        if key in self._classes and self._classes[key] is not cls:
            raise DuplicateDetectorError(
                f"detector name {cls.name!r} is registered twice: by {self._origin[key]} and by {origin}"
            )
        self._classes[key] = cls
        self._origin[key] = origin
        return cls

    @property
    def names(self) -> list[str]:
        return sorted(self._classes)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._classes

    def resolve(self, name: str) -> type[Detector]:
        try:
            return self._classes[name.lower()]
        except KeyError:
            raise UnknownDetectorError(f"unknown detector {name!r}; known: {', '.join(self.names)}") from None

    def build(self, name: str, settings: Mapping[str, Any] | None = None) -> Detector:
        """A new detector of class ``name`` with validated ``settings``."""
        return self.resolve(name)(settings)


def load_plugins(group: str = ENTRY_POINT_GROUP) -> dict[str, type[Detector]]:
    """Load the detector classes registered under ``group``, by entry-point origin.

    A plugin that fails to import or is not a valid detector is skipped with a
    :class:`PluginWarning` (and a log line) naming it. Two plugins with the same
    detector name raise :class:`DuplicateDetectorError`.
    """
    found: dict[str, type[Detector]] = {}
    names: dict[str, str] = {}
    for entry in metadata.entry_points(group=group):
        origin = f"plugin {entry.name!r} ({entry.value})"
        try:
            cls = check_detector_class(entry.load(), origin)
        except Exception as exc:
            message = f"skipping detector {origin}: {type(exc).__name__}: {exc}"
            warnings.warn(message, PluginWarning, stacklevel=2)
            log.warning("detector plugin skipped", extra={"plugin": entry.name, "error": type(exc).__name__})
            continue
        key = cls.name.lower()
        if key in names:
            raise DuplicateDetectorError(
                f"detector name {cls.name!r} is registered twice: by {names[key]} and by {origin}"
            )
        names[key] = origin
        found[origin] = cls
    return found
