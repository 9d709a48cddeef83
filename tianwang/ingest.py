"""Ingest NDJSON files of applications into a graph store.

Each line is validated on its own; valid applications are written in batches (one
transaction each). A bad line is reported with its line number and the fields that
are wrong — never their values. With ``on_error="skip"`` ingestion goes on; with
``"stop"`` it writes the valid applications read before the bad line and stops.
Whatever was committed stays committed, and since writes are idempotent a rerun of
the same file is safe: applications already stored are counted as unchanged.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from graph_schema.mapping import ApplicationGraph, application_graph
from graph_schema.store import GraphStore
from tianwang.application import parse_application
from tianwang.errors import ApplicationValidationError

__all__ = ["IngestReport", "LineError", "OnError", "ingest_file"]

OnError = Literal["skip", "stop"]


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that was not ingested, and why (field names and reasons, no values)."""

    line: int
    reason: str
    application_id: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(slots=True)
class IngestReport:
    """What an ingest did."""

    path: str
    lines: int = 0
    created: int = 0
    unchanged: int = 0
    errors: list[LineError] = field(default_factory=list)
    stopped: bool = False
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return len(self.errors)

    @property
    def per_second(self) -> float:
        done = self.created + self.unchanged
        return done / self.seconds if self.seconds > 0 else 0.0


def ingest_file(
    path: str | Path,
    store: GraphStore,
    *,
    on_error: OnError = "skip",
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Validate and write every application of an NDJSON file.

    Parameters
    ----------
    path : str or Path
        One JSON application per line; blank lines are ignored.
    store : GraphStore
        Where to write.
    on_error : {"skip", "stop"}
        What to do after a bad line.
    batch_size : int
        Applications per transaction.
    progress : callable, optional
        Called with the number of bytes of the file consumed since the last call.
    """
    if on_error not in ("skip", "stop"):
        raise ValueError(f"on_error must be 'skip' or 'stop', got: {on_error!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got: {batch_size}")
    report = IngestReport(path=str(path))
    started = time.perf_counter()
    batch: list[ApplicationGraph] = []
    lines_of: dict[str, int] = {}
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending_bytes
        if batch:
            result = store.write_graphs(batch)
            report.created += result.created
            report.unchanged += result.unchanged
            for application_id in result.conflicts:
                report.errors.append(
                    LineError(
                        lines_of[application_id],
                        "application_id is already stored with different content (applications are immutable)",
                        application_id,
                    )
                )
            batch.clear()
            lines_of.clear()
        if progress is not None and pending_bytes:
            progress(pending_bytes)
            pending_bytes = 0

    with open(path, "rb") as lines, _fewer_collections():
        for number, raw in enumerate(lines, start=1):
            pending_bytes += len(raw)
            if not raw.strip():
                continue
            report.lines += 1
            try:
                application = parse_application(raw)
            except ApplicationValidationError as exc:
                report.errors.append(LineError(number, _reason(exc), exc.application_id))
                if on_error == "stop":
                    report.stopped = True
                    break
                continue
            if application.application_id in lines_of:
                # The same id twice in one batch: write the batch first so that the second
                # is compared with what is stored, as it would be in a later batch.
                flush()
            batch.append(application_graph(application, store.keyer))
            lines_of[application.application_id] = number
            if len(batch) >= batch_size:
                flush()
        flush()
    report.errors.sort(key=lambda e: e.line)
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the cyclic GC threshold while a file is read.

    Validated applications are many small objects that live for one batch; the default
    threshold makes the collector walk them again and again, which more than halves the
    ingest rate. The previous thresholds come back afterwards.
    """
    saved = gc.get_threshold()
    gc.set_threshold(max(saved[0], 50_000), *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _reason(exc: ApplicationValidationError) -> str:
    return "; ".join(str(e) for e in exc.errors)
