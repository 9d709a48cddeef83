"""The one YAML file that configures detectors and strategies, and its live reload.

Shape (see ``tianwang/scoring/default_config.yaml`` for a full example)::

    version: 1
    velocity_window_days: 7
    detectors:
      identity_theft: {mode: active, weight: 1.0, budget_ms: 50}
      watchlist:      {mode: active, veto: {at: 0.9, band: reject}, settings: {on_hit: decide}}
      night_owl:      {mode: shadow}
    strategies:
      baseline:   {thresholds: {review: 300, reject: 700}, prior: 0.05}
      aggressive: {weights: {rules: 1.5}, thresholds: {review: 200, reject: 600}}
    champion: baseline
    challenger: {strategy: aggressive, share: 0.1}

Validation happens on load: every detector name must be known to the registry (the
error lists the known ones), every detector is built so that its settings are
checked, and every strategy named must exist. :class:`ConfigSource` reloads the file
when it changes; a broken new file keeps the previous configuration running and
:attr:`ConfigSource.last_error` says why.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from detectors.base import Detector
from detectors.registry import DetectorRegistry, UnknownDetectorError
from graph_schema.store import GraphStore
from tianwang.errors import ConfigurationError
from tianwang.scoring.errors import ScoringConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "BoundConfig",
    "ChallengerConfig",
    "ConfigSource",
    "DetectorConfig",
    "FusionConfig",
    "LoadedConfig",
    "ScoringConfig",
    "StrategyConfig",
    "Thresholds",
    "VetoConfig",
    "load_config",
    "parse_config",
]

log = logging.getLogger(__name__)

#: The configuration shipped with Tianwang.
DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.yaml")

Band = Literal["approve", "review", "reject"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VetoConfig(_Strict):
    """A detector scoring at or above ``at`` puts the decision in ``band`` at least."""

    at: float = Field(gt=0, le=1)
    band: Literal["review", "reject"] = "reject"


class DetectorConfig(_Strict):
    """How one detector runs: mode, weight in the vote, time budget, veto, its own settings.

    ``detector`` names the detector class when the entry's key is an instance name of
    its own (two rule sets, say: ``ring_rules: {detector: rules, settings: ...}``).
    """

    detector: str | None = None
    mode: Literal["active", "shadow", "off"] = "active"
    weight: float = Field(default=1.0, ge=0, le=100)
    budget_ms: float = Field(default=50.0, gt=0, le=60_000)
    veto: VetoConfig | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class Thresholds(_Strict):
    """``fraud_score`` from which an application goes to review, and to reject."""

    review: int = Field(ge=0, le=1000)
    reject: int = Field(ge=0, le=1000)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review > self.reject:
            raise ValueError(f"review threshold ({self.review}) must not be above reject ({self.reject})")
        return self


class StrategyConfig(_Strict):
    """A detector set, weights and thresholds. ``detectors`` defaults to every active detector."""

    detectors: list[str] | None = None
    weights: dict[str, float] = Field(default_factory=dict)
    thresholds: Thresholds
    prior: float = Field(default=0.05, gt=0, lt=1, description="fraud rate the fused log-odds start from")
    fit_weights: bool = Field(default=False, description="learn weights and prior from labelled history when trained")
    review_legit_share: float | None = Field(
        default=None, gt=0, lt=0.5,
        description="with fit_weights: when trained, set the review threshold so that this share of the "
                    "legitimate applications in the holdout would go to review (a review budget); the "
                    "configured review threshold holds until then, or when the holdout is too small")


class FusionConfig(_Strict):
    """How strategies with ``fit_weights`` learn: the later ``holdout`` share of the history
    is scored by detectors fitted on the rest; ``l2`` pulls weights towards 0."""

    holdout: float = Field(default=0.25, gt=0, lt=1)
    l2: float = Field(default=1.0, ge=0)


class ChallengerConfig(_Strict):
    """A strategy that decides a stable ``share`` of applications (by a hash of the id)."""

    strategy: str
    share: float = Field(ge=0, le=1)


class DegradedConfig(_Strict):
    """What scoring may decide when the graph store cannot be reached (:mod:`tianwang.scoring.outbox`).

    ``approve``: whether an application may be approved without the graph detectors' votes;
    by default it goes to review at least.
    """

    approve: bool = False


class ScoringConfig(_Strict):
    """The whole file."""

    version: Literal[1] = 1
    velocity_window_days: float = Field(default=7.0, gt=0, le=365)
    hard_decisions: bool = True
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    degraded: DegradedConfig = Field(default_factory=DegradedConfig)
    detectors: dict[str, DetectorConfig]
    strategies: dict[str, StrategyConfig] = Field(min_length=1)
    champion: str
    challenger: ChallengerConfig | None = None

    @model_validator(mode="after")
    def _strategies_exist(self) -> ScoringConfig:
        names = sorted(self.strategies)
        for role, name in (("champion", self.champion), ("challenger", self.challenger and self.challenger.strategy)):
            if name is not None and name not in self.strategies:
                raise ValueError(f"{role} strategy {name!r} is not defined; strategies: {names}")
        return self


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration with its detectors built, and a short version hash."""

    config: ScoringConfig
    detectors: dict[str, Detector]
    version: str
    source: str
    loaded_at: float = field(default_factory=time.time)

    def bind(self, store: GraphStore, replacing: LoadedConfig | None = None) -> None:
        """Have every detector read ``store``; one that replaces a detector of ``replacing`` (a configuration
        or bundle put in force on a running service) may take state over from it (``succeed``)."""
        before = replacing.detectors if replacing is not None else {}
        for name, detector in self.detectors.items():
            detector.bind(store)
            previous = before.get(name)
            succeed = getattr(detector, "succeed", None)
            if previous is not None and previous is not detector and callable(succeed):
                succeed(previous)


def _pydantic_reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors(include_input=False)
    )


def parse_config(
    text: str,
    registry: DetectorRegistry,
    *,
    source: str = "<string>",
    reuse: dict[str, tuple[str, Detector]] | None = None,
) -> LoadedConfig:
    """Validate configuration ``text`` and build its detectors.

    ``reuse`` maps detector names to (settings fingerprint, detector) of a previous
    configuration: a detector whose settings did not change is kept, fitted state and all.

    Raises
    ------
    ScoringConfigError
        For YAML errors (with the line), schema errors (with the path of each bad key),
        unknown detector names (listing the known ones) and bad detector settings.
    """
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise ScoringConfigError(f"{source}: not valid YAML: nested too deep") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ScoringConfigError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ScoringConfigError(f"{source}: the configuration must be a mapping at the top level")
    try:
        config = ScoringConfig.model_validate(data)
    except ValidationError as exc:
        raise ScoringConfigError(f"{source}: {_pydantic_reasons(exc)}") from None
    for name, dc in config.detectors.items():
        if (dc.detector or name) not in registry:
            raise ScoringConfigError(
                f"{source}: unknown detector {dc.detector or name!r}; known: {', '.join(registry.names)}"
            )
    for strategy_name, strategy in config.strategies.items():
        for name in [*(strategy.detectors or []), *strategy.weights]:
            if name not in config.detectors:
                raise ScoringConfigError(
                    f"{source}: strategy {strategy_name!r} names unknown detector {name!r}; "
                    f"configured: {', '.join(sorted(config.detectors))}; known: {', '.join(registry.names)}"
                )
    detectors: dict[str, Detector] = {}
    for name, dc in config.detectors.items():
        if dc.mode == "off":
            continue
        fingerprint = _settings_fingerprint({"detector": dc.detector or name, **dc.settings})
        previous = (reuse or {}).get(name)
        if previous is not None and previous[0] == fingerprint:
            detectors[name] = previous[1]
            continue
        try:
            detectors[name] = registry.build(dc.detector or name, dc.settings)
        except UnknownDetectorError as exc:  # pragma: no cover - checked above
            raise ScoringConfigError(f"{source}: {exc}") from None
        except ConfigurationError as exc:
            raise ScoringConfigError(f"{source}: detectors.{name}.settings: {exc}") from None
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return LoadedConfig(config, detectors, version, source)


def _settings_fingerprint(settings: dict[str, Any]) -> str:
    import orjson

    return hashlib.sha256(orjson.dumps(settings, option=orjson.OPT_SORT_KEYS)).hexdigest()


def load_config(path: str | Path, registry: DetectorRegistry) -> LoadedConfig:
    """Read and validate the configuration file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScoringConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    return parse_config(text, registry, source=str(path))


class ConfigSource:
    """A configuration file, reloaded when it changes.

    :meth:`current` checks the file's modification time and size at most every
    ``check_interval`` seconds and reloads it when they changed. A new file that does
    not validate is not used: the previous configuration stays, :attr:`last_error`
    holds the reason and a warning is logged. The first load must succeed.
    :meth:`install` puts a configuration from elsewhere (a version the service keeps
    in its database) in force; the file is no longer watched after that.
    """

    def __init__(self, path: str | Path, registry: DetectorRegistry, *, check_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.registry = registry
        self.check_interval = check_interval
        self.last_error: str | None = None
        self.reloads = 0
        self._lock = threading.Lock()
        #: set by :meth:`install`: the file is no longer watched
        self.pinned = False
        self._stamp = self._file_stamp()
        self._loaded = load_config(self.path, registry)
        self._next_check = time.monotonic() + check_interval

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def current(self) -> LoadedConfig:
        """The configuration in force, reloading the file first if it changed."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.check_interval
            self.refresh()
        return self._loaded

    def refresh(self) -> bool:
        """Reload now if the file changed; return whether a new configuration is in force."""
        if self.pinned:  # a version installed from elsewhere rules: the file is not read
            return False
        with self._lock:
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            previous = self._loaded
            reuse = _reusable(previous)
            try:
                text = self.path.read_text(encoding="utf-8")
                self._loaded = parse_config(text, self.registry, source=str(self.path), reuse=reuse)
            except (OSError, ScoringConfigError) as exc:
                self.last_error = str(exc) if isinstance(exc, ScoringConfigError) else f"cannot read {self.path}"
                log.warning("configuration reload failed; keeping the previous configuration",
                            extra={"path": str(self.path), "reason": self.last_error, "version": previous.version})
                return False
            self.last_error = None
            self.reloads += 1
            log.info("configuration reloaded", extra={"path": str(self.path), "version": self._loaded.version})
            return True

    def install(self, text: str, *, source: str = "<installed>",
                fitted: LoadedConfig | None = None) -> LoadedConfig:
        """Put configuration ``text`` in force now, and stop watching the file.

        For a service whose versions live elsewhere (an approved proposal, a rollback):
        the text is validated first (:class:`ScoringConfigError`, and the configuration in
        force stays). A detector whose settings did not change keeps its fitted state;
        ``fitted`` (a trained bundle's configuration) gives fitted detectors to take
        instead where their settings match.
        """
        with self._lock:
            reuse = _reusable(self._loaded)
            if fitted is not None:
                reuse.update(_reusable(fitted))
            loaded = parse_config(text, self.registry, source=source, reuse=reuse)
            self._loaded = loaded
            self.pinned = True
            self.last_error = None
            self.reloads += 1
        log.info("configuration installed", extra={"source": source, "version": loaded.version})
        return loaded


def _reusable(loaded: LoadedConfig) -> dict[str, tuple[str, Detector]]:
    """``loaded``'s detectors by name, with the fingerprint of their settings (``reuse`` of :func:`parse_config`)."""
    return {
        name: (_settings_fingerprint({"detector": loaded.config.detectors[name].detector or name,
                                      **loaded.config.detectors[name].settings}), det)
        for name, det in loaded.detectors.items()
    }


class BoundConfig:
    """The configuration a pipeline scores with: a fixed one, or a reloadable source's current one, its
    detectors bound to the store once, when first seen (two threads seeing it first would otherwise both
    bind it, and a detector that takes state over from the one it replaces would take it twice)."""

    def __init__(self, config: ConfigSource | LoadedConfig, store: GraphStore) -> None:
        self.source = config if isinstance(config, ConfigSource) else None
        self._fixed = config if isinstance(config, LoadedConfig) else None
        self._store = store
        self._bound: LoadedConfig | None = None
        self._binding = threading.Lock()

    def current(self) -> LoadedConfig:
        """The configuration in force (reloaded first when its file changed), its detectors bound to the store."""
        loaded = self.source.current() if self.source is not None else self._fixed
        assert loaded is not None
        if loaded is not self._bound:  # a configuration seen for the first time: its detectors read this store
            with self._binding:
                if loaded is not self._bound:
                    loaded.bind(self._store, replacing=self._bound)
                    self._bound = loaded
        return loaded

    @property
    def in_force(self) -> LoadedConfig | None:
        """The configuration last put in force by :meth:`current`, read without reloading or binding anything."""
        return self._bound
