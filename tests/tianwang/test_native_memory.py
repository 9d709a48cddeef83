"""The native memory readings behind ``tianwang_native_memory_bytes`` and the hand-back of free heap pages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tianwang.native_memory import native_memory


def _glibc() -> bool:
    import platform

    return platform.libc_ver()[0] == "glibc"


def test_sqlite_memory_follows_a_connection_page_cache() -> None:
    before = native_memory().sqlite_bytes
    assert before is not None
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.executemany("INSERT INTO t VALUES (?)", [(b"x" * 1000,) for _ in range(20_000)])
    during = native_memory().sqlite_bytes
    assert during is not None and during - before > 15_000_000  # ~20 MB of pages held by SQLite's allocator
    conn.close()
    after = native_memory().sqlite_bytes
    assert after is not None and after < during - 15_000_000


_TRIM_CHECK = """
import json
from pathlib import Path
from tianwang.native_memory import native_memory, release_free_heap

def anon():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

base = anon()
held = [bytearray(2000) for _ in range(100_000)]  # ~200 MB of malloc'd chunks under the mmap threshold
pin = bytearray(2000)  # allocated after them: the heap's top stays in use, so free() alone cannot shrink it
del held
freed = native_memory().malloc_free_bytes
after_free = anon() - base
released = release_free_heap()
print(json.dumps({"freed": freed, "after_free": after_free, "released": released, "after_trim": anon() - base}))
"""


@pytest.mark.skipif(not _glibc(), reason="mallinfo2 and malloc_trim are glibc's")
def test_free_heap_pages_go_back_to_the_system() -> None:
    # in a fresh interpreter: in this one the heap's history (holes left by earlier tests) decides where chunks go
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", _TRIM_CHECK], capture_output=True, text=True, check=True, cwd=root,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    figures = json.loads(out.stdout)
    assert figures["freed"] > 150_000_000
    assert figures["after_free"] > 150_000  # freed, but still resident (KiB)
    assert figures["released"] is True
    assert figures["after_trim"] < 50_000


def _rss_anon_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")
