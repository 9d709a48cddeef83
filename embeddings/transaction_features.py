"""Point-in-time features of S-FFSD transactions.

A row per transaction: its own time, amount and codes, then the history
(:func:`embeddings.entity_history.entity_history`) of its Source, its Target, its
Location, its Type and its Source→Target pair, from strictly earlier transactions,
labelled or not. No label is read, so nothing leaks from the test rows, and nothing
from the future.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from embeddings.entity_history import HISTORY_FEATURES, entity_history
from fixtures.public import SFFSD

__all__ = ["CATEGORICAL_COLUMNS", "ENTITY_COLUMNS", "transaction_feature_names", "transaction_features"]

ENTITY_COLUMNS = ("source", "target", "location", "type", "source_target")
"""Entities whose history becomes features, in column order."""

CATEGORICAL_COLUMNS = (4, 5)
"""Columns of :func:`transaction_features` that hold category codes (Location, Type)."""

_OWN = ("time", "amount", "source", "target", "location", "type")


def transaction_feature_names(windows: Sequence[float] = (10, 50, 200)) -> list[str]:
    """Column names of :func:`transaction_features`, in order."""
    per_entity = list(HISTORY_FEATURES) + [f"{stat}_{w:g}" for w in windows for stat in ("count", "mean")]
    return list(_OWN) + [f"{entity}_{name}" for entity in ENTITY_COLUMNS for name in per_entity]


def transaction_features(transactions: SFFSD, *, windows: Sequence[float] = (10, 50, 200)) -> npt.NDArray[np.float64]:
    """Feature matrix of every transaction (labelled or not).

    Parameters
    ----------
    transactions : fixtures.public.SFFSD
        As :func:`fixtures.public.load_sffsd` returns it.
    windows : sequence of float, default (10, 50, 200)
        Trailing windows, in units of ``Time``, for the per-entity counts and means.

    Returns
    -------
    numpy.ndarray
        ``(n, len(transaction_feature_names(windows)))`` float64, NaN where an
        entity has no earlier transaction.
    """
    pair = np.unique(
        transactions.source * (int(transactions.target.max()) + 1) + transactions.target, return_inverse=True
    )[1]
    entities = {
        "source": transactions.source,
        "target": transactions.target,
        "location": transactions.location,
        "type": transactions.type,
        "source_target": pair,
    }
    own = np.column_stack(
        [
            transactions.time,
            transactions.amount,
            transactions.source,
            transactions.target,
            transactions.location,
            transactions.type,
        ]
    ).astype(np.float64)
    histories = [
        entity_history(entities[name], transactions.time, transactions.amount, windows=windows)
        for name in ENTITY_COLUMNS
    ]
    return np.hstack([own, *histories])
