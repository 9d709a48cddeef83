"""Where the rings used in scoring come from, and when they are renewed: :class:`RingIndexSource`.

A source holds the :class:`~tianwang.rings.index.RingIndex` in use and the graph store it
renews it from. Two ways:

* with ``refresh_every`` = 0 (a service): :meth:`~RingIndexSource.load` reads the rings
  the batch job wrote to the store; :meth:`~RingIndexSource.maybe_reload`, called before
  each score, reloads them in a background thread once ``reload_seconds`` have passed
  (or at once when none are loaded), and the request does not wait for it;
* with ``refresh_every`` > 0 (backtests, small deployments): :meth:`~RingIndexSource.refresh`
  runs ring detection over the store as of a moment (not written back), when the detector
  is fitted and then every ``refresh_every`` applications :meth:`~RingIndexSource.observed`
  counts, in time order, so a backtest repeats; with ``refresh_in_background`` the run
  happens in a thread. Until the first refresh, :meth:`~RingIndexSource.maybe_reload`
  loads the rings a batch job stored, once, if there are any: a service started on a
  store with rings uses them from its first request, not from its ``refresh_every``-th.

A source built with an ``index`` and no store keeps that index (tests, what-ifs). While
a reload or refresh runs, the index in use stays; one that fails is logged and the
index in use stays too.

Examples
--------
>>> from tianwang.rings.index import RingSummary
>>> source = RingIndexSource(index=RingIndex([RingSummary("R-000001", 0.9, 3, ("a", "b", "c"))]))
>>> source.maybe_reload()  # no store: nothing to reload from
>>> source.index.ring_of_person("b").ring_id
'R-000001'
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from tianwang.rings.index import RingIndex, RingSummary, risky_people
from tianwang.rings.job import detect_rings_in_export

if TYPE_CHECKING:
    from graph_schema.store import GraphStore
    from graph_schema.values import RingRecord

__all__ = ["RingIndexSource"]

log = logging.getLogger(__name__)


class RingIndexSource:
    """The rings in use and how they are renewed (see the module docstring).

    Parameters
    ----------
    store : GraphStore, optional
        Where the rings are read or detected; :meth:`bind` sets it later.
    index : RingIndex, optional
        The rings to start with.
    risky : float
        The risk from which a ring counts as risky (dealer exposure, inflated deals).
    resolution, min_size
        Leiden's resolution and the smallest ring, for :meth:`refresh`.
    refresh_every, refresh_in_background, reload_seconds
        When to renew the rings (see the module docstring).
    """

    def __init__(
        self,
        store: GraphStore | None = None,
        *,
        index: RingIndex | None = None,
        risky: float = 0.5,
        resolution: float = 1.0,
        min_size: int = 3,
        refresh_every: int = 0,
        refresh_in_background: bool = False,
        reload_seconds: float = 300.0,
    ) -> None:
        if refresh_every < 0 or not reload_seconds > 0:
            raise ValueError(f"refresh_every must be >= 0 and reload_seconds > 0, got: {refresh_every}, "
                             f"{reload_seconds}")
        self._store = store
        self._index = index
        self.risky = risky
        self.resolution = resolution
        self.min_size = min_size
        self.refresh_every = refresh_every
        self.refresh_in_background = refresh_in_background
        self.reload_seconds = reload_seconds
        self._loaded_at = time.monotonic() if index is not None else 0.0
        self._observed = 0
        self._busy = threading.Lock()  # one reload or refresh at a time

    def __repr__(self) -> str:
        rings = len(self._index) if self._index is not None else None
        return f"RingIndexSource(store={self._store is not None}, rings={rings}, refresh_every={self.refresh_every})"

    @property
    def index(self) -> RingIndex | None:
        """The rings in use (``None`` until loaded or detected)."""
        return self._index

    @property
    def store(self) -> GraphStore | None:
        return self._store

    @property
    def renewing(self) -> bool:
        """Whether a reload or refresh runs now (in the background for a service)."""
        return self._busy.locked()

    def bind(self, store: GraphStore) -> None:
        """Read rings from ``store`` from now on (the index in use stays until renewed)."""
        self._store = store

    def same_renewal(self, other: RingIndexSource) -> bool:
        """Whether ``other`` reads the same store and renews its rings as this source does."""
        return (other._store is self._store and other.risky == self.risky and other.resolution == self.resolution
                and other.min_size == self.min_size and other.refresh_every == self.refresh_every
                and other.refresh_in_background == self.refresh_in_background
                and other.reload_seconds == self.reload_seconds)

    def use(self, index: RingIndex) -> None:
        """Use ``index`` until the next reload or refresh."""
        self._index = index
        self._loaded_at = time.monotonic()

    def _require_store(self) -> GraphStore:
        if self._store is None:
            raise RuntimeError("no graph store to read rings from: pass one to RingIndexSource or call bind()")
        return self._store

    def load(self) -> RingIndex:
        """Use the rings the batch job stored (and count dealer exposure over the stored graph).

        When the stored rings are those in use (the same detection: same time and count), the index
        in use stays: the graph is exported again only after the batch job stored new rings (at a
        million applications the export is close to a minute of work).
        """
        store = self._require_store()
        records = store.rings()
        current = self._index
        if current is not None and records and len(records) == len(current) \
                and _detected_at(records) == current.detected_at:
            self.use(current)
            return current
        index = self._build(store, records)
        self.use(index)
        return index

    def _build(self, store: GraphStore, records: list[RingRecord]) -> RingIndex:
        # who applied where, counted (dealer exposure, inflated deals): by the store itself where it can
        rings = [RingSummary.of_record(r) for r in records]
        rollup = store.dealer_rollup(risky_people(rings, self.risky))
        return RingIndex.of_rollup(rollup, rings, risky=self.risky, detected_at=_detected_at(records))

    def refresh(self, as_of: float, labels: Mapping[str, bool] | None = None) -> RingIndex:
        """Detect rings over the store as of ``as_of`` (not written back) and use them.

        ``labels`` (application id -> confirmed fraud) name the rings' confirmed fraud.
        """
        store = self._require_store()
        started = time.perf_counter()
        export = store.export_edges(as_of=as_of)
        previous = {r.ring_id: r.members for r in self._index.summaries()} if self._index is not None else {}
        report = detect_rings_in_export(export, previous=previous, labels=labels, resolution=self.resolution,
                                        min_size=self.min_size)
        index = RingIndex.from_detected(export, report.rings, labels=labels, risky=self.risky, detected_at=as_of)
        self.use(index)
        log.info("rings refreshed", extra={"rings": len(index), "seconds": round(time.perf_counter() - started, 3)})
        return index

    def wait(self) -> None:
        """Return once no reload or refresh is running (backtests; a service never waits)."""
        with self._busy:
            pass

    def prepare(self, as_of: float, labels: Mapping[str, bool] | None = None) -> RingIndex | None:
        """The rings to start scoring with (when the detector is fitted): detected as of ``as_of`` with
        ``refresh_every``, else the stored ones; ``None`` without a store."""
        if self._store is None:
            return self._index
        return self.refresh(as_of, labels) if self.refresh_every else self.load()

    def maybe_reload(self) -> None:
        """Reload the stored rings in the background when due; never waits.

        With ``refresh_every`` the rings come from refreshes; before the first one, the
        stored rings are loaded once if the store holds any.
        """
        if self._store is None:
            return
        if self.refresh_every:
            if self._index is not None or self._loaded_at:
                return
        elif self._index is not None and time.monotonic() - self._loaded_at < self.reload_seconds:
            return
        if not self._busy.acquire(blocking=False):
            return
        self._loaded_at = time.monotonic()  # one reload at a time, and not again until the period is over
        work = self._load_stored if self.refresh_every else self.load
        self._in_background(work, "tianwang-ring-reload", "rings could not be reloaded")

    def _load_stored(self) -> None:
        """:meth:`load`, only where the store holds rings and no refresh came first (nor comes meanwhile)."""
        store = self._require_store()
        records = store.rings() if self._index is None else []
        if records:
            index = self._build(store, records)
            if self._index is None:
                self.use(index)

    def observed(self, as_of: float, labels: Mapping[str, bool] | None = None) -> bool:
        """Count an application seen at ``as_of``; every ``refresh_every`` of them, detect rings again.

        Returns whether the rings were renewed before returning (not in the background).
        """
        if not self.refresh_every:
            return False
        self._observed += 1
        if self._observed % self.refresh_every or self._store is None:
            return False
        snapshot = dict(labels or {})
        if not self.refresh_in_background:
            self.refresh(as_of, snapshot)
            return True
        if self._busy.acquire(blocking=False):
            self._in_background(lambda: self.refresh(as_of, snapshot), "tianwang-ring-refresh",
                                "rings could not be refreshed")
        return False

    def _in_background(self, work: Callable[[], object], name: str, failure: str) -> None:
        """Run ``work`` in a daemon thread; the caller holds ``_busy``, released when it ends."""

        def run() -> None:
            try:
                work()
            except Exception as exc:  # keep the rings in use; say why
                log.warning(failure, extra={"error": type(exc).__name__})
            finally:
                self._busy.release()

        threading.Thread(target=run, name=name, daemon=True).start()


def _detected_at(records: list[RingRecord]) -> float | None:
    """When the stored rings were detected (the latest of their times)."""
    return max((float(r.properties.get("detected_at", 0.0)) for r in records), default=None)
