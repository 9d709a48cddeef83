"""Running one layer of detectors on one context: threads, budgets, backlog, inline calls.

:class:`LayerRunner` hands each detector of a layer to a thread pool under its own time
budget and waits for each at most until its budget is spent; one that is late or raises
is left out of the vote with the reason. A detector declared ``inline`` (short, bounded
work) runs in the caller's thread while the others work, its budget still holding. A
detector with ``max_backlog`` calls still running past their budget is skipped until
they finish, so a hung detector cannot exhaust the pool. With the graph store
unavailable, the detectors that read the graph are not run (``unavailable``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial

from detectors.base import Detector, DetectorError, Vote
from detectors.context import ScoringContext
from tianwang.errors import TianwangError
from tianwang.scoring.config import LoadedConfig
from tianwang.scoring.decisions import DetectorOutcome

__all__ = ["LayerRunner"]

log = logging.getLogger(__name__)


def _describe(exc: BaseException) -> str:
    """Why a detector failed, without echoing data: Tianwang's own messages are safe, others are not."""
    if isinstance(exc, TianwangError):
        return f"{type(exc).__name__}: {exc}"
    return f"raised {type(exc).__name__}"


def _timed_score(detector: Detector, context: ScoringContext) -> tuple[Vote, float]:
    started = time.perf_counter()
    vote = detector.score(context)
    if not isinstance(vote, Vote):
        raise DetectorError(f"detector {detector.name!r} returned {type(vote).__name__}, not a Vote")
    return vote, (time.perf_counter() - started) * 1000


class LayerRunner:
    """Runs layers of detectors in ``max_workers`` threads (see the module)."""

    def __init__(self, *, max_workers: int = 16, max_backlog: int = 4) -> None:
        self.max_backlog = max_backlog
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tianwang-detector")
        self._inflight: Counter[str] = Counter()
        self._inflight_lock = threading.Lock()

    def run(self, names: Sequence[str], context: ScoringContext,
                   loaded: LoadedConfig, degraded: str | None = None) -> dict[str, DetectorOutcome]:
        outcomes: dict[str, DetectorOutcome] = {}
        futures: dict[str, Future[tuple[Vote, float]]] = {}
        inline: list[str] = []
        started = time.perf_counter()
        for name in names:
            detector = loaded.detectors[name]
            dc = loaded.config.detectors[name]
            if detector.needs_training and not detector.is_fitted:
                outcomes[name] = DetectorOutcome(name, detector.version, dc.mode, detector.layer, "skipped", 0.0,
                                                 why="not trained yet: it needs fit() on labelled history")
                continue
            if degraded is not None and detector.needs_graph:
                outcomes[name] = DetectorOutcome(name, detector.version, dc.mode, detector.layer, "unavailable",
                                                 0.0, why=f"the graph store is unavailable ({degraded})")
                continue
            if detector.runs_inline(context):
                inline.append(name)
                continue
            with self._inflight_lock:
                busy = self._inflight[name]
                if busy < self.max_backlog:
                    self._inflight[name] += 1
            if busy >= self.max_backlog:
                outcomes[name] = DetectorOutcome(name, detector.version, dc.mode, detector.layer, "skipped", 0.0,
                                                 why=f"{busy} earlier calls still running past their budget")
                continue
            future = self._pool.submit(_timed_score, detector, context)
            future.add_done_callback(partial(self._done, name))
            futures[name] = future
        for name in inline:  # while the detector threads work
            outcomes[name] = self.run_inline(name, context, loaded)
        for name, future in futures.items():
            detector = loaded.detectors[name]
            dc = loaded.config.detectors[name]
            remaining = started + dc.budget_ms / 1000 - time.perf_counter()
            try:
                vote, ms = future.result(timeout=max(remaining, 0.0))
            except FutureTimeout:
                outcomes[name] = DetectorOutcome(name, detector.version, dc.mode, detector.layer, "timeout",
                                                 (time.perf_counter() - started) * 1000,
                                                 why=f"no vote within its budget of {dc.budget_ms:g} ms")
                log.warning("detector timed out", extra={"detector": name, "budget_ms": dc.budget_ms,
                                                         "application_id": context.application_id})
            except Exception as exc:
                outcomes[name] = DetectorOutcome(name, detector.version, dc.mode, detector.layer, "error",
                                                 (time.perf_counter() - started) * 1000, why=_describe(exc))
                log.warning("detector failed", extra={"detector": name, "error": type(exc).__name__,
                                                      "application_id": context.application_id})
            else:
                outcomes[name] = DetectorOutcome(name, detector.version, dc.mode, detector.layer, "ok", ms, vote)
        return outcomes

    def run_inline(self, name: str, context: ScoringContext, loaded: LoadedConfig) -> DetectorOutcome:
        """Run an ``inline`` detector in this thread; a vote later than its budget is a timeout."""
        detector = loaded.detectors[name]
        dc = loaded.config.detectors[name]
        started = time.perf_counter()
        try:
            vote, ms = _timed_score(detector, context)
        except Exception as exc:
            log.warning("detector failed", extra={"detector": name, "error": type(exc).__name__,
                                                  "application_id": context.application_id})
            return DetectorOutcome(name, detector.version, dc.mode, detector.layer, "error",
                                   (time.perf_counter() - started) * 1000, why=_describe(exc))
        if ms > dc.budget_ms:
            log.warning("detector timed out", extra={"detector": name, "budget_ms": dc.budget_ms,
                                                     "application_id": context.application_id})
            return DetectorOutcome(name, detector.version, dc.mode, detector.layer, "timeout", ms,
                                   why=f"no vote within its budget of {dc.budget_ms:g} ms")
        return DetectorOutcome(name, detector.version, dc.mode, detector.layer, "ok", ms, vote)

    def _done(self, name: str, _future: object = None) -> None:
        with self._inflight_lock:
            self._inflight[name] -= 1

    def close(self) -> None:
        """Stop the detector threads (late ones finish in the background)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
