"""Column standardisation of feature matrices, saved as JSON.

:class:`FeatureScaler` brings every column to mean 0 and unit variance (a constant
column stays 0), so rows can be compared by distance or fed to a network; its
:meth:`~FeatureScaler.as_dict` goes into model artifacts and index files.

Examples
--------
>>> import numpy as np
>>> x = np.array([[1.0, 5.0], [3.0, 5.0]])
>>> FeatureScaler.fit(x).transform(x)
array([[-1.,  0.],
       [ 1.,  0.]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FeatureScaler"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FeatureScaler:
    """Standardise columns to mean 0 and unit variance (constant columns stay 0)."""

    mean: FloatArray
    scale: FloatArray

    @classmethod
    def fit(cls, x: FloatArray) -> FeatureScaler:
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 1e-12, std, 1.0))

    def transform(self, x: FloatArray) -> FloatArray:
        return (x - self.mean) / self.scale

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureScaler:
        return cls(np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"], dtype=np.float64))
