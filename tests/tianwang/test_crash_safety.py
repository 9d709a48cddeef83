"""Crash safety (issue 19, nothing lost): `kill -9` an ingest and a serving process in the middle of their
work, start them again, and nothing acknowledged is lost, nothing is half-written, and a rerun completes the
rest — the graph then equals one written without a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest

from fixtures.generator import generate
from tests.serving import start_server
from tianwang.ingest import ingest_file
from tianwang.opsdb import OpsDB
from tianwang.opsdb.models import DecisionRow
from tianwang.runtime import open_graph
from tianwang.settings import load_settings
from tianwang.workers import stop_process

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _env(db: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIANWANG_DB_PATH": str(db), "TIANWANG_STORE": "embedded"}
    for name in ("TIANWANG_NEO4J_URI", "TIANWANG_DATABASE_URL", "TIANWANG_SCORING_CONFIG"):
        env.pop(name, None)
    return env


def _counts(db: Path) -> object:
    with open_graph(load_settings(db_path=db, store="embedded"), "embedded") as graph:
        return graph.counts()


def test_an_ingest_killed_mid_batch_leaves_whole_applications_and_a_rerun_completes(tmp_path: Path) -> None:
    generate(6000, 3, tmp_path / "data")
    source = tmp_path / "data" / "applications.ndjson"
    clean = tmp_path / "clean" / "graph.db"
    with open_graph(load_settings(db_path=clean, store="embedded"), "embedded") as graph:
        ingest_file(source, graph, batch_size=200, workers=0)
    expected = _counts(clean)

    db = tmp_path / "crashed" / "graph.db"
    command = [sys.executable, "-m", "tianwang.cli", "ingest", str(source), "--db", str(db), "--batch-size", "200",
               "--workers", "0"]
    ingest = subprocess.Popen(command, env=_env(db), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    def written() -> int:
        return sum(p.stat().st_size for p in (db, db.with_name("graph.db-wal")) if p.exists())

    while written() < 2_000_000 and time.monotonic() < deadline:  # mid-way
        assert ingest.poll() is None, "the ingest ended before it could be killed"
        time.sleep(0.05)
    os.kill(ingest.pid, signal.SIGKILL)
    ingest.wait()
    partial = _counts(db)
    stored = partial.nodes.get("Application", 0)  # type: ignore[attr-defined]
    assert 0 < stored < expected.nodes["Application"]  # type: ignore[attr-defined]
    # whole applications only: every stored application was submitted by someone, at a dealer
    assert partial.relationships["SUBMITTED"] == stored and partial.relationships["AT_DEALER"] == stored  # type: ignore[attr-defined]

    rerun = subprocess.run(command, env=_env(db), cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _counts(db) == expected


def test_a_service_killed_under_load_keeps_every_decision_it_answered(tmp_path: Path) -> None:
    generate(300, 5, tmp_path / "data")
    lines = (tmp_path / "data" / "applications.ndjson").read_bytes().splitlines()
    db = tmp_path / "live" / "graph.db"
    env = _env(db)
    key = subprocess.run([sys.executable, "-m", "tianwang.cli", "keys", "create", "--client", "approval", "--role",
                          "scorer"], env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()[-1]

    def serve() -> tuple[subprocess.Popen[bytes], str]:
        return start_server(env)

    server, base = serve()
    answered: dict[str, str] = {}
    client = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30)

    def send(line: bytes) -> None:
        try:
            r = client.post("/v1/applications/score", content=line)
        except httpx.HTTPError:
            return  # cut off by the kill: not acknowledged
        if r.status_code in (200, 201):
            answered[r.json()["application_id"]] = r.json()["decision_id"]

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(send, line) for line in lines]
        deadline = time.monotonic() + 120
        while len(answered) < 60:
            assert time.monotonic() < deadline and not all(f.done() for f in futures), "too few answers"
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)  # in the middle of the load
        server.wait()
        for future in futures:
            future.result()
    client.close()
    assert 60 <= len(answered) < len(lines)

    ops = OpsDB(f"sqlite:///{db.with_name('operations.db')}")
    with ops.session() as session:
        kept = {row.application_id: row.id for row in session.query(DecisionRow)}
    ops.close()
    assert {a: kept.get(a) for a in answered} == answered  # every answered decision is stored, as answered

    server, base = serve()  # started again: everything sent again, in order
    try:
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as again:
            for line in lines:
                r = again.post("/v1/applications/score", content=line)
                assert r.status_code in (200, 201), r.text
                application_id = orjson.loads(line)["application_id"]
                if application_id in answered:
                    assert (r.status_code, r.json()["decision_id"]) == (200, answered[application_id])
    finally:
        stop_process(server)
    clean = tmp_path / "clean" / "graph.db"
    with open_graph(load_settings(db_path=clean, store="embedded"), "embedded") as graph:
        ingest_file(tmp_path / "data" / "applications.ndjson", graph, workers=0)
    assert _counts(db) == _counts(clean)  # no half-written application, nothing twice
