"""PDF parsing in worker processes that can be abandoned.

A hostile PDF (deeply nested or repeated dictionaries, a broken cross-reference table)
can keep pypdf busy for hundreds of milliseconds, hold the interpreter lock the whole
time and write a warning per bad object. Parsing it on a scoring thread would stall the
call past its budget and slow the applications after it. Here each PDF goes to one of a
few long-lived worker processes (``python -I`` with pypdf imported when the pool starts):
the caller waits at most its timeout, and a worker still busy then is killed and replaced
in the background. Workers log nothing: pypdf's warnings are counted and the count comes
back with the facts. A worker has a memory limit and dies with its parent.

The protocol on the worker's stdin and stdout is a 4-byte big-endian length and that
many bytes: the PDF in, a JSON object out (strings truncated, never the document).
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from typing import Any

__all__ = ["MAX_PAGES", "PdfWorkers", "pdf_workers"]

#: A PDF declaring more pages than this is not read (bank statements and proofs are short).
MAX_PAGES = 500
#: Address-space limit of a worker process.
WORKER_MEMORY_BYTES = 1 << 30
_MAX_TEXT = 200

_CHILD = r"""
import io, json, logging, struct, sys, warnings
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
except Exception:
    pass
try:  # die with the parent (Linux)
    import ctypes, signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
except Exception:
    pass
warnings.simplefilter("ignore")


class Count(logging.Handler):
    n = 0

    def emit(self, record):
        Count.n += 1


pypdf_log = logging.getLogger("pypdf")
pypdf_log.addHandler(Count())
pypdf_log.propagate = False
pypdf_log.setLevel(logging.WARNING)
from pypdf import PdfReader

inp, out = sys.stdin.buffer, sys.stdout.buffer


def text(value):
    return str(value)[:MAX_TEXT] if value else None


def facts(raw):
    reader = PdfReader(io.BytesIO(raw))
    pages = reader.trailer["/Root"]["/Pages"].get("/Count", 0)
    if not isinstance(pages, int) or pages > MAX_PAGES:
        return {"error": "TooManyPages"}
    info = reader.metadata or {}
    return {key: text(info.get("/" + key)) for key in ("Producer", "Creator", "CreationDate", "ModDate")}


try:  # a first parse, so that what pypdf imports lazily is loaded before the first request
    from pypdf import PdfWriter
    warm = PdfWriter()
    warm.add_blank_page(10, 10)
    warm.add_metadata({"/Producer": "warm-up", "/CreationDate": "D:20240101000000+08'00'"})
    buffer = io.BytesIO()
    warm.write(buffer)
    facts(buffer.getvalue())
except Exception:
    pass
out.write(b"R")
out.flush()
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    raw = inp.read(struct.unpack(">I", head)[0])
    Count.n = 0
    try:
        result = facts(raw)
    except Exception as exc:  # MemoryError and RecursionError included
        result = {"error": type(exc).__name__}
    result["warnings"] = Count.n
    body = json.dumps(result).encode()
    out.write(struct.pack(">I", len(body)) + body)
    out.flush()
"""


class _Worker:
    def __init__(self) -> None:
        code = (_CHILD.replace("MEMORY", str(WORKER_MEMORY_BYTES)).replace("MAX_TEXT", str(_MAX_TEXT))
                .replace("MAX_PAGES", str(MAX_PAGES)))
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.fd = self.proc.stdin, self.proc.stdout.fileno()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a raw pipe may take part of it
            view = view[os.write(self.stdin.fileno(), view):]

    def read_exactly(self, n: int, deadline: float) -> bytes | None:
        data = b""
        while len(data) < n:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self.fd], [], [], wait)[0]:
                return None
            chunk = os.read(self.fd, n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class PdfWorkers:
    """A few worker processes that read PDF metadata; see the module docstring.

    Workers are started (and replaced) by one long-lived thread of the pool: a worker
    is set to die with the thread that started it.

    Parameters
    ----------
    size : int
        Worker processes (PDFs read at the same time).
    start_timeout : float
        Seconds to wait for the workers to start (import pypdf) when the pool is built.
    """

    def __init__(self, size: int = 2, start_timeout: float = 30.0) -> None:
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.abandoned = 0
        self.pid = os.getpid()
        # None asks for a new worker, a worker for its replacement, _STOP ends the thread
        self._wanted: queue.Queue[object] = queue.Queue()
        self._started = threading.Semaphore(0)
        threading.Thread(target=self._keep_workers, name="tianwang-pdf-workers", daemon=True).start()
        for _ in range(size):
            self._wanted.put(None)
        deadline = time.monotonic() + start_timeout
        for _ in range(size):
            self._started.acquire(timeout=max(deadline - time.monotonic(), 0.0))

    def _keep_workers(self) -> None:
        while (wanted := self._wanted.get()) is not _STOP:
            if isinstance(wanted, _Worker):
                self._drop(wanted)
            if not self._closed:
                worker = _Worker()
                with self._lock:
                    self._all.add(worker)
                if worker.read_exactly(1, time.monotonic() + 30.0) == b"R" and not self._closed:
                    self._idle.put(worker)
                else:
                    self._drop(worker)
            self._started.release()

    def _drop(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.kill()

    def read(self, raw: bytes, timeout: float) -> dict[str, Any] | None:
        """The facts a worker read from ``raw``, or ``None`` when none answered within ``timeout`` seconds."""
        if timeout <= 0:  # no time left: do not take (and then abandon) a worker for nothing
            return None
        deadline = time.monotonic() + timeout
        try:
            worker = self._idle.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        try:
            worker.write(struct.pack(">I", len(raw)) + raw)
            head = worker.read_exactly(4, deadline)
            body = worker.read_exactly(struct.unpack(">I", head)[0], deadline) if head else None
        except OSError:
            body = None
        if body is None:  # too slow or dead: abandon it, a fresh one takes its place
            self.abandoned += 1
            worker.proc.kill()  # at once; the rest (reaping, a replacement) off the caller's time
            self._wanted.put(worker)
            return None
        self._idle.put(worker)
        result: dict[str, Any] = json.loads(body)
        return result

    def close(self) -> None:
        """Stop every worker (only in the process that started them, not in a forked child)."""
        if os.getpid() != self.pid:
            return
        self._closed = True
        self._wanted.put(_STOP)
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.kill()


_STOP = object()
_POOL: PdfWorkers | None = None
_POOL_LOCK = threading.Lock()


def pdf_workers() -> PdfWorkers:
    """The process's pool, started (and pypdf imported in it) on the first call."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():  # a forked child must not share its parent's pipes
            _POOL = PdfWorkers()
            atexit.register(_POOL.close)
        return _POOL
