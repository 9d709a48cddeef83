"""A running ``tianwang ingest`` and signals (issue 18 item 5): its workers die with it, and SIGTERM
stops it cleanly after the current batch.

The input is a named pipe, fed by the test: the ingest is then mid-file for as long as the test
wants, on any machine, without a file large enough to take seconds.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graph_schema.embedded import EmbeddedGraphStore
from tests.builders import application
from tianwang import ingest as ingest_module
from tianwang.errors import IngestAbortedError
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads child processes from /proc")

ROOT = Path(__file__).resolve().parents[2]


def lines(first: int, count: int) -> bytes:
    return b"".join(json.dumps(application(n)).encode() + b"\n" for n in range(first, first + count))


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited: only its entry waits to be reaped


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_ingest(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    fifo = tmp_path / "apps.ndjson"
    os.mkfifo(fifo)
    db = tmp_path / "g.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tianwang.cli", "ingest", str(fifo), "--db", str(db), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    return process, fifo, db


def stored(db: Path) -> list[str]:
    try:
        with sqlite3.connect(db) as conn:
            return [r[0] for r in conn.execute("SELECT application_id FROM applications ORDER BY application_id")]
    except sqlite3.Error:
        return []


def test_workers_die_with_a_killed_ingest(tmp_path: Path) -> None:
    process, fifo, _ = start_ingest(tmp_path, "--workers", "2")
    try:
        with open(fifo, "wb") as feed:
            feed.write(lines(1, 1000))  # one chunk: the workers start and take it
            feed.flush()
            wait_for(lambda: len(children(process.pid)) >= 2, 60, "the ingest's workers")
            workers = children(process.pid)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            wait_for(lambda: not any(alive(pid) for pid in workers), 5, f"workers {workers} to die with their parent")
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_sigterm_stops_after_the_current_batch_with_a_summary(tmp_path: Path) -> None:
    process, fifo, db = start_ingest(tmp_path, "--workers", "0", "--batch-size", "100")
    try:
        with open(fifo, "wb") as feed:
            feed.write(lines(1, 1000))
            feed.flush()
            wait_for(lambda: len(stored(db)) == 1000, 60, "the first 1,000 applications")
            process.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            feed.write(lines(1001, 1000))  # the ingest reads on, sees the request, stops
            feed.flush()
            out, err = process.communicate(timeout=60)  # the pipe is still open: it stopped by itself
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 128 + signal.SIGTERM, err.decode()
    summary = " ".join(out.decode().split())
    assert "interrupted (SIGTERM)" in summary and "rerun the same file to resume" in summary
    assert "Traceback" not in err.decode()
    created = int(summary.split(" new,")[0].rsplit(" ", 1)[1])
    ids = stored(db)
    assert len(ids) == created >= 1000
    assert ids == [f"APP-{n:06d}" for n in range(1, created + 1)]  # whole batches, in file order


_map_in_worker = ingest_module._map_in_worker


def _dies_on_the_third_chunk(first_line: int, raw: list[bytes], too_long: frozenset[int]) -> Any:
    if first_line == 7:
        os.kill(os.getpid(), signal.SIGTERM)  # as a SIGTERM to the whole process group would
    return _map_in_worker(first_line, raw, too_long)


def test_a_killed_worker_ends_the_ingest_with_what_was_committed(
    tmp_path: Path, keyer: PersonalDataKeyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "_CHUNK_LINES", 3)
    monkeypatch.setattr(ingest_module, "_map_in_worker", _dies_on_the_third_chunk)
    path = tmp_path / "apps.ndjson"
    path.write_bytes(lines(1, 12))
    with EmbeddedGraphStore(tmp_path / "g.db", keyer) as store, pytest.raises(IngestAbortedError) as info:
        ingest_file(path, store, batch_size=100, workers=2)
    assert "a worker process died" in str(info.value) and "rerun the same file" in str(info.value)
