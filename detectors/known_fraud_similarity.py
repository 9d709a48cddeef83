"""Similarity to known fraud: how close an application lies to confirmed fraud cases.

Every application is embedded (:mod:`detectors.embedders`): by default as its
standardised feature row (:mod:`detectors.application_features`, whose graph columns
count what it shares with earlier applications); ``embedder: features_neighbours``
appends the mean row of those earlier applications, a cheap inductive node embedding
(it needs the rows of the applications the process has observed, so it is warm only
after a while). Confirmed
fraud cases sit in a FAISS index (:class:`~embeddings.similarity.SimilarityIndex`:
exact when small, a recall-calibrated inverted file when large), beside a sample of
legit applications for contrast. An application's vote comes from the distance to its
``k`` nearest confirmed fraud cases relative to its distance to legit ones, turned
into a probability by a logistic model fitted on the latest part of the training
history (queried against an index of the earlier part, as new applications are); its
reason names the nearest fraud cases by application id, with distance and typology.

The index is built by :meth:`KnownFraudSimilarityDetector.fit` (or read from the file
``tianwang similarity rebuild`` writes, setting ``index_path``) and kept current by
:meth:`KnownFraudSimilarityDetector.add_verdict` when an investigator confirms a case.
Other embedders (a GNN's hidden vectors) plug in through
:class:`~detectors.embedders.ApplicationEmbedder` and
:func:`~detectors.embedders.register_embedder`.

Examples
--------
>>> KnownFraudSimilarityDetector.name, KnownFraudSimilarityDetector.layer
('known_fraud_similarity', 'deep')
>>> KnownFraudSimilarityDetector({"embedder": "nope"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
detectors.base.DetectorSettingsError: invalid settings ...: embedder: unknown embedder 'nope'; known: features, ...
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator

from detectors.base import Detector, DetectorNotFittedError, DetectorSettings, Evidence, Reason, Vote
from detectors.context import LabelledContext, ScoringContext
from detectors.embedders import EMBEDDERS, ApplicationEmbedder
from tianwang.stats import fit_logistic, sigmoid

if TYPE_CHECKING:  # faiss loads with embeddings.similarity: only when an index is built or read
    from embeddings.similarity import Neighbour, SimilarityIndex

__all__ = ["KnownFraudSimilarityDetector"]

log = logging.getLogger(__name__)

_EPS = 1e-3


@dataclass(frozen=True, slots=True)
class _Calibration:
    """Logistic model of fraud on log distances (nearest fraud, k fraud, k legit), and reference figures."""

    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    prior: float
    legit_nearest_quantiles: tuple[float, ...]

    def probability(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        z = ((features - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights[:-1])
        return sigmoid(z + self.weights[-1])

    def closer_than_legit(self, nearest: float) -> float:
        """Share of legit calibration applications whose nearest fraud case is farther than ``nearest``."""
        q = np.asarray(self.legit_nearest_quantiles)
        return float(1.0 - np.searchsorted(q, nearest, side="right") / len(q)) if len(q) else float("nan")


class KnownFraudSimilarityDetector(Detector):
    """Votes with the distance to the nearest confirmed fraud cases, and names them."""

    name = "known_fraud_similarity"
    version = "1"
    needs_graph = True
    supports_training = True
    layer = "deep"
    inline = True

    class Settings(DetectorSettings):
        #: How an application becomes a vector (see :data:`EMBEDDERS`).
        embedder: str = "features"
        #: Nearest fraud (and legit) cases whose mean distance enters the vote.
        k: int = Field(10, ge=1, le=100)
        #: Nearest fraud cases named in the reason.
        show: int = Field(3, ge=1, le=10)
        #: Legit applications kept for contrast.
        legit_sample: int = Field(5000, ge=10)
        #: Latest share of the history used to calibrate the vote.
        calibration_fraction: float = Field(0.3, gt=0.0, lt=1.0)
        #: Fewer confirmed fraud cases than this and the detector abstains.
        min_fraud: int = Field(10, ge=1)
        #: Index size from which the index is approximate (IVF) instead of exact.
        exact_below: int = Field(50_000, ge=1)  # embeddings.similarity.DEFAULT_EXACT_BELOW
        #: Recall@10 against exact search an approximate index must reach.
        recall_target: float = Field(0.97, gt=0.0, le=1.0)
        #: An index file written by ``tianwang similarity rebuild``, read when not fitted here.
        index_path: str | None = None
        #: Applications remembered for the neighbours' mean row.
        neighbour_capacity: int = Field(200_000, ge=0)
        #: Vectors of the latest applications seen, kept so a verdict by id can be indexed.
        verdict_capacity: int = Field(100_000, ge=0)
        target_typologies: list[str] | None = None
        seed: int = 0

        @field_validator("embedder")
        @classmethod
        def _known_embedder(cls, value: str) -> str:
            if value.lower() not in EMBEDDERS:
                raise ValueError(f"unknown embedder {value!r}; known: {', '.join(sorted(EMBEDDERS))}")
            return value.lower()

    settings: Settings
    _SAVED_SETTINGS: ClassVar[tuple[str, ...]] = ("embedder", "k", "legit_sample", "calibration_fraction")

    def __init__(self, settings: Mapping[str, Any] | DetectorSettings | None = None) -> None:
        super().__init__(settings)
        self.embedder: ApplicationEmbedder = EMBEDDERS[self.settings.embedder](self.settings)
        self.fraud_index: SimilarityIndex | None = None
        self.legit_index: SimilarityIndex | None = None
        self._calibration: _Calibration | None = None
        self._legit_seen = 0
        self._rng = np.random.default_rng(self.settings.seed)
        self._load_lock = threading.Lock()
        self._load_tried = False
        self._recent: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._recent_lock = threading.Lock()

    # -- training ---------------------------------------------------------------------
    def observe(self, context: ScoringContext) -> None:
        self.embedder.observe(context)
        if self.fraud_index is not None and self.settings.verdict_capacity:
            with self._recent_lock:
                seen = context.application_id in self._recent  # scored: its vector is kept already
            if not seen:
                self._remember([context.application_id], self.embedder.embed([context]))

    def _remember(self, ids: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        """Keep the latest ``verdict_capacity`` vectors by application id, for verdicts."""
        if not self.settings.verdict_capacity:
            return
        with self._recent_lock:
            for application_id, vector in zip(ids, vectors, strict=True):
                self._recent[application_id] = vector
                self._recent.move_to_end(application_id)
            while len(self._recent) > self.settings.verdict_capacity:
                self._recent.popitem(last=False)

    def verdict(self, application_id: str, fraud: bool, typology: str | None = None) -> bool:
        """Index a verdict on one of the latest ``verdict_capacity`` applications seen (by id)."""
        with self._recent_lock:
            vector = self._recent.get(application_id)
        if vector is None or self.fraud_index is None:
            return False
        self.add_verdict(vector, application_id, fraud, typology)
        return True

    def _fit(self, history: Sequence[LabelledContext]) -> dict[str, Any]:
        s = self.settings
        ordered = sorted(history, key=lambda h: (h.context.as_of, h.context.application_id))
        fraud = np.array([h.fraud for h in ordered], dtype=bool)
        if fraud.sum() < s.min_fraud or (~fraud).sum() < s.k:
            self.fraud_index = self.legit_index = None
            self._calibration = None
            return {"abstains": f"{int(fraud.sum())} confirmed fraud and {int((~fraud).sum())} legit cases; "
                                f"needs min_fraud={s.min_fraud} fraud and k={s.k} legit"}
        contexts = [h.context for h in ordered]
        self.embedder.fit(contexts)
        x = self.embedder.embed(contexts)
        ids = [c.application_id for c in contexts]
        tags = [h.typology for h in ordered]
        cut = int(len(ordered) * (1 - s.calibration_fraction))
        ref_fraud, ref_legit = np.flatnonzero(fraud[:cut]), np.flatnonzero(~fraud[:cut])
        n_legit = min(s.legit_sample, len(ref_legit))
        calibration = None
        if len(ref_fraud) >= s.min_fraud and n_legit >= s.k and 0 < fraud[cut:].sum() < len(ordered) - cut:
            self._index(x, ids, tags, ref_fraud, self._rng.choice(ref_legit, n_legit, replace=False))
            features = self._distance_features(x[cut:], ids[cut:])[0]
            coefficients, intercept = fit_logistic(
                (features - features.mean(0)) / features.std(0).clip(1e-9), fraud[cut:], l2=1.0, bias=0.0)
            weights = np.append(coefficients, intercept)
            nearest_legit = features[~fraud[cut:], 0]
            calibration = _Calibration(
                tuple(weights.tolist()), tuple(features.mean(0).tolist()), tuple(features.std(0).clip(1e-9).tolist()),
                float(fraud[cut:].mean()), tuple(np.exp(np.quantile(nearest_legit, np.linspace(0, 1, 101))).tolist()))
        all_legit = np.flatnonzero(~fraud)
        self._index(x, ids, tags, np.flatnonzero(fraud), self._rng.choice(all_legit, n_legit, replace=False))
        self._calibration = calibration
        self._legit_seen = len(all_legit)
        assert self.fraud_index is not None
        return {"fraud": len(self.fraud_index), "legit_sample": n_legit, "embedder": self.embedder.name,
                "index": self.fraud_index.kind, "calibrated": calibration is not None,
                "weights": [round(w, 3) for w in calibration.weights] if calibration else None}

    def _index(self, x: npt.NDArray[np.float32], ids: list[str], tags: list[str | None],
               fraud_rows: npt.NDArray[np.intp], legit_rows: npt.NDArray[np.intp]) -> None:
        from embeddings.similarity import SimilarityIndex

        s = self.settings
        build: dict[str, Any] = {"embedder": self.embedder.name, "exact_below": s.exact_below,
                                 "recall_target": s.recall_target, "seed": s.seed}
        self.fraud_index = SimilarityIndex.build(x[fraud_rows], [ids[i] for i in fraud_rows],
                                                 [tags[i] for i in fraud_rows], **build)
        self.legit_index = SimilarityIndex.build(x[legit_rows], [ids[i] for i in legit_rows], **build)

    def _distance_features(self, x: npt.NDArray[np.float32], ids: Sequence[str],
                           ) -> tuple[npt.NDArray[np.float64], list[list[Neighbour]]]:
        """Log distances (nearest fraud, mean of k fraud, mean of k legit) and the fraud neighbours."""
        assert self.fraud_index is not None and self.legit_index is not None
        k = self.settings.k
        fraud_hits = self.fraud_index.search(x, k, exclude=list(ids))
        legit_hits = self.legit_index.search(x, k, exclude=list(ids))
        rows = []
        for f, g in zip(fraud_hits, legit_hits, strict=True):
            fd = [h.distance for h in f] or [math.inf]
            ld = [h.distance for h in g] or [math.inf]
            rows.append([math.log(fd[0] + _EPS), math.log(sum(fd) / len(fd) + _EPS),
                         math.log(sum(ld) / len(ld) + _EPS)])
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), 3), fraud_hits

    # -- verdicts and files -----------------------------------------------------------
    def add_verdict(self, context_or_vector: ScoringContext | npt.ArrayLike, application_id: str, fraud: bool,
                    typology: str | None = None) -> None:
        """Take a confirmed verdict into the index: fraud joins the fraud cases, legit leaves them.

        A legit verdict may also join the legit contrast sample (reservoir sampling keeps
        it a uniform sample of the legit verdicts seen).
        """
        self._ensure_index()
        if self.fraud_index is None or self.legit_index is None:
            raise DetectorNotFittedError(f"detector {self.name!r} has no index: fit it or set index_path")
        if isinstance(context_or_vector, ScoringContext):
            vector = self.embedder.embed([context_or_vector])
        else:
            vector = np.asarray(context_or_vector, dtype=np.float32).reshape(1, -1)
        if fraud:
            self.legit_index.remove([application_id])
            self.fraud_index.add(vector, [application_id], [typology])
        else:
            self.fraud_index.remove([application_id])
            self._legit_seen += 1
            if len(self.legit_index) < self.settings.legit_sample:
                self.legit_index.add(vector, [application_id])
            elif self._rng.random() < self.settings.legit_sample / self._legit_seen:
                ids = self.legit_index.application_ids
                self.legit_index.remove([ids[int(self._rng.integers(len(ids)))]])
                self.legit_index.add(vector, [application_id])
        log.info("verdict indexed", extra={"detector": self.name, "application_id": application_id,
                                           "fraud": fraud, "fraud_cases": len(self.fraud_index)})

    def save(self, path: str) -> None:
        """Write the indexes, the embedder's state and the calibration to one file."""
        from embeddings.similarity_file import save_indexes

        if self.fraud_index is None or self.legit_index is None:
            raise DetectorNotFittedError(f"detector {self.name!r} has nothing to save: fit it first")
        extra = {"detector": self.name, "version": self.version,
                 "settings": self.settings.model_dump(include=set(self._SAVED_SETTINGS)),
                 "embedder": {"name": self.embedder.name, "state": self.embedder.state()},
                 "calibration": asdict(self._calibration) if self._calibration else None,
                 "legit_seen": self._legit_seen}
        save_indexes(path, {"fraud": self.fraud_index, "legit": self.legit_index}, extra)

    def load(self, path: str) -> None:
        """Read a file written by :meth:`save`; its embedder must be this detector's."""
        from embeddings.similarity import SimilarityIndexError
        from embeddings.similarity_file import load_indexes

        indexes, extra = load_indexes(path)
        if extra.get("detector") != self.name or extra.get("embedder", {}).get("name") != self.embedder.name:
            raise SimilarityIndexError(
                f"{path} holds an index of detector {extra.get('detector')!r} with embedder "
                f"{extra.get('embedder', {}).get('name')!r}, not {self.name!r} with {self.embedder.name!r}")
        self.embedder.load_state(extra["embedder"]["state"])
        cal = extra.get("calibration")
        self._calibration = None if not cal else _Calibration(
            tuple(cal["weights"]), tuple(cal["mean"]), tuple(cal["scale"]), float(cal["prior"]),
            tuple(cal["legit_nearest_quantiles"]))
        self.fraud_index, self.legit_index = indexes["fraud"], indexes["legit"]
        self._legit_seen = int(extra.get("legit_seen", len(self.legit_index)))

    def _ensure_index(self) -> None:
        if self.fraud_index is not None or self.settings.index_path is None or self._load_tried:
            return
        with self._load_lock:
            if not self._load_tried:
                self._load_tried = True
                self.load(self.settings.index_path)

    # -- scoring ----------------------------------------------------------------------
    def _score(self, context: ScoringContext) -> Vote:
        return self._score_many([context])[0]

    def _score_many(self, contexts: Sequence[ScoringContext]) -> list[Vote]:
        self._ensure_index()
        cal = self._calibration
        if (cal is None or self.fraud_index is None or len(self.fraud_index) < self.settings.min_fraud
                or not contexts):
            prior = cal.prior if cal is not None else 0.01
            return [Vote(prior, 0.0, baseline=prior) for _ in contexts]
        x = self.embedder.embed(contexts)
        ids = [c.application_id for c in contexts]
        self._remember(ids, x)
        features, hits = self._distance_features(x, ids)
        scores = cal.probability(features)
        return [self._vote(float(p), f, h, cal) for p, f, h in zip(scores, features, hits, strict=True)]

    def _vote(self, p: float, features: npt.NDArray[np.float64], hits: list[Neighbour], cal: _Calibration) -> Vote:
        p = min(max(p, 1e-6), 1 - 1e-6)
        if p <= cal.prior or not hits:
            return Vote(p, 1.0, baseline=cal.prior)
        shown = hits[: self.settings.show]
        cases = ", ".join(f"{h.application_id} ({h.tag or 'fraud'}, distance {h.distance:.2f})" for h in shown)
        closer = cal.closer_than_legit(hits[0].distance)
        text = f"near {len(shown)} confirmed fraud case(s): {cases}"
        if math.isfinite(closer):
            text += f"; nearer to one than {closer:.0%} of legit applications are"
        strength = math.log(p / (1 - p)) - math.log(cal.prior / (1 - cal.prior))
        evidence = tuple(Evidence("embedding", f"{h.distance:.2f}", neighbour=h.application_id,
                                  detail=h.tag or "fraud") for h in shown)
        return Vote(p, 1.0, (Reason("NEAR_CONFIRMED_FRAUD", text, evidence, strength),), baseline=cal.prior)
