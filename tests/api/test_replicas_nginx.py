"""Two ``tianwang serve`` processes behind Debian's nginx (round-robin on loopback) decide as one does.

Issue 15, item 1, end to end: real service processes on one graph store (the embedded file, and
one Neo4j) and one operational database, following each other on a real Kafka broker, with
nginx dealing the requests. The same generated traffic, in time order, goes once to a single
process and once through nginx; each request goes out once both replicas have seen the previous
application (each counts it as its own or as followed, on ``/metrics``). The decisions are
compared one by one.

``make test`` installs nginx (``scripts/nginx-dev.sh ensure``) and gives its path as
``TIANWANG_NGINX``; without nginx this skips, except in CI, where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.generator import generate
from tests.conftest import TEST_SECRET
from tianwang.privacy import PersonalDataKeyer

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
N = 240


def _nginx() -> str:
    path = os.environ.get("TIANWANG_NGINX") or shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if path is None:
        reason = "no nginx: set TIANWANG_NGINX or run scripts/nginx-dev.sh ensure (make test does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(folder: Path, kafka: str | None, neo4j: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIANWANG_SECRET": TEST_SECRET.decode(),
           "TIANWANG_STORE": "embedded", "TIANWANG_DB_PATH": str(folder / "graph.db"),
           "TIANWANG_BUNDLE_DIR": str(folder / "bundles")}
    for name in ("TIANWANG_NEO4J_URI", "TIANWANG_DATABASE_URL", "TIANWANG_SCORING_CONFIG", "TIANWANG_KAFKA_BOOTSTRAP"):
        env.pop(name, None)
    if kafka:
        env["TIANWANG_KAFKA_BOOTSTRAP"] = kafka
    if neo4j:  # one Neo4j for all the processes; the operational database stays beside TIANWANG_DB_PATH
        env.update({"TIANWANG_STORE": "neo4j", "TIANWANG_NEO4J_URI": neo4j})
    return env


def _ready(base: str, process: subprocess.Popen[bytes], log: Path, *, feed: bool, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tianwang serve exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 and (
                    not feed or "tianwang_replica_feed_assigned 1.0" in httpx.get(f"{base}/metrics", timeout=5).text):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{base} not ready within {timeout} s: {log.read_text()[-2000:]}")


@contextmanager
def _serving(folder: Path, count: int, kafka: str | None,
             neo4j: str | None) -> Iterator[tuple[list[str], str]]:
    """``count`` ``tianwang serve`` processes on one store (in ``folder``, or the Neo4j at ``neo4j``, emptied
    first): their base URLs and a scorer key."""
    folder.mkdir(parents=True)
    env = _env(folder, kafka, neo4j)
    if neo4j:
        _clear(neo4j)
    key = subprocess.run([sys.executable, "-m", "tianwang.cli", "keys", "create", "--client", "test", "--role",
                          "scorer"], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    with ExitStack() as stack:
        if neo4j:  # registered first, so run last (after the processes stop): the next Neo4j test finds it empty
            stack.callback(_clear, neo4j)
        bases = []
        for k in range(count):
            port, log = _port(), folder / f"serve-{k}.log"
            process = subprocess.Popen([sys.executable, "-m", "tianwang.cli", "serve", "--host", "127.0.0.1",
                                        "--port", str(port)], cwd=ROOT, env=env, stdout=log.open("wb"),
                                       stderr=subprocess.STDOUT)
            stack.callback(_stop, process)
            bases.append(f"http://127.0.0.1:{port}")
            _ready(bases[-1], process, log, feed=kafka is not None)
        yield bases, key.stdout.strip().splitlines()[-1]


def _clear(neo4j: str) -> None:
    from graph_schema.neo4j_store import Neo4jGraphStore

    with Neo4jGraphStore(neo4j, PersonalDataKeyer(TEST_SECRET)) as graph:
        graph.clear()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def _balancer(folder: Path, upstreams: list[str]) -> Iterator[str]:
    """nginx on loopback, round-robin over ``upstreams`` (its default), with a prefix of its own."""
    folder.mkdir(parents=True)
    port = _port()
    servers = "\n".join(f"    server {base.removeprefix('http://')};" for base in upstreams)
    (folder / "nginx.conf").write_text(f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  upstream tianwang {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 2m;
    location / {{ proxy_pass http://tianwang; proxy_next_upstream off; }}
  }}
}}
""")
    process = subprocess.Popen([_nginx(), "-p", str(folder), "-c", str(folder / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"nginx exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                httpx.get(f"{base}/readyz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        _stop(process)


def _seen(base: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("tianwang_replica_feed_events_total{"):
            found[line.split('kind="', 1)[1].split('"', 1)[0]] = float(line.rsplit(" ", 1)[1])
    return found


def _replay(base: str, key: str, rows: list[dict[str, Any]], replicas: list[str] | None = None) -> dict[str, Any]:
    decisions = {}
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
        for k, row in enumerate(rows):
            answer = client.post("/v1/applications/score", json=row)
            assert answer.status_code in (200, 201), answer.text
            decisions[row["application_id"]] = answer.json()
            for replica in replicas or ():  # both have seen it: as their own, or followed
                deadline = time.monotonic() + 15
                while True:
                    seen = _seen(replica)
                    if seen.get("own", 0) + seen.get("applications", 0) >= k + 1:
                        break
                    assert time.monotonic() < deadline, f"{replica} saw {seen} of {k + 1} applications"
                    time.sleep(0.01)
    return decisions


@pytest.mark.parametrize("store", ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def test_two_serve_processes_behind_nginx_decide_as_one(
    tmp_path: Path, kafka_bootstrap: str, store: str, request: pytest.FixtureRequest
) -> None:
    _nginx()
    neo4j = request.getfixturevalue("neo4j_uri") if store == "neo4j" else None
    generate(N, 29, tmp_path / "data")
    rows = sorted((json.loads(line) for line in (tmp_path / "data" / "applications.ndjson").read_text().splitlines()
                   if line), key=lambda row: row["submitted_at"])
    with _serving(tmp_path / "single", 1, None, neo4j) as (bases, key):
        expected = _replay(bases[0], key, rows)
    with _serving(tmp_path / "replicas", 2, kafka_bootstrap, neo4j) as (bases, key), \
            _balancer(tmp_path / "nginx", bases) as balancer:
        decided = _replay(balancer, key, rows, replicas=bases)
        shares = [_seen(base).get("own", 0) for base in bases]
    assert sorted(shares) == [N // 2, N // 2]  # nginx dealt the requests in turn
    differing = [app_id for app_id in expected
                 if (expected[app_id]["band"], expected[app_id]["fraud_score"])
                 != (decided[app_id]["band"], decided[app_id]["fraud_score"])]
    # a detector past its budget (``timeout``) is left out of that one decision, by design: on a loaded machine
    # that happens to one process and not the other. Those differences are allowed, and must stay rare
    timed_out = [a for a in differing if _late(expected[a]) != _late(decided[a])]
    assert len(timed_out) <= N // 50, [(a, _late(expected[a]), _late(decided[a])) for a in timed_out]
    assert [(a, expected[a]["band"], decided[a]["band"], expected[a]["fraud_score"], decided[a]["fraud_score"],
             _votes(expected[a]), _votes(decided[a])) for a in differing if a not in timed_out] == []


def _late(decision: dict[str, Any]) -> set[str]:
    """The detectors left out of a decision because they ran past their budget."""
    return {v["detector"] for v in decision["votes"] if v["status"] == "timeout"}


def _votes(decision: dict[str, Any]) -> dict[str, Any]:
    return {v["detector"]: (v["status"], (v.get("vote") or {}).get("score")) for v in decision["votes"]}
