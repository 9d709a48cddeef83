"""A FAISS index of node embeddings, keyed by application id, and its measured recall.

:class:`SimilarityIndex` holds one vector per application id (an optional ``tag``,
such as the fraud typology, travels with it) and answers "which stored applications
are nearest to this vector" in Euclidean distance:

* below ``exact_below`` vectors it is exact: ``IndexIDMap2(IndexFlatL2)``;
* from there on it is an inverted file, ``IndexIVFFlat`` with about ``4 * sqrt(n)``
  lists, whose ``nprobe`` is **calibrated when it is built**: doubled until the
  recall@k of held-out queries against exact search reaches ``recall_target``
  (:func:`measure_recall`); the recall measured is kept in the metadata.

Both kinds add and remove vectors by application id (the inverted file keeps ids
natively; HNSW is not used because FAISS cannot remove from it). Vectors are stored
as float32. An index is saved as one file (:mod:`embeddings.similarity_file`: one file
holds several, e.g. the confirmed fraud and a legit contrast sample, with the
embedder's state) together with :class:`IndexMetadata`: embedder name, dimension,
count, kind, ``built_at``, format version.

Vectors in, neighbours out: the index records the name of the embedder the vectors
came from (the known-fraud detector's embedders are in :mod:`detectors.embedders`)
and refuses vectors of the wrong dimension.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> index = SimilarityIndex.build(rng.normal(size=(50, 4)), [f"A{i}" for i in range(50)], embedder="demo")
>>> index.kind, len(index), "A7" in index
('flat', 50, True)
>>> hit = index.search(index.vector("A7"), k=1)[0][0]
>>> hit.application_id, hit.distance
('A7', 0.0)
>>> index.remove(["A7"]), len(index)
(1, 49)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
import numpy.typing as npt

from tianwang.errors import TianwangError
from tianwang.frozen import quick_init

__all__ = [
    "DEFAULT_EXACT_BELOW",
    "FORMAT_VERSION",
    "IndexMetadata",
    "Neighbour",
    "SimilarityIndex",
    "SimilarityIndexError",
    "measure_recall",
    "recall_at_k",
]

FloatArray = npt.NDArray[np.float32]
IndexKind = Literal["flat", "ivf"]

#: Version of the file layout written by :func:`embeddings.similarity_file.save_indexes`.
FORMAT_VERSION = 1
#: Below this many vectors the index is exact.
DEFAULT_EXACT_BELOW = 50_000
#: An inverted file needs about 39 training vectors per list: below this it is never used.
_MIN_IVF = 1_000


#: Queries per search from which FAISS may use all its threads; fewer run on the calling thread only.
_PARALLEL_FROM = 16


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run FAISS on ``n`` OpenMP threads in this thread (``None``: as set), then restore.

    A single query costs microseconds; waking an OpenMP team for it costs more, and on
    a busy machine its spinning threads make the slowest queries far slower.
    """
    if n is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class SimilarityIndexError(TianwangError):
    """A similarity index was misused (wrong dimension) or its file is not one we wrote."""


@quick_init
@dataclass(frozen=True, slots=True)
class Neighbour:
    """A stored application near the query: its id, Euclidean distance and tag."""

    application_id: str
    distance: float
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class IndexMetadata:
    """What an index file says about the index it holds."""

    embedder: str
    dimension: int
    count: int
    kind: IndexKind
    built_at: str
    format_version: int = FORMAT_VERSION
    params: dict[str, int] = field(default_factory=dict)
    recall: float | None = None
    recall_k: int | None = None


def _as_matrix(vectors: npt.ArrayLike, dimension: int | None = None) -> FloatArray:
    x = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
    if x.ndim != 2 or (dimension is not None and x.shape[1] != dimension):
        raise SimilarityIndexError(f"vectors must have shape (n, {dimension}), got: {x.shape}")
    if not np.isfinite(x).all():
        raise SimilarityIndexError("vectors must be finite (no NaN or infinity)")
    return x


def recall_at_k(approximate: npt.NDArray[np.int64], exact: npt.NDArray[np.int64]) -> float:
    """Mean share of each query's exact ``k`` nearest ids found among its approximate ``k``."""
    if exact.size == 0:
        return float("nan")
    found = [len(set(a[a >= 0].tolist()) & set(e[e >= 0].tolist())) / max(int((e >= 0).sum()), 1)
             for a, e in zip(approximate, exact, strict=True)]
    return float(np.mean(found))


def measure_recall(index: faiss.Index, base: npt.ArrayLike, queries: npt.ArrayLike, k: int = 10,
                   *, base_ids: npt.ArrayLike | None = None, exclude_self: bool = False) -> float:
    """Recall@k of ``index`` (a FAISS index of ``base``) against exact search of ``base``.

    ``base_ids`` are the ids under which ``base`` rows are stored in ``index`` (default:
    row numbers). With ``exclude_self``, every query is a stored vector whose own id is
    left out of both answers: a leave-one-out query, as a new application would be.
    """
    exact = _exact_neighbours(base, queries, k, base_ids=base_ids, exclude_self=exclude_self)
    return recall_at_k(_index_neighbours(index, queries, k, exclude_self=exclude_self, own=exact[1]), exact[0])


def _exact_neighbours(base: npt.ArrayLike, queries: npt.ArrayLike, k: int, *, base_ids: npt.ArrayLike | None,
                      exclude_self: bool) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Ids of the exact ``k`` nearest of each query (and each query's own id, when excluded)."""
    x, q = _as_matrix(base), _as_matrix(queries)
    ids = np.arange(len(x), dtype=np.int64) if base_ids is None else np.asarray(base_ids, dtype=np.int64)
    extra = 1 if exclude_self else 0
    _, rows = faiss.knn(q, x, k + extra)
    exact = np.where(rows >= 0, ids[np.clip(rows, 0, None)], -1)
    own = exact[:, 0].copy() if exclude_self else np.full(len(q), -2, dtype=np.int64)
    return _drop_own(exact, own, k), own


def _index_neighbours(index: faiss.Index, queries: npt.ArrayLike, k: int, *, exclude_self: bool,
                      own: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    _, found = index.search(_as_matrix(queries), k + (1 if exclude_self else 0))
    return _drop_own(found, own, k)


def _drop_own(rows: npt.NDArray[np.int64], own: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.int64]:
    return np.array([np.pad(row[row != o][:k], (0, max(0, k - int((row != o).sum()))), constant_values=-1)
                     for row, o in zip(rows, own, strict=True)], dtype=np.int64).reshape(len(rows), k)


class SimilarityIndex:
    """Vectors by application id in a FAISS index, exact or calibrated-approximate.

    Build with :meth:`build` (which picks the kind) or start empty and :meth:`add`.
    Methods are thread-safe (one lock: FAISS does not allow searching while adding).

    Parameters
    ----------
    dimension : int
        Length of every vector.
    embedder : str
        Name of the embedder the vectors come from, recorded in the metadata.
    """

    def __init__(self, dimension: int, *, embedder: str = "unknown") -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be at least 1, got: {dimension}")
        self.dimension = dimension
        self.embedder = embedder
        self._faiss: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatL2(dimension))
        self.kind: IndexKind = "flat"
        self.recall: float | None = None
        self.recall_k: int | None = None
        self.built_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._label_of: dict[str, int] = {}
        self._entry: dict[int, tuple[str, str | None]] = {}
        self._next_label = 0
        self._lock = threading.RLock()

    # -- building ---------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        vectors: npt.ArrayLike,
        application_ids: Sequence[str],
        tags: Sequence[str | None] | None = None,
        *,
        embedder: str = "unknown",
        exact_below: int = DEFAULT_EXACT_BELOW,
        recall_target: float = 0.97,
        recall_k: int = 10,
        calibration_queries: int = 500,
        seed: int = 0,
    ) -> SimilarityIndex:
        """An index of ``vectors``: exact below ``exact_below`` rows, else a calibrated IVF.

        The IVF's ``nprobe`` is the smallest power of two whose recall@``recall_k`` on
        ``calibration_queries`` leave-one-out queries reaches ``recall_target``.
        """
        if not 0.0 < recall_target <= 1.0:
            raise ValueError(f"recall_target must be in (0, 1], got: {recall_target}")
        x = _as_matrix(vectors)
        if len(x) != len(application_ids):
            raise ValueError(f"{len(x)} vectors but {len(application_ids)} application ids")
        index = cls(x.shape[1], embedder=embedder)
        if len(x) >= max(exact_below, _MIN_IVF):
            index._make_ivf(x, seed)
        index.add(x, application_ids, tags)
        index.calibrate(x, application_ids, recall_target=recall_target, k=recall_k, queries=calibration_queries,
                        seed=seed)
        return index

    def _make_ivf(self, x: FloatArray, seed: int) -> None:
        n, d = x.shape
        nlist = int(min(max(16, 4 * math.sqrt(n)), n // 39))
        quantizer = faiss.IndexFlatL2(d)
        ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
        ivf.cp.seed = seed
        rng = np.random.default_rng(seed)
        sample = x[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
        ivf.train(sample)
        # removal by id without scanning every list (the stubs lack DirectMap)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        self._faiss, self.kind = ivf, "ivf"

    def calibrate(self, base: npt.ArrayLike, application_ids: Sequence[str], *, recall_target: float = 0.97,
                  k: int = 10, queries: int = 500, seed: int = 0) -> float:
        """Raise ``nprobe`` (doubling) until recall@k against exact search reaches the target.

        ``base`` are the vectors the index holds, stored under ``application_ids``; the
        queries are a sample of them, each left out of its own answer. Returns the
        recall measured at the ``nprobe`` kept (exact indexes: 1.0).
        """
        with self._lock:
            x = _as_matrix(base, self.dimension)
            if self.kind == "flat":
                self.recall, self.recall_k = 1.0, k
                return 1.0
            ids = np.array([self._label_of[a] for a in application_ids], dtype=np.int64)
            rng = np.random.default_rng(seed)
            q = x[rng.choice(len(x), size=min(queries, len(x)), replace=False)]
            exact, own = _exact_neighbours(x, q, k, base_ids=ids, exclude_self=True)
            ivf = faiss.extract_index_ivf(self._faiss)
            nprobe, recall = 1, 0.0
            while True:
                ivf.nprobe = nprobe
                recall = recall_at_k(_index_neighbours(self._faiss, q, k, exclude_self=True, own=own), exact)
                if recall >= recall_target or nprobe >= ivf.nlist:
                    break
                nprobe = min(nprobe * 2, ivf.nlist)
            self.recall, self.recall_k = recall, k
            return recall

    # -- contents ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._label_of)

    def __contains__(self, application_id: object) -> bool:
        return application_id in self._label_of

    @property
    def application_ids(self) -> list[str]:
        return list(self._label_of)

    def tag(self, application_id: str) -> str | None:
        return self._entry[self._label_of[application_id]][1]

    def vector(self, application_id: str) -> FloatArray:
        """The stored vector of ``application_id`` (``KeyError`` if absent)."""
        with self._lock:
            return np.asarray(self._faiss.reconstruct(self._label_of[application_id]), dtype=np.float32)

    @property
    def params(self) -> dict[str, int]:
        if self.kind == "ivf":
            ivf = faiss.extract_index_ivf(self._faiss)
            return {"nlist": int(ivf.nlist), "nprobe": int(ivf.nprobe)}
        return {}

    def metadata(self) -> IndexMetadata:
        return IndexMetadata(self.embedder, self.dimension, len(self), self.kind, self.built_at,
                             params=self.params, recall=self.recall, recall_k=self.recall_k)

    def add(self, vectors: npt.ArrayLike, application_ids: Sequence[str],
            tags: Sequence[str | None] | None = None) -> None:
        """Store ``vectors`` under ``application_ids`` (an id already stored is replaced)."""
        x = _as_matrix(vectors, self.dimension)
        if len(x) != len(application_ids) or (tags is not None and len(tags) != len(application_ids)):
            raise ValueError("vectors, application ids and tags must have the same length")
        if len(set(application_ids)) != len(application_ids):
            raise ValueError("application ids to add must be distinct")
        with self._lock:
            self.remove([a for a in application_ids if a in self._label_of])
            labels = np.arange(self._next_label, self._next_label + len(x), dtype=np.int64)
            self._next_label += len(x)
            if len(x):
                self._faiss.add_with_ids(x, labels)
            for label, app_id, tag in zip(labels.tolist(), application_ids, tags or [None] * len(x), strict=True):
                self._label_of[app_id] = label
                self._entry[label] = (app_id, tag)

    def remove(self, application_ids: Iterable[str]) -> int:
        """Remove the vectors of ``application_ids``; returns how many were stored."""
        with self._lock:
            labels = [self._label_of.pop(a) for a in application_ids if a in self._label_of]
            if not labels:
                return 0
            for label in labels:
                del self._entry[label]
            ids = np.asarray(labels, dtype=np.int64)
            return int(self._faiss.remove_ids(ids))  # type: ignore[arg-type]  # the wrapper takes arrays

    def search(self, vectors: npt.ArrayLike, k: int, *, exclude: Sequence[str | None] | None = None,
               ) -> list[list[Neighbour]]:
        """The ``k`` nearest stored applications of each query, nearest first.

        ``exclude[i]`` (an application id) is left out of query ``i``'s answer: an
        application is not its own neighbour.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got: {k}")
        q = _as_matrix(vectors, self.dimension)
        with self._lock:
            if not self._label_of:
                return [[] for _ in range(len(q))]
            with _threads(1 if len(q) < _PARALLEL_FROM else None):
                distances, labels = self._faiss.search(q, min(k + 1, len(self._label_of)))
            entry = self._entry.get
            entries = [[entry(label) for label in row] for row in labels.tolist()]
        out = []
        for i, (row_d, row_e) in enumerate(zip(distances.tolist(), entries, strict=True)):  # Python numbers
            skip = exclude[i] if exclude is not None else None
            hits = [Neighbour(e[0], math.sqrt(max(d, 0.0)), e[1])
                    for d, e in zip(row_d, row_e, strict=True) if e is not None and e[0] != skip]
            out.append(hits[:k])
        return out

    # -- files ------------------------------------------------------------------------
    def save(self, path: str | Path, extra: Mapping[str, Any] | None = None) -> None:
        """Write this index alone to a file (:func:`embeddings.similarity_file.save_indexes`)."""
        from embeddings.similarity_file import save_indexes

        save_indexes(path, {"index": self}, extra)

    @classmethod
    def load(cls, path: str | Path) -> SimilarityIndex:
        """Read an index written by :meth:`save`."""
        from embeddings.similarity_file import load_indexes

        return load_indexes(path)[0]["index"]

    def serialise(self) -> tuple[dict[str, Any], bytes]:
        """The JSON-able state (metadata, id table) and the FAISS bytes, taken together under the lock."""
        with self._lock:
            entries = sorted(self._entry.items())
            state = {"metadata": asdict(self.metadata()), "next_label": self._next_label,
                     "labels": [label for label, _ in entries], "ids": [e[0] for _, e in entries],
                     "tags": [e[1] for _, e in entries]}
            return state, faiss.serialize_index(self._faiss).tobytes()

    @classmethod
    def deserialise(cls, state: Mapping[str, Any], blob: bytes) -> SimilarityIndex:
        """The index :meth:`serialise` gave ``state`` and ``blob`` of (refused when they disagree)."""
        meta = IndexMetadata(**state["metadata"])
        index = cls(meta.dimension, embedder=meta.embedder)
        index._faiss = faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8))
        index.kind, index.built_at, index.recall, index.recall_k = meta.kind, meta.built_at, meta.recall, meta.recall_k
        index._next_label = int(state["next_label"])
        for label, app_id, tag in zip(state["labels"], state["ids"], state["tags"], strict=True):
            index._label_of[app_id] = int(label)
            index._entry[int(label)] = (app_id, tag)
        if index._faiss.d != meta.dimension or index._faiss.ntotal != meta.count or len(index) != meta.count:
            raise SimilarityIndexError(
                f"index file is inconsistent: metadata says {meta.count} vectors of dimension {meta.dimension}, "
                f"the FAISS index holds {index._faiss.ntotal} of dimension {index._faiss.d}")
        return index
