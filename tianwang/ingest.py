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

A line that validates but cannot be mapped to the graph is rejected like an invalid
one: it never costs the other lines of its batch. Lines are read in bounded memory
(:mod:`tianwang.ndjson`: a byte-order mark is accepted, a line over 1 MiB is
rejected unread). An ingest that fails (a store error, a file that is not NDJSON)
raises :class:`~tianwang.errors.IngestAbortedError` saying what was committed; one
asked to stop (``stop``, set on SIGTERM by the CLI) finishes the batch it gathered
and returns with :attr:`IngestReport.interrupted` set.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from graph_schema.mapping import ApplicationRow, application_row
from graph_schema.values import BulkUpsertResult
from tianwang.application import parse_application
from tianwang.errors import (
    ApplicationFileError,
    ApplicationValidationError,
    ConfigurationError,
    IngestAbortedError,
    StoreError,
)
from tianwang.ndjson import TOO_LONG, read_lines
from tianwang.privacy import PersonalDataKeyer
from tianwang.workers import start_worker

__all__ = ["IngestReport", "LineError", "OnError", "RowWriter", "ingest_file", "map_line"]

OnError = Literal["skip", "stop"]

#: Lines sent to a worker at once (about 2 MB of applications), and at most this many bytes.
_CHUNK_LINES = 1000
_CHUNK_BYTES = 8 << 20
#: Below this size a file is ingested in this process: starting workers would cost more.
_WORKERS_FROM_BYTES = 4 << 20


class RowWriter(Protocol):
    """Where ingested applications go: a :class:`~graph_schema.store.GraphStore`, or the CSV files of a
    bulk import (:class:`~graph_schema.neo4j_import.ImportCsvWriter`)."""

    @property
    def keyer(self) -> PersonalDataKeyer: ...

    def write_rows(self, rows: list[ApplicationRow]) -> BulkUpsertResult: ...


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
    interrupted: bool = False
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
    """Consecutive lines of the file: the number of the first, each line's size in bytes, and those too long."""

    first_line: int
    sizes: list[int]
    too_long: frozenset[int] = frozenset()


_Mapped = tuple[int, ApplicationRow | LineError]
"""A non-blank line's number, and its row or why it was rejected."""


def ingest_file(
    path: str | Path,
    store: RowWriter,
    *,
    on_error: OnError = "skip",
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    stop: threading.Event | None = None,
) -> IngestReport:
    """Validate and write every application of an NDJSON file.

    Parameters
    ----------
    path : str or Path
        One JSON application per line; blank lines are ignored.
    store : RowWriter
        Where to write: a graph store, or the files of a bulk import.
    on_error : {"skip", "stop"}
        What to do after a bad line.
    batch_size : int
        Applications per transaction.
    progress : callable, optional
        Called with the number of bytes of the file consumed since the last call.
    workers : int, optional
        Processes that validate and map lines; 0 does it in this process. By default
        one per CPU (at most 4) for a file of 4 MiB or more, else 0.
    stop : threading.Event, optional
        Once set, no further line is taken: the batch gathered so far is written and the
        report comes back with ``interrupted`` set.

    Raises
    ------
    IngestAbortedError
        When a batch cannot be written or the file is not NDJSON; the message says how
        many applications were committed (rerunning the file resumes).
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

    def take(chunks: Iterator[tuple[_Chunk, list[_Mapped]]]) -> None:
        """Gather the chunks' rows into batches until the file ends, a bad line stops it, or ``stop``."""
        nonlocal pending_bytes
        for chunk, mapped in chunks:
            for number, item in mapped:
                if stop is not None and stop.is_set():
                    report.interrupted = True
                    pending_bytes += sum(chunk.sizes[: number - chunk.first_line])
                    return
                report.lines += 1
                if isinstance(item, LineError):
                    report.errors.append(item)
                    if on_error == "stop":
                        pending_bytes += sum(chunk.sizes[: number - chunk.first_line + 1])
                        report.stopped = True
                        return
                    continue
                if item.application_id in lines_of:
                    # The same id twice in one batch: write the batch first so that the second
                    # is compared with what is stored, as it would be in a later batch.
                    flush()
                batch.append(item)
                lines_of[item.application_id] = number
                if len(batch) >= batch_size:
                    flush()
            pending_bytes += sum(chunk.sizes)
            if stop is not None and stop.is_set():
                report.interrupted = True
                return

    unreadable: ApplicationFileError | None = None
    try:
        with (
            ThreadPoolExecutor(1, thread_name_prefix="tianwang-ingest-writer") as writer,
            open(path, "rb") as lines,
            _fewer_collections(),
            closing(_mapped_chunks(lines, store.keyer, workers, stop)) as chunks,
        ):
            try:
                take(chunks)
            except ApplicationFileError as exc:
                unreadable = exc  # what was read before it is still written
            flush()
            finish_write()
    except (StoreError, ConfigurationError) as exc:
        raise IngestAbortedError(f"{exc}; {_committed(report)}") from exc
    except BrokenProcessPool as exc:  # a worker was killed (out of memory, a signal to the process group)
        raise IngestAbortedError(f"a worker process died; {_committed(report)}") from exc
    if unreadable is not None:
        raise IngestAbortedError(f"{unreadable}; {_committed(report)}") from unreadable
    report.errors.sort(key=lambda e: e.line)
    report.seconds = time.perf_counter() - started
    return report


def _committed(report: IngestReport) -> str:
    return (
        f"{report.created} new applications were committed ({report.unchanged} already stored) and stay "
        "committed; rerun the same file to resume (applications already stored count as unchanged)"
    )


def _map_lines(
    first_line: int, lines: list[bytes], keyer: PersonalDataKeyer, too_long: frozenset[int] = frozenset()
) -> list[_Mapped]:
    """Validate and map consecutive lines, the first numbered ``first_line``; blank ones are left out.

    Lines numbered in ``too_long`` were not read (their bytes here are empty) and are rejected.
    """
    mapped: list[_Mapped] = []
    for number, raw in enumerate(lines, start=first_line):
        if number in too_long:
            mapped.append((number, LineError(number, TOO_LONG)))
            continue
        if not raw.strip():
            continue
        mapped.append((number, map_line(number, raw, keyer)))
    return mapped


def map_line(number: int, raw: bytes, keyer: PersonalDataKeyer) -> ApplicationRow | LineError:
    """Validate one JSON application and map it to its graph row, or say why it cannot be ingested.

    ``number`` only labels the :class:`LineError` (a line of a file, an offset of a stream). The
    reason names fields, never their values. Nothing raises: a line the mapping cannot key is
    rejected like an invalid one.
    """
    try:
        application = parse_application(raw)
    except ApplicationValidationError as exc:
        return LineError(number, _reason(exc), exc.application_id)
    try:
        return application_row(application, keyer)
    except ApplicationValidationError as exc:
        return LineError(number, _reason(exc), application.application_id)
    except Exception as exc:  # whatever the mapping cannot key costs its line, not the batch
        reason = f"(application): cannot be mapped to the graph ({type(exc).__name__})"
        return LineError(number, reason, application.application_id)


def _mapped_chunks(
    lines: BinaryIO, keyer: PersonalDataKeyer, workers: int, stop: threading.Event | None = None
) -> Generator[tuple[_Chunk, list[_Mapped]], None, None]:
    """Each chunk of the file with its lines validated and mapped, in file order.

    With workers, a few chunks are in flight at once (enough to keep every worker busy
    while this process writes); closing the generator early shuts the workers down.
    Once ``stop`` is set no further chunk is read.
    """
    chunks = _read_chunks(lines, stop)
    if workers == 0:
        for chunk, raw in chunks:
            yield chunk, _map_lines(chunk.first_line, raw, keyer, chunk.too_long)
        return
    # fork keeps start-up cheap (no re-import); elsewhere the platform's default method.
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(keyer, os.getpid())
    ) as pool:
        in_flight: deque[tuple[_Chunk, Future[list[tuple[int, tuple[object, ...] | LineError]]]]] = deque()
        unreadable: ApplicationFileError | None = None
        try:
            try:
                for chunk, raw in chunks:
                    in_flight.append((chunk, pool.submit(_map_in_worker, chunk.first_line, raw, chunk.too_long)))
                    if len(in_flight) > 2 * workers:
                        yield _received(*in_flight.popleft())
            except ApplicationFileError as exc:
                unreadable = exc  # raised once the chunks read before it are through
            while in_flight:
                yield _received(*in_flight.popleft())
            if unreadable is not None:
                raise unreadable
        finally:
            for _, future in in_flight:
                future.cancel()


def _read_chunks(lines: BinaryIO, stop: threading.Event | None = None) -> Iterator[tuple[_Chunk, list[bytes]]]:
    """Chunks of at most ``_CHUNK_LINES`` lines and about ``_CHUNK_BYTES``; a line too long is read as empty."""
    raw: list[bytes] = []
    sizes: list[int] = []
    too_long: set[int] = set()
    first_line = 1
    total = 0
    try:
        for number, line, size in read_lines(lines):
            if line is None:
                too_long.add(number)
                line = b""
            raw.append(line)
            sizes.append(size)
            total += len(line)
            if len(raw) >= _CHUNK_LINES or total >= _CHUNK_BYTES:
                yield _Chunk(first_line, sizes, frozenset(too_long)), raw
                first_line += len(raw)
                raw, sizes, too_long, total = [], [], set(), 0
                if stop is not None and stop.is_set():
                    return
    except ApplicationFileError:  # the lines read before it are still ingested
        if raw:
            yield _Chunk(first_line, sizes, frozenset(too_long)), raw
        raise
    if raw:
        yield _Chunk(first_line, sizes, frozenset(too_long)), raw


_worker_keyer: PersonalDataKeyer | None = None


def _start_worker(keyer: PersonalDataKeyer, parent: int) -> None:
    global _worker_keyer
    start_worker(parent)
    _worker_keyer = keyer
    saved = gc.get_threshold()
    gc.set_threshold(max(saved[0], 50_000), *saved[1:])


def _map_in_worker(
    first_line: int, lines: list[bytes], too_long: frozenset[int]
) -> list[tuple[int, tuple[object, ...] | LineError]]:
    """:func:`_map_lines` in a worker; rows go back as plain tuples (the cheapest to pickle)."""
    assert _worker_keyer is not None
    return [
        (number, item if isinstance(item, LineError) else tuple(item))
        for number, item in _map_lines(first_line, lines, _worker_keyer, too_long)
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
