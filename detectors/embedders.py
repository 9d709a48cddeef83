"""Embedders: how the known-fraud detector turns an application into a vector.

:class:`ApplicationEmbedder` is what the detector (and the FAISS index behind it,
:mod:`embeddings.similarity`) needs of one: a name, a dimension, vectors of scoring
contexts and a JSON-able state. :class:`FeatureEmbedder` is the built-in one: the
standardised feature row of :mod:`detectors.application_features`, optionally with the
mean row of the earlier applications linked to it. :data:`EMBEDDERS` holds them by the
name the detector's ``embedder`` setting takes; :func:`register_embedder` adds one (a
GNN's hidden vectors, say)::

    from detectors.embedders import register_embedder

    register_embedder("my_gnn", lambda settings: MyGnnEmbedder())

Examples
--------
>>> sorted(EMBEDDERS)
['features', 'features_neighbours']
>>> FeatureEmbedder(neighbours=False).dimension == len(FEATURE_NAMES)
True
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from detectors.application_features import FEATURE_NAMES, application_features
from detectors.base import DetectorNotFittedError
from detectors.context import ScoringContext
from embeddings.scaling import FeatureScaler

__all__ = ["EMBEDDERS", "ApplicationEmbedder", "FeatureEmbedder", "register_embedder"]


@runtime_checkable
class ApplicationEmbedder(Protocol):
    """What the known-fraud detector needs of an embedder: its name, dimension, vectors and state.

    ``observe`` sees every application the pipeline stores, in time order (an embedder
    that uses the neighbours of an application keeps what it needs of them); ``fit``
    learns from the training contexts (a scaler, say) and may do nothing.
    """

    name: str

    @property
    def dimension(self) -> int: ...

    def fit(self, contexts: Sequence[ScoringContext]) -> None: ...

    def observe(self, context: ScoringContext) -> None: ...

    def embed(self, contexts: Sequence[ScoringContext]) -> npt.NDArray[np.float32]: ...

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: Mapping[str, Any]) -> None: ...


class FeatureEmbedder:
    """The standardised feature row of an application, optionally with its neighbours' mean row.

    With ``neighbours``, the rows of applications it has observed are remembered (at most
    ``capacity``, oldest forgotten first) and an application's embedding gets the mean row
    of the earlier applications sharing any attribute with it, and how many there were.
    """

    def __init__(self, *, neighbours: bool = True, capacity: int = 200_000) -> None:
        self.neighbours = neighbours
        self.name = "features_neighbours" if neighbours else "features"
        self.capacity = capacity
        self._rows: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._scaler: FeatureScaler | None = None

    @property
    def dimension(self) -> int:
        return len(FEATURE_NAMES) * (2 if self.neighbours else 1) + (1 if self.neighbours else 0)

    def observe(self, context: ScoringContext) -> None:
        if self.neighbours:
            self._rows[context.application_id] = application_features(context).astype(np.float32)
            if len(self._rows) > self.capacity:
                self._rows.popitem(last=False)

    def _raw(self, context: ScoringContext) -> npt.NDArray[np.float64]:
        own = application_features(context)
        if not self.neighbours:
            return own
        links = context.links
        others: dict[str, None] = {}
        if links is not None:
            for link in (links.person, links.phone, links.device, links.account, links.address, links.vehicle,
                         links.vehicle_user, *links.contacts):
                if link is not None:
                    others.update(dict.fromkeys(link.others))
        rows = [r for r in (self._rows.get(a) for a in others if a != context.application_id) if r is not None]
        mean = np.mean(rows, axis=0) if rows else np.zeros_like(own)
        return np.concatenate([own, mean, [math.log1p(len(rows))]])

    def fit(self, contexts: Sequence[ScoringContext]) -> None:
        self._scaler = FeatureScaler.fit(np.vstack([self._raw(c) for c in contexts]))

    def embed(self, contexts: Sequence[ScoringContext]) -> npt.NDArray[np.float32]:
        if self._scaler is None:
            raise DetectorNotFittedError(f"embedder {self.name!r} is not fitted")
        if not contexts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._scaler.transform(np.vstack([self._raw(c) for c in contexts])).astype(np.float32)

    def state(self) -> dict[str, Any]:
        return {"scaler": self._scaler.as_dict() if self._scaler is not None else None}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self._scaler = FeatureScaler.from_dict(state["scaler"]) if state.get("scaler") else None


#: Embedders by name: each factory takes the detector's settings.
EMBEDDERS: dict[str, Callable[[Any], ApplicationEmbedder]] = {
    "features": lambda s: FeatureEmbedder(neighbours=False),
    "features_neighbours": lambda s: FeatureEmbedder(neighbours=True, capacity=s.neighbour_capacity),
}


def register_embedder(name: str, factory: Callable[[Any], ApplicationEmbedder]) -> None:
    """Make ``factory`` (settings -> embedder) available as ``embedder: <name>`` in the settings."""
    EMBEDDERS[name.lower()] = factory
