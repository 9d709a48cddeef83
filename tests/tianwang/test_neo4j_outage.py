"""Neo4j down under load (issue 19, nothing lost): a served deployment on a Neo4j server of its own keeps
answering while the server is stopped and started again, and while it hangs (SIGSTOP: a socket that never
answers), and while the service itself restarts with Neo4j down; every request gets a decision, the ones
made without the graph say so and are not approved, and every application reaches the graph exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
from neo4j import GraphDatabase

from fixtures.generator import generate
from tests.serving import start_server
from tianwang.workers import stop_process

from ..conftest import neo4j_uri_or_skip

pytestmark = [pytest.mark.slow, pytest.mark.neo4j]
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "neo4j-dev.sh"


class OwnNeo4j:
    """A dev Neo4j of this test's own (scripts/neo4j-dev.sh with a state folder of its own)."""

    def __init__(self, state: Path) -> None:
        self.env = {**os.environ, "TIANWANG_NEO4J_STATE": str(state), "TIANWANG_NEO4J_HEAP": "512m",
                    "TIANWANG_NEO4J_PAGECACHE": str(64 << 20)}
        self.env.pop("TIANWANG_NEO4J_PORT", None)

    def run(self, command: str) -> str:
        done = subprocess.run(["bash", str(SCRIPT), command], env=self.env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"neo4j-dev.sh {command} failed:\n{done.stderr[-3000:]}"
        return done.stdout

    def start(self) -> str:
        return self.run("start").strip().split("=", 1)[1]


def _metric(base: str, name: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def test_scoring_goes_on_while_neo4j_is_down_and_the_graph_gets_everything_once(tmp_path: Path) -> None:
    neo4j_uri_or_skip()  # the same rule as every Neo4j test: skip with a reason here, fail in CI
    neo4j = OwnNeo4j(tmp_path / "neo4j-state")
    uri = neo4j.start()
    server = None
    try:
        generate(330, 5, tmp_path / "data")
        lines = (tmp_path / "data" / "applications.ndjson").read_bytes().splitlines()
        lines, hung_lines, later_lines, restart_lines = lines[:240], lines[240:280], lines[280:300], lines[300:]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TIANWANG_STORE": "neo4j", "TIANWANG_NEO4J_URI": uri,
               "TIANWANG_DB_PATH": str(tmp_path / "live" / "graph.db"), "TIANWANG_GRAPH_TIMEOUT_MS": "5000"}
        for name in ("TIANWANG_DATABASE_URL", "TIANWANG_SCORING_CONFIG", "TIANWANG_NEO4J_USER"):
            env.pop(name, None)
        key = subprocess.run([sys.executable, "-m", "tianwang.cli", "keys", "create", "--client", "approval",
                              "--role", "scorer"], env=env, cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()[-1]

        def serve() -> tuple[subprocess.Popen[bytes], str]:
            return start_server(env)

        def drained(address: str, what: str) -> None:
            until = time.monotonic() + 120
            while (_metric(address, "tianwang_graph_outbox_pending") > 0
                   or _metric(address, "tianwang_graph_store_up") < 1):
                assert time.monotonic() < until, f"the graph outbox did not drain {what}"
                time.sleep(0.5)

        server, base = serve()

        answers: dict[str, dict[str, object]] = {}
        failures: list[str] = []
        lock = threading.Lock()
        client = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60)

        def send(line: bytes) -> None:
            try:
                r = client.post("/v1/applications/score", content=line)
            except httpx.HTTPError as exc:
                failures.append(type(exc).__name__)
                return
            with lock:
                if r.status_code in (200, 201):
                    answers[r.json()["application_id"]] = r.json()
                else:
                    failures.append(f"{r.status_code} {r.text[:200]}")

        def wait_for(count: int) -> None:
            until = time.monotonic() + 180
            while len(answers) + len(failures) < count:
                assert time.monotonic() < until, f"only {len(answers)} answers"
                time.sleep(0.05)

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(send, line) for line in lines]
            wait_for(60)
            neo4j.run("halt")  # Neo4j stops in the middle of the load, its data kept
            wait_for(150)
            down = httpx.get(f"{base}/readyz", timeout=10).json()
            neo4j.start()  # and comes back on the same address
            for future in futures:
                future.result()
        client.close()

        assert failures == [], failures[:5]  # every request got a decision
        assert len(answers) == len(lines)
        degraded = [a for a in answers.values() if a.get("degraded")]
        assert 20 <= len(degraded) < len(answers), len(degraded)  # the outage was felt, and only then
        for answer in degraded:
            assert answer["band"] != "approve"
            assert answer["degraded"]["graph"] == "unavailable"  # type: ignore[index]
            assert {v["detector"] for v in answer["votes"] if v["status"] == "unavailable"} >= {"identity_theft"}  # type: ignore[attr-defined]
        assert down["status"] == "ready" and down["checks"]["graph_store"] == "degraded", down

        drained(base, "after the outage")  # once Neo4j answers
        print(f"outage: {len(answers)} answered, {len(degraded)} without the graph, 0 failed")

        # Neo4j hangs: the process is stopped, its sockets stay open and never answer
        pid = int((tmp_path / "neo4j-state" / "pid").read_text())
        os.kill(pid, signal.SIGSTOP)
        try:
            with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as hung:
                started = time.monotonic()
                for line in hung_lines:
                    r = hung.post("/v1/applications/score", content=line)
                    assert r.status_code == 201, r.text
                    answers[r.json()["application_id"]] = r.json()
                took = time.monotonic() - started
            hung_degraded = sum(1 for line in hung_lines if answers[orjson.loads(line)["application_id"]]["degraded"])
        finally:
            os.kill(pid, signal.SIGCONT)
        # the first waits out the 5 s deadline, the rest go to the outbox at once (the lower bound of a
        # request that waits on a hung socket is forever)
        assert hung_degraded == len(hung_lines) and took < 30, (hung_degraded, took)
        print(f"hang: {len(hung_lines)} answered in {took:.1f} s, all without the graph")

        drained(base, "after the hang")
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as later:  # back to normal
            for line in later_lines:
                r = later.post("/v1/applications/score", content=line)
                assert r.status_code == 201 and r.json()["degraded"] is None, r.text
                answers[r.json()["application_id"]] = r.json()

        # the service restarts while Neo4j is down: it starts, scores without the graph, and connects later
        neo4j.run("halt")
        stop_process(server)
        server, base = serve()
        assert httpx.get(f"{base}/readyz", timeout=30).json()["checks"]["graph_store"] == "degraded"
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as restarted:
            for line in restart_lines:
                r = restarted.post("/v1/applications/score", content=line)
                assert r.status_code == 201 and r.json()["degraded"] is not None, r.text
                assert r.json()["band"] != "approve"
                answers[r.json()["application_id"]] = r.json()
        neo4j.start()
        drained(base, "after a start without Neo4j")
        print(f"restart: the service started without Neo4j and answered {len(restart_lines)} without the graph")

        with GraphDatabase.driver(uri, auth=None) as driver:
            records, _, _ = driver.execute_query(
                "MATCH (a:Application) RETURN a.application_id AS id, count(*) AS n")
        stored = {r["id"]: r["n"] for r in records}
        sent = {orjson.loads(line)["application_id"] for line in lines + hung_lines + later_lines + restart_lines}
        assert set(stored) == sent  # every application in the graph
        assert set(stored.values()) == {1}  # once
        assert httpx.get(f"{base}/readyz", timeout=10).json()["checks"]["graph_store"] == "ok"
    finally:
        if server is not None:
            stop_process(server)
        neo4j.run("stop")
