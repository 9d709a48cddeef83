"""Ingest NDJSON files of applications into a graph store.

Each line is validated on its own; valid applications are written in batches (one
transaction each). A bad line is reported with its line number and the fields that
are wrong — never their values. With ``on_error="skip"`` ingestion goes on; with
``"stop"`` it writes the valid applications read before the bad line and stops.
Whatever was committed stays committed, and since writes are idempotent a rerun of
the same file is safe: applications already stored are counted as unchanged.

Validating and mapping a line costs far more than writing it, so a large file is
read in chunks of lines that worker processes validate and map to
:class:`~graph_schema.mapping.ApplicationRow` (plain strings, numbers and tuples,
cheap to send back), while this process writes the batches in file order. The
result is the same as in one process: the same function maps every chunk, and
the workers only ever see raw lines and send back rows and error reasons.

A batch is written by a thread of this process while the next one is gathered
(the store's work, in SQLite or on the Neo4j server, then overlaps with reading
the workers' rows). Batches are still written one at a time and in order, and
after a failed write nothing more is written.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO, Literal

from graph_schema.mapping import ApplicationRow, application_row
from graph_schema.store import GraphStore
from graph_schema.values import BulkUpsertResult
from tianwang.application import parse_application
from tianwang.errors import ApplicationValidationError
from tianwang.privacy import PersonalDataKeyer

__all__ = ["IngestReport", "LineError", "OnError", "ingest_file"]

OnError = Literal["skip", "stop"]

#: Lines sent to a worker at once (about 2 MB of applications).
_CHUNK_LINES = 1000
#: Below this size a file is ingested in this process: starting workers would cost more.
_WORKERS_FROM_BYTES = 4 << 20


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


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Consecutive lines of the file: the number of the first, and each line's size in bytes."""

    first_line: int
    sizes: list[int]


_Mapped = tuple[int, ApplicationRow | LineError]
"""A non-blank line's number, and its row or why it was rejected."""


def ingest_file(
    path: str | Path,
    store: GraphStore,
    *,
    on_error: OnError = "skip",
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
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
    workers : int, optional
        Processes that validate and map lines; 0 does it in this process. By default
        one per CPU (at most 4) for a file of 4 MiB or more, else 0.
    """
    if on_error not in ("skip", "stop"):
        raise ValueError(f"on_error must be 'skip' or 'stop', got: {on_error!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got: {batch_size}")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be 0 or more, got: {workers}")
    if workers is None:
        workers = min(_usable_cpus(), 4) if os.path.getsize(path) >= _WORKERS_FROM_BYTES else 0
    report = IngestReport(path=str(path))
    started = time.perf_counter()
    batch: list[ApplicationRow] = []
    lines_of: dict[str, int] = {}
    pending_bytes = 0
    # The batch being written (by the writer thread) while the next one is read: its
    # future, the line of each application in it, and the bytes consumed up to its end.
    writing: tuple[Future[BulkUpsertResult], dict[str, int], int] | None = None

    def finish_write() -> None:
        """Wait for the batch in writing and count what it did (its error, if any, is raised here)."""
        nonlocal writing
        if writing is None:
            return
        future, line_of, consumed = writing
        writing = None
        result = future.result()
        report.created += result.created
        report.unchanged += result.unchanged
        for application_id in result.conflicts:
            report.errors.append(
                LineError(
                    line_of[application_id],
                    "application_id is already stored with different content (applications are immutable)",
                    application_id,
                )
            )
        if progress is not None and consumed:
            progress(consumed)

    def flush() -> None:
        nonlocal batch, lines_of, pending_bytes, writing
        # Batches are written one at a time, in order: the previous one is committed (or has
        # failed, and then nothing more is written) before the next one starts.
        finish_write()
        if batch:
            writing = (writer.submit(store.write_rows, batch), lines_of, pending_bytes)
            batch, lines_of = [], {}
        elif progress is not None and pending_bytes:
            progress(pending_bytes)
        else:
            return
        pending_bytes = 0

    with (
        ThreadPoolExecutor(1, thread_name_prefix="tianwang-ingest-writer") as writer,
        open(path, "rb") as lines,
        _fewer_collections(),
        closing(_mapped_chunks(lines, store.keyer, workers)) as chunks,
    ):
        for chunk, mapped in chunks:
            for number, item in mapped:
                report.lines += 1
                if isinstance(item, LineError):
                    report.errors.append(item)
                    if on_error == "stop":
                        pending_bytes += sum(chunk.sizes[: number - chunk.first_line + 1])
                        report.stopped = True
                        break
                    continue
                if item.application_id in lines_of:
                    # The same id twice in one batch: write the batch first so that the second
                    # is compared with what is stored, as it would be in a later batch.
                    flush()
                batch.append(item)
                lines_of[item.application_id] = number
                if len(batch) >= batch_size:
                    flush()
            else:
                pending_bytes += sum(chunk.sizes)
                continue
            break
        flush()
        finish_write()
    report.errors.sort(key=lambda e: e.line)
    report.seconds = time.perf_counter() - started
    return report


def _map_lines(first_line: int, lines: list[bytes], keyer: PersonalDataKeyer) -> list[_Mapped]:
    """Validate and map consecutive lines, the first numbered ``first_line``; blank ones are left out."""
    mapped: list[_Mapped] = []
    for number, raw in enumerate(lines, start=first_line):
        if not raw.strip():
            continue
        try:
            application = parse_application(raw)
        except ApplicationValidationError as exc:
            mapped.append((number, LineError(number, _reason(exc), exc.application_id)))
            continue
        mapped.append((number, application_row(application, keyer)))
    return mapped


def _mapped_chunks(
    lines: BinaryIO, keyer: PersonalDataKeyer, workers: int
) -> Generator[tuple[_Chunk, list[_Mapped]], None, None]:
    """Each chunk of the file with its lines validated and mapped, in file order.

    With workers, a few chunks are in flight at once (enough to keep every worker busy
    while this process writes); closing the generator early shuts the workers down.
    """
    chunks = _read_chunks(lines)
    if workers == 0:
        for first_line, raw in chunks:
            yield _Chunk(first_line, [len(r) for r in raw]), _map_lines(first_line, raw, keyer)
        return
    # fork keeps start-up cheap (no re-import); elsewhere the platform's default method.
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(keyer,)) as pool:
        in_flight: deque[tuple[_Chunk, Future[list[tuple[int, tuple[object, ...] | LineError]]]]] = deque()
        try:
            for first_line, raw in chunks:
                in_flight.append(
                    (_Chunk(first_line, [len(r) for r in raw]), pool.submit(_map_in_worker, first_line, raw))
                )
                if len(in_flight) > 2 * workers:
                    yield _received(*in_flight.popleft())
            while in_flight:
                yield _received(*in_flight.popleft())
        finally:
            for _, future in in_flight:
                future.cancel()


def _read_chunks(lines: BinaryIO) -> Iterator[tuple[int, list[bytes]]]:
    first_line = 1
    while raw := list(islice(lines, _CHUNK_LINES)):
        yield first_line, raw
        first_line += len(raw)


_worker_keyer: PersonalDataKeyer | None = None


def _start_worker(keyer: PersonalDataKeyer) -> None:
    global _worker_keyer
    _worker_keyer = keyer
    saved = gc.get_threshold()
    gc.set_threshold(max(saved[0], 50_000), *saved[1:])


def _map_in_worker(first_line: int, lines: list[bytes]) -> list[tuple[int, tuple[object, ...] | LineError]]:
    """:func:`_map_lines` in a worker; rows go back as plain tuples (the cheapest to pickle)."""
    assert _worker_keyer is not None
    return [
        (number, item if isinstance(item, LineError) else tuple(item))
        for number, item in _map_lines(first_line, lines, _worker_keyer)
    ]


def _received(
    chunk: _Chunk, future: Future[list[tuple[int, tuple[object, ...] | LineError]]]
) -> tuple[_Chunk, list[_Mapped]]:
    make = ApplicationRow._make
    return chunk, [(number, item if isinstance(item, LineError) else make(item)) for number, item in future.result()]


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform says, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
