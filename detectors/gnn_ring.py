"""GNN ring scoring: a graph neural network over the applications linked to this one.

The model (:mod:`embeddings.ring_gnn`) reads each application's feature row and, two
hops deep, the rows of the earlier applications that share an applicant, phone,
device, account, address, contact, vehicle or driver with it (the rows and links come
from :mod:`detectors.ring_gnn_features`; the model takes them as arrays). Every application the
pipeline observes is embedded once, at its own time, and its hidden states are kept
in a cache keyed by application id; a new application is then embedded from its row
and its linked applications' cached states in a few milliseconds, without retraining.

:meth:`~detectors.base.Detector.fit` trains the model on labelled history (the
applications observed before it that carry no label join the graph too), or, with
``artifact`` set, the detector loads a trained model when it is built and fitting only
fills the cache. ``save_to`` writes the trained model as an artifact folder.

The vote is the model's calibrated fraud probability against the training fraud rate.
Reasons name the linked applications the model scores as fraud-like (their ids and
the kind of link: no personal data), linked applications confirmed as fraud in the
training history or by an investigator's verdict since (:meth:`GnnRingDetector.verdict`),
and whether the application's own figures alone look like fraud.

Torch is imported only when the detector trains or loads a model, so importing the
detector registry stays light.

Examples
--------
>>> GnnRingDetector({"hidden_channels": 2})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
detectors.base.DetectorSettingsError: invalid settings for detector 'gnn_ring': hidden_channels: Input should be ...
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from detectors.base import Detector, DetectorError, DetectorSettings, DetectorSettingsError, Evidence, Reason, Vote
from detectors.context import LINK_KIND_NAMES, LabelledContext, ScoringContext
from detectors.ring_gnn_features import RING_FEATURE_NAMES, linked_applications, ring_features, row_without_links

if TYPE_CHECKING:
    from embeddings.ring_gnn import RingGnnModel

__all__ = ["GnnRingDetector", "GnnRingSettings"]

_MAX_EVIDENCE = 5


class GnnRingSettings(DetectorSettings):
    """Model, training and cache settings (see :class:`embeddings.ring_gnn.RingGnnParams`).

    ``artifact``: a trained model to load now (no training needed); ``save_to``: where to
    write the model after :meth:`fit`. ``target_typologies``: the fraud the model learns
    to tell from legitimate applications (other fraud is left out of training; all fraud
    when unset). ``fraud_like``: the probability above which a linked application is
    named in the reasons. ``cache_size``: applications whose states are kept.
    ``num_threads``: torch threads for training, and for the process once a model is
    installed (torch's thread count is global).
    """

    artifact: Path | None = None
    save_to: Path | None = None
    hidden_channels: int = Field(default=64, ge=4, le=1024)
    num_layers: int = Field(default=2, ge=1, le=4)
    dropout: float = Field(default=0.2, ge=0, lt=1)
    lr: float = Field(default=3e-3, gt=0, le=1)
    weight_decay: float = Field(default=1e-4, ge=0)
    epochs: int = Field(default=300, ge=1)
    patience: int = Field(default=40, ge=0)
    eval_every: int = Field(default=5, ge=1)
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    pos_weight: Annotated[float, Field(gt=0)] | Literal["balanced"] = 1.0
    refit: bool = True
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int = Field(default=1, ge=1)
    target_typologies: list[str] | None = None
    fraud_like: float = Field(default=0.5, gt=0, lt=1)
    cache_size: int = Field(default=500_000, ge=1)


class GnnRingDetector(Detector):
    """Votes with a GNN's fraud probability of the application given its linked applications."""

    name = "gnn_ring"
    version = "1"
    layer = "deep"
    inline = True
    needs_graph = True
    needs_training = True
    supports_training = True
    Settings: ClassVar[type[DetectorSettings]] = GnnRingSettings

    def __init__(self, settings: Mapping[str, Any] | DetectorSettings | None = None) -> None:
        super().__init__(settings)
        self._lock = threading.Lock()
        self._model: RingGnnModel | None = None
        # rows, times and links of the applications observed before a model existed: what
        # (re)training adds to the labelled history, unlabelled
        self._pending: dict[str, tuple[float, np.ndarray, tuple[str, ...]]] = {}
        # with a model: cacheable states and probability of each application, oldest first
        self._states: OrderedDict[str, tuple[np.ndarray, float]] = OrderedDict()
        self._known_fraud: set[str] = set()
        self._baseline = 0.05
        s: GnnRingSettings = self.settings
        if s.artifact is not None:
            self._load(s.artifact)

    @property
    def model(self) -> RingGnnModel | None:
        """The trained or loaded model, if any."""
        return self._model

    # -- model ----------------------------------------------------------------------------
    def _load(self, folder: Path) -> None:
        from embeddings.ring_gnn import RingArtifactError, RingGnnModel

        try:
            model, states = RingGnnModel.load(folder, RING_FEATURE_NAMES, self.settings.device)
        except RingArtifactError as exc:
            raise DetectorSettingsError(f"invalid settings for detector {self.name!r}: artifact: {exc}") from None
        self._install(model)
        if states is not None:
            with self._lock:
                for i, app_id in enumerate(states["ids"].tolist()):
                    self._remember(app_id, states["states"][i], float(states["probabilities"][i]))
                self._known_fraud = set(states["ids"][states["known_fraud"]].tolist())
        self._fit_state.fitted = True
        self._fit_state.details = {"artifact": str(folder), **_summary(model.metadata)}

    def _install(self, model: RingGnnModel) -> None:
        import torch

        # one application is a handful of tiny products: a pool of threads per product only
        # adds waiting (over 100 ms a call on busy cores, against 1 ms on one thread)
        torch.set_num_threads(self.settings.num_threads)
        self._model = model
        self._baseline = float(min(max(model.metadata.get("fraud_rate", 0.05), 1e-4), 0.5))

    def _params(self) -> Any:
        from embeddings.ring_gnn import RingGnnParams

        s: GnnRingSettings = self.settings
        return RingGnnParams(
            hidden_channels=s.hidden_channels, num_layers=s.num_layers, dropout=s.dropout, lr=s.lr,
            weight_decay=s.weight_decay, epochs=s.epochs, patience=s.patience, eval_every=s.eval_every,
            validation_fraction=s.validation_fraction, pos_weight=s.pos_weight, refit=s.refit, seed=s.seed,
            device=s.device, num_threads=s.num_threads,
        )

    def _fit(self, history: Sequence[LabelledContext]) -> dict[str, Any] | None:
        from embeddings.ring_gnn import RingTrainingGraph, train_ring_gnn

        with self._lock:
            nodes = dict(self._pending)
        for item in history:
            if item.context.application_id not in nodes:
                nodes[item.context.application_id] = _node(item.context)
        labels = self._labels(history)
        ids = list(nodes)
        graph = RingTrainingGraph.build(
            ids, [nodes[i][0] for i in ids],
            np.vstack([nodes[i][1] for i in ids]) if ids else np.zeros((0, len(RING_FEATURE_NAMES))),
            [nodes[i][2] for i in ids], [labels.get(i, np.nan) for i in ids], feature_names=RING_FEATURE_NAMES)
        if self._model is None or self.settings.artifact is None:
            try:
                model = train_ring_gnn(graph, self._params())
            except ValueError as exc:
                raise DetectorError(f"detector {self.name!r} cannot train on this history: {exc}") from None
            self._install(model)
        assert self._model is not None
        states, probabilities = self._model.node_states(graph.features, graph.edge_index)
        known = {h.context.application_id for h in history if h.fraud}
        with self._lock:
            self._states.clear()
            for i, app_id in enumerate(graph.ids):
                self._remember(app_id, states[i], float(probabilities[i]))
            self._known_fraud = known
        if self.settings.save_to is not None:
            ids_array = np.array(graph.ids)
            self._model.save(self.settings.save_to, {
                "ids": ids_array, "states": states.astype(np.float32), "probabilities": probabilities,
                "known_fraud": np.isin(ids_array, list(known))})
        return {**_summary(self._model.metadata), "nodes": len(graph.ids),
                **({"artifact": str(self.settings.artifact)} if self.settings.artifact is not None else {}),
                **({"saved_to": str(self.settings.save_to)} if self.settings.save_to is not None else {})}

    def _labels(self, history: Sequence[LabelledContext]) -> dict[str, float]:
        """1 for target fraud, 0 for legit; other fraud is left unlabelled."""
        targets = set(self.settings.target_typologies or ())
        if targets and not any(h.typology in targets for h in history):
            targets = set()
        return {h.context.application_id: float(h.fraud) for h in history
                if not h.fraud or not targets or h.typology in targets}

    def _remember(self, app_id: str, states: np.ndarray, probability: float) -> None:
        """Keep one application's states (call with the lock held)."""
        self._states[app_id] = (states, probability)
        self._states.move_to_end(app_id)
        while len(self._states) > self.settings.cache_size:
            self._states.popitem(last=False)

    @property
    def confirmed_fraud(self) -> frozenset[str]:
        """Applications known as fraud: the training history's, and investigators' verdicts since."""
        with self._lock:
            return frozenset(self._known_fraud)

    def verdict(self, application_id: str, fraud: bool, typology: str | None = None) -> bool:
        """Name a confirmed case in the reasons of applications linked to it (the score waits for training)."""
        with self._lock:
            if fraud:
                self._known_fraud.add(application_id)
            else:
                self._known_fraud.discard(application_id)
        return True

    # -- observing and scoring --------------------------------------------------------------
    def observe(self, context: ScoringContext) -> None:
        """Cache the application: its row before a model exists, its states after."""
        app_id = context.application_id
        if self._model is None:
            node = _node(context)
            with self._lock:
                self._pending[app_id] = node
                if len(self._pending) > self.settings.cache_size:
                    self._pending.pop(next(iter(self._pending)))
            return
        with self._lock:
            if app_id in self._states:
                return
        states, probability, _ = self._embed(context)
        with self._lock:
            self._remember(app_id, states, probability)

    def _embed(self, context: ScoringContext) -> tuple[np.ndarray, float, dict[str, Any]]:
        assert self._model is not None
        linked = linked_applications(context)
        with self._lock:
            found = {a: self._states[a] for a in linked if a in self._states}
        row = ring_features(context, len(linked))
        layers, hidden = self._model.module.num_layers, self._model.module.hidden_channels
        neighbour_states = (np.stack([s for s, _ in found.values()]) if found
                            else np.zeros((0, layers, hidden), dtype=np.float32))
        states, probability = self._model.embed(row, neighbour_states)
        return states, probability, {"linked": linked, "found": found, "row": row}

    def _score(self, context: ScoringContext) -> Vote:
        assert self._model is not None
        states, probability, seen = self._embed(context)
        linked: dict[str, tuple[str, ...]] = seen["linked"]
        found: dict[str, tuple[np.ndarray, float]] = seen["found"]
        with self._lock:
            self._remember(context.application_id, states, probability)
        confidence = 1.0 if not linked else 0.5 + 0.5 * len(found) / len(linked)
        reasons = self._reasons(probability, linked, found, seen["row"])
        return Vote(probability, confidence, reasons, baseline=self._baseline)

    def _reasons(self, probability: float, linked: dict[str, tuple[str, ...]],
                 found: dict[str, tuple[np.ndarray, float]], row: np.ndarray) -> tuple[Reason, ...]:
        if probability <= self._baseline:
            return ()
        assert self._model is not None
        fraud_like = sorted(((p, a) for a, (_, p) in found.items() if p >= self.settings.fraud_like), reverse=True)
        confirmed = [a for a in linked if a in self._known_fraud]
        reasons = []
        if fraud_like or confirmed:
            named = list(dict.fromkeys([*confirmed, *(a for _, a in fraud_like)]))
            kinds = list(dict.fromkeys(LINK_KIND_NAMES[k] for a in named for k in linked[a]))
            scores = dict((a, p) for p, a in fraud_like)
            text = f"linked through {', '.join(kinds)} to "
            if fraud_like:
                text += f"{_count(len(fraud_like), 'earlier application')} the model scores as fraud-like"
                if confirmed:
                    text += f"; {_count(len(confirmed), 'linked application')} confirmed fraud"
            else:
                text += f"{_count(len(confirmed), 'application')} confirmed fraud"
            evidence = tuple(
                Evidence(field=linked[a][0], neighbour=a,
                         value=f"{scores[a]:.2f}" if a in scores else None,
                         detail="confirmed fraud" if a in self._known_fraud else "model score")
                for a in named[:_MAX_EVIDENCE])
            strength = max([p for p, _ in fraud_like] + [1.0 if confirmed else 0.0])
            reasons.append(Reason("GNN_FRAUD_LIKE_LINKS", text, evidence, strength))
        alone = self._model.embed(row_without_links(row), _no_neighbours(self._model))[1]
        if alone >= self.settings.fraud_like or not reasons:
            reasons.append(Reason(
                "GNN_PROFILE_LIKE_FRAUD",
                f"the application's own figures score {alone:.2f} without its links "
                f"(training fraud rate {self._baseline:.3f})",
                (Evidence(field="application", value=f"{alone:.2f}", detail="score without links"),), alone))
            reasons.sort(key=lambda r: -r.strength)
        return tuple(reasons)


def _no_neighbours(model: RingGnnModel) -> np.ndarray:
    return np.zeros((0, model.module.num_layers, model.module.hidden_channels), dtype=np.float32)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _node(context: ScoringContext) -> tuple[float, np.ndarray, tuple[str, ...]]:
    linked = tuple(linked_applications(context))
    return context.as_of, ring_features(context, len(linked)).astype(np.float32), linked


def _summary(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: metadata[k] for k in ("metrics", "data_window", "n_labelled", "n_fraud", "fraud_rate", "created_at")
            if k in metadata}
