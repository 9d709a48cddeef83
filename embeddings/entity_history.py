"""Point-in-time history features of the entities a transaction involves.

For each transaction and each entity column (the card, the merchant, the location,
...), statistics of the *earlier* transactions of the same entity: how many, how
recent, their amounts, and how this amount compares. Only the past is read, and no
label, so the features are what a scoring service would know when the transaction
arrives; unlabelled transactions may (and should) be included, they are history too.

Examples
--------
>>> import numpy as np
>>> codes = np.array([0, 0, 1, 0])
>>> time = np.array([0, 1, 2, 3])
>>> amount = np.array([10.0, 20.0, 5.0, 30.0])
>>> history = entity_history(codes, time, amount, windows=(2,))
>>> history[:, 0].tolist()  # earlier transactions of the same entity
[0.0, 1.0, 0.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["HISTORY_FEATURES", "entity_history"]

FloatArray = npt.NDArray[np.float64]

HISTORY_FEATURES = ("count", "mean", "std", "ratio_to_mean", "z_score", "time_since_previous", "previous_amount")
"""Names of the first columns of :func:`entity_history`; then a count and a mean amount per window."""


def entity_history(
    codes: npt.ArrayLike,
    time: npt.ArrayLike,
    amount: npt.ArrayLike,
    *,
    windows: Sequence[float] = (10, 50, 200),
) -> FloatArray:
    """History of each transaction's entity, from strictly earlier transactions.

    Parameters
    ----------
    codes : array_like
        ``(n,)`` integer entity of each transaction.
    time : array_like
        ``(n,)`` time of each transaction. Ties are broken by position: of two
        transactions at the same time, the earlier row counts as the past of the later.
    amount : array_like
        ``(n,)`` amount of each transaction.
    windows : sequence of float, default (10, 50, 200)
        Trailing windows, in units of ``time``: for each, the count and the mean
        amount of the entity's transactions in ``[t - w, t)``.

    Returns
    -------
    numpy.ndarray
        ``(n, len(HISTORY_FEATURES) + 2 * len(windows))``, in the input order; NaN
        where a statistic is undefined (no history), which gradient boosting reads as
        missing.
    """
    entity = np.asarray(codes, dtype=np.int64)
    when = np.asarray(time, dtype=np.float64)
    value = np.asarray(amount, dtype=np.float64)
    n = len(entity)
    if not len(when) == len(value) == n:
        raise ValueError(f"codes, time and amount must have one length, got: {n}, {len(when)}, {len(value)}")
    if any(w <= 0 for w in windows):
        raise ValueError(f"windows must be positive, got: {list(windows)}")
    order = np.lexsort((np.arange(n), when, entity))
    grouped, t, a = entity[order], when[order], value[order]
    starts = np.r_[True, grouped[1:] != grouped[:-1]] if n else np.zeros(0, bool)
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)[group]
    position = np.arange(n)
    count = (position - first).astype(np.float64)
    cum = np.r_[0.0, np.cumsum(a)]
    cum_sq = np.r_[0.0, np.cumsum(a**2)]
    past_sum = cum[position] - cum[first]
    past_sq = cum_sq[position] - cum_sq[first]
    seen = count > 0
    safe_count = np.maximum(count, 1.0)
    mean = np.where(seen, past_sum / safe_count, np.nan)
    variance = np.maximum(past_sq / safe_count - np.nan_to_num(mean) ** 2, 0.0)
    std = np.where(count > 1, np.sqrt(variance), np.nan)
    previous_time = np.r_[np.nan, t[:-1]] if n else t
    previous_amount = np.r_[np.nan, a[:-1]] if n else a
    columns = [
        count,
        mean,
        std,
        a / (mean + 1e-9),
        (a - mean) / (std + 1e-9),
        np.where(seen, t - previous_time, np.nan),
        np.where(seen, previous_amount, np.nan),
    ]
    # Within a group rows are sorted by time, so a key of (group, time) is sorted too.
    span = (np.nanmax(t) - np.nanmin(t) + max(windows) + 1.0) if n else 1.0
    key = group * span + (t - (np.nanmin(t) if n else 0.0))
    for width in windows:
        lower = np.maximum(np.searchsorted(key, key - width, side="left"), first)
        in_window = (position - lower).astype(np.float64)
        window_sum = cum[position] - cum[lower]
        columns += [in_window, np.where(in_window > 0, window_sum / np.maximum(in_window, 1.0), np.nan)]
    history = np.column_stack(columns) if n else np.zeros((0, len(columns)))
    result = np.empty_like(history)
    result[order] = history
    return result
