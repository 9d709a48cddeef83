"""Where a process's native memory goes: SQLite's allocator and glibc's heap.

Python's ``tracemalloc`` sees objects; it does not see SQLite's page caches or what a
native library keeps (``torch``, ``igraph``, ``faiss``). These readings do, through
``ctypes`` on the libraries already loaded: ``sqlite3_memory_used`` (every connection's
page cache and statements in this process) and glibc's ``mallinfo2`` (bytes handed out
and bytes held free inside the heap, which fragmentation leaves unreturned). Each reading
is ``None`` where the library does not offer it (another libc, a static SQLite).

:func:`release_free_heap` hands glibc's free heap pages back to the system
(``malloc_trim``): a long-lived process whose requests allocate and free many small
objects otherwise keeps the high-water mark of every arena resident.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass

__all__ = ["NativeMemory", "native_memory", "release_free_heap"]


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


@dataclass(frozen=True)
class NativeMemory:
    sqlite_bytes: int | None
    """What SQLite's allocator holds now (page caches, prepared statements), all connections."""
    malloc_in_use_bytes: int | None
    """glibc heap bytes handed out (main arena and thread arenas, plus mmapped blocks)."""
    malloc_free_bytes: int | None
    """glibc heap bytes free but kept by the process (fragmentation, arena slack)."""


@functools.cache
def _sqlite() -> ctypes.CDLL | None:
    import sqlite3  # noqa: F401  (loads the library this process uses)

    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return lib
    except (OSError, AttributeError):
        return None


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(None)
        lib.mallinfo2.restype = _MallInfo2
        return lib
    except (OSError, AttributeError):
        return None


def native_memory() -> NativeMemory:
    """Read the native allocators now (a few microseconds)."""
    sqlite = _sqlite()
    libc = _libc()
    info = libc.mallinfo2() if libc is not None else None
    return NativeMemory(
        sqlite_bytes=int(sqlite.sqlite3_memory_used()) if sqlite is not None else None,
        malloc_in_use_bytes=int(info.uordblks + info.hblkhd) if info is not None else None,
        malloc_free_bytes=int(info.fordblks) if info is not None else None,
    )


def release_free_heap() -> bool:
    """Return glibc's free heap pages to the system (``malloc_trim(0)``); ``False`` where there is
    no glibc or nothing was released. Takes a few milliseconds, holding each arena's lock in turn."""
    libc = _libc()
    if libc is None:
        return False
    try:
        return bool(libc.malloc_trim(0))
    except AttributeError:
        return False
