"""A serving process freezes its loaded heap; loading new models frees the old ones."""

from __future__ import annotations

import gc
import weakref

from tianwang.service.heap import resettle_heap, settle_heap


class _Model:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_models_loaded_later_are_freed_when_the_heap_is_settled_again() -> None:
    assert gc.get_freeze_count() == 0
    assert resettle_heap() is None  # nothing frozen (a test, the command line): nothing done
    old = _Model()
    gone = weakref.ref(old)
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        del old  # the old model dropped (a new bundle loaded): frozen, a full collection does not see it
        gc.collect()
        assert gone() is not None
        assert resettle_heap() is not None
        assert gone() is None and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
