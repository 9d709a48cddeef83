"""Detectors: the SDK (base class, votes, context, registry) and the built-in detectors.

Write a detector by subclassing :class:`Detector` (or :class:`SignalDetector` for a
weighted list of signals), give it a unique ``name``, and register it: built-ins in
:data:`~detectors.registry.BUILTIN_DETECTORS`, others through the entry-point group
``tianwang.detectors`` (see ``examples/night_owl``). The known-fraud detector's
embedders plug in the same way through :func:`register_embedder` (an
:class:`ApplicationEmbedder` factory by name, :mod:`detectors.embedders`).
"""

from detectors.base import (
    Detector,
    DetectorError,
    DetectorNotFittedError,
    DetectorSettings,
    DetectorSettingsError,
    Evidence,
    Layer,
    Reason,
    Vote,
)
from detectors.context import GraphLinks, LabelledContext, Link, PersonalKeys, ScoringContext, build_context
from detectors.embedders import ApplicationEmbedder, register_embedder
from detectors.facts import ApplicationFacts, application_facts, monthly_instalment
from detectors.forged_documents import ForgedDocumentsDetector
from detectors.identity_theft import IdentityTheftDetector
from detectors.multi_lending import MultiLendingDetector
from detectors.registry import (
    BUILTIN_DETECTORS,
    ENTRY_POINT_GROUP,
    DetectorRegistry,
    DuplicateDetectorError,
    PluginWarning,
    UnknownDetectorError,
    load_plugins,
)
from detectors.rules import RulesDetector
from detectors.signals import Finding, SignalDetector, SignalSettings
from detectors.watchlist import WatchlistDetector

__all__ = [
    "BUILTIN_DETECTORS",
    "ENTRY_POINT_GROUP",
    "ApplicationEmbedder",
    "ApplicationFacts",
    "Detector",
    "DetectorError",
    "DetectorNotFittedError",
    "DetectorRegistry",
    "DetectorSettings",
    "DetectorSettingsError",
    "DuplicateDetectorError",
    "Evidence",
    "Finding",
    "ForgedDocumentsDetector",
    "GraphLinks",
    "IdentityTheftDetector",
    "LabelledContext",
    "Layer",
    "Link",
    "MultiLendingDetector",
    "PersonalKeys",
    "PluginWarning",
    "Reason",
    "RulesDetector",
    "ScoringContext",
    "SignalDetector",
    "SignalSettings",
    "UnknownDetectorError",
    "Vote",
    "WatchlistDetector",
    "application_facts",
    "build_context",
    "load_plugins",
    "monthly_instalment",
    "register_embedder",
]
