"""Every service process runs what the database marks active.

A configuration approval or a bundle activation reaches the process that handled the
call at once. The others (``tianwang serve --workers N``, or several servers on one
operational database) learn of it from the database: :func:`sync_active` compares the
active configuration version and bundle there with what this process runs and puts
the newer ones in force the way the approving process did (a version keeps the fitted
state of every detector whose settings it leaves alone; a bundle is loaded whole). :class:`Follower` calls
it every ``TIANWANG_SYNC_SECONDS`` (2 s by default) from a daemon thread, so a change
is in force in every process within that bound plus the time a bundle takes to load.

The same thread hands the process's free heap pages back to the system once a minute
(:func:`tianwang.native_memory.release_free_heap`): requests allocate and free many
small objects, and without it the process keeps every arena's high-water mark resident
(the soak measured 150 MB held free after 30 minutes).
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from tianwang.native_memory import release_free_heap
from tianwang.opsdb.models import ModelBundle
from tianwang.service import Service
from tianwang.service.analysts import ensure_active_version
from tianwang.service.bundles import load_active_bundle
from tianwang.service.heap import resettle_heap

__all__ = ["Follower", "sync_active"]

log = logging.getLogger(__name__)


def _active_bundle(service: Service) -> str | None:
    with service.ops.session() as session:
        return session.scalar(select(ModelBundle.name).where(ModelBundle.active))


def sync_active(service: Service) -> list[str]:
    """Put the database's active configuration version and bundle in force where this process runs others.

    Returns what changed: ``"config"``, ``"bundle"``, both or neither.
    """
    if service.runtime.pipeline.source is None:  # a fixed configuration: nothing to follow
        return []
    changed = []
    before = service.extras.get("config_version")
    if ensure_active_version(service) != before:
        changed.append("config")
    # a new version alone keeps the fitted state of every detector whose settings it did not change,
    # as it does in the process that approved it; a newly active bundle is loaded
    name = _active_bundle(service)
    if name is not None and name != service.extras.get("bundle_name") and load_active_bundle(service) is not None:
        changed.append("bundle")
    if changed:
        log.info("in force from the database", extra={"changed": changed, "config_version":
                                                       service.extras.get("config_version"),
                                                       "bundle": service.extras.get("bundle_name")})
        resettle_heap()
    return changed


class Follower:
    """A daemon thread that calls :func:`sync_active` every ``interval`` seconds."""

    #: seconds between two hand-backs of free heap pages
    TRIM_SECONDS = 60.0

    def __init__(self, service: Service, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got: {interval}")
        self.service = service
        self.interval = interval
        self.changes = 0
        self.trims = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Follower:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tianwang-follow", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        trimmed_at = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                self.changes += bool(sync_active(self.service))
            except Exception as exc:  # the database away for a moment: try again next time
                log.warning("could not check the active configuration", extra={"error": type(exc).__name__})
            if time.monotonic() - trimmed_at >= self.TRIM_SECONDS:
                trimmed_at = time.monotonic()
                release_free_heap()
                self.trims += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
