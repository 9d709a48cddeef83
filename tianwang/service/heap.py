"""Keep the garbage collector's full passes off the request path of a serving process.

A service process holds a large, long-lived heap once its models are loaded (about
630,000 objects for a bundle trained on 20,000 applications: the known-fraud index's
records, the applicant resolver, the GNN's caches). CPython's collector walks all of
it in every full (generation 2) collection, about 200 ms with the interpreter lock
held, during which that process answers nothing: at 100 requests a second such a
pause alone costs the 99th percentile. :func:`settle_heap` collects once and then
moves everything alive into the permanent generation (:func:`gc.freeze`), which the
collector never walks again; what requests allocate is still collected as before.

The lifespan of ``tianwang serve`` settles the heap after it loaded everything, and
loading another bundle or configuration settles it again (:func:`resettle_heap`):
the objects the old models leave in reference cycles are collected then, so nothing
piles up in the permanent generation.
"""

from __future__ import annotations

import gc
import logging
import time

__all__ = ["resettle_heap", "settle_heap"]

log = logging.getLogger(__name__)


def settle_heap() -> float:
    """Collect, then freeze every surviving object (:func:`gc.freeze`); returns the milliseconds taken."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    ms = (time.perf_counter() - started) * 1000
    log.info("heap settled", extra={"frozen_objects": gc.get_freeze_count(), "ms": round(ms, 1)})
    return ms


def resettle_heap() -> float | None:
    """:func:`settle_heap` again, in a process that settled its heap before (a serving process)
    after it loaded new models; elsewhere (a test, the command line) nothing. Returns the
    milliseconds taken, or ``None``."""
    if gc.get_freeze_count() == 0:
        return None
    return settle_heap()
