"""Do service replicas decide as one process does? (issue 15, item 1: the measurement)

Generates ``--applications`` applications with planted fraud, then replays them in time
order, one request at a time, each time into a fresh embedded store and operational
database:

1. through one ``tianwang serve`` process;
2. through ``--replicas`` processes on the *same* store and database, the requests dealt
   round-robin as a load balancer would (the client alternates between the replicas'
   ports, so the comparison is free of any balancer's own choices), without Kafka: each
   replica's memory holds only what it scored;
3. the same with ``--kafka`` (or ``TIANWANG_KAFKA_BOOTSTRAP``): each replica follows the
   other's applications and verdicts from the event stream (``tianwang/service/replicas.py``).
   The requests do not wait for the feed, so what still differs is what the feed's lag lets
   through at this pace.

Last, it measures in one process what following costs: the CPU of scoring each application
in one service, and of following it in a second service on the same store.

The two runs see the same graph, the same decision log and the same configuration, and
the requests come one at a time. Any difference in a decision therefore comes from state
that lives in only one process's memory: ``fraud_ring``'s online graph of recent
applications, the ring GNN's cached states, the known-fraud index's additions. The
report gives, per replica count, how many decisions (band) and scores differ, by how
much, and which detectors' votes differ most, so the state that still lives in one
process is named by measurement.

    python bench/replicas.py --applications 3000 --replicas 2 --kafka HOST:PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# run as a script, this file's folder comes first on sys.path, where bench/http.py would shadow
# the standard library's http (which httpx imports)
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

SECRET = "tianwang-bench-replicas-secret-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(folder: Path, kafka: str | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIANWANG_SECRET": SECRET,
           "TIANWANG_DB_PATH": str(folder / "graph.db"), "TIANWANG_STORE": "embedded",
           "TIANWANG_BUNDLE_DIR": str(folder / "bundles")}
    # the operational database: operations.db beside the store, shared by the replicas
    for name in ("TIANWANG_NEO4J_URI", "TIANWANG_KAFKA_BOOTSTRAP", "TIANWANG_SCORING_CONFIG", "TIANWANG_DATABASE_URL"):
        env.pop(name, None)
    if kafka:  # the replicas publish what they accept and follow each other (tianwang/service/replicas.py)
        env["TIANWANG_KAFKA_BOOTSTRAP"] = kafka
    return env


def start(folder: Path, count: int, timeout: float,
          kafka: str | None = None) -> tuple[list[subprocess.Popen[bytes]], list[str], str]:
    """``count`` single-worker ``tianwang serve`` processes on one store; their base URLs and a scorer key."""
    env = _env(folder, kafka)
    made = subprocess.run([sys.executable, "-m", "tianwang.cli", "keys", "create", "--client", "bench",
                           "--role", "scorer"], cwd=ROOT, env=env, text=True, capture_output=True, check=True)
    key = made.stdout.strip().splitlines()[-1]
    servers, bases = [], []
    for k in range(count):
        port = free_port()
        log = (folder / f"serve-{k}.log").open("wb")
        servers.append(subprocess.Popen([sys.executable, "-m", "tianwang.cli", "serve", "--host", "127.0.0.1",
                                         "--port", str(port)], cwd=ROOT, env=env, stdout=log,
                                        stderr=subprocess.STDOUT))
        bases.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    waiting = set(bases)
    while waiting and time.monotonic() < deadline:
        for server, base in zip(servers, bases, strict=True):
            if server.poll() is not None:
                raise RuntimeError(f"tianwang serve exited ({server.returncode}); see {folder}/serve-*.log")
            if base in waiting:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        waiting.discard(base)
                except httpx.HTTPError:
                    pass
        time.sleep(0.3)
    if waiting:
        stop(servers)
        raise RuntimeError(f"tianwang serve did not answer within {timeout} s")
    return servers, bases, key


def stop(servers: list[subprocess.Popen[bytes]]) -> None:
    from tianwang.workers import stop_process

    for server in servers:
        stop_process(server)


def replay(lines: list[bytes], bases: list[str], key: str) -> dict[str, dict[str, Any]]:
    """Each application once, in order, to the replicas in turn; the decisions by application id."""
    decisions: dict[str, dict[str, Any]] = {}
    clients = [httpx.Client(base_url=base, headers={"X-API-Key": key, "Content-Type": "application/json"},
                            timeout=60) for base in bases]
    try:
        for k, line in enumerate(lines):
            answer = clients[k % len(clients)].post("/v1/applications/score", content=line)
            answer.raise_for_status()
            body = answer.json()
            decisions[body["application_id"]] = body
    finally:
        for client in clients:
            client.close()
    return decisions


def feed_state(base: str) -> dict[str, float]:
    """The replica feed's counters and lag from ``/metrics`` (empty without a feed)."""
    found: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("tianwang_replica_feed_events_total{"):
            kind = line.split('kind="', 1)[1].split('"', 1)[0]
            found[kind] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("tianwang_replica_feed_lag_seconds "):
            found["lag_seconds"] = float(line.rsplit(" ", 1)[1])
    return found


def run(lines: list[bytes], replicas: int, timeout: float,
        kafka: str | None = None) -> tuple[dict[str, dict[str, Any]], float, list[dict[str, float]]]:
    with tempfile.TemporaryDirectory(prefix="tianwang-replicas-") as tmp:
        servers, bases, key = start(Path(tmp), replicas, timeout, kafka)
        try:
            if kafka:
                time.sleep(3.0)  # each replica's feed joins its group before the traffic starts
            started = time.perf_counter()
            decisions = replay(lines, bases, key)
            elapsed = time.perf_counter() - started
            time.sleep(1.0 if kafka else 0.0)
            return decisions, elapsed, [feed_state(base) for base in bases] if kafka else []
        finally:
            stop(servers)


def _contributions(body: dict[str, Any]) -> dict[str, float]:
    return {v["detector"]: float(v.get("contribution") or 0.0) for v in body.get("votes", []) if v.get("detector")}


def compare(one: dict[str, dict[str, Any]], many: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How the replicas' decisions differ from the single process's, application by application."""
    bands: Counter[str] = Counter()
    detectors: Counter[str] = Counter()
    scores: list[int] = []
    for app_id, single in one.items():
        other = many[app_id]
        if single["band"] != other["band"]:
            bands[f"{single['band']} -> {other['band']}"] += 1
        scores.append(abs(int(single["fraud_score"]) - int(other["fraud_score"])))
        a, b = _contributions(single), _contributions(other)
        for name in set(a) | set(b):
            if abs(a.get(name, 0.0) - b.get(name, 0.0)) > 1e-6:
                detectors[name] += 1
    differ = sum(1 for d in scores if d)
    return {
        "applications": len(one),
        "band_differs": sum(bands.values()),
        "band_changes": dict(bands.most_common()),
        "score_differs": differ,
        "largest_score_difference": max(scores, default=0),
        "mean_score_difference_where_different": (sum(scores) / differ) if differ else 0.0,
        "detectors_whose_vote_differs": dict(detectors.most_common()),
    }


def follow_cost(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """CPU ms per application (mean) of scoring it in one service and of following it in another on the same
    store (``ScoringPipeline.follow``, what a replica's feed does per application of another process)."""
    import statistics

    from tianwang.service import open_service
    from tianwang.service.scoring import score_application
    from tianwang.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="tianwang-follow-") as tmp:
        settings = load_settings(db_path=Path(tmp) / "graph.db", store="embedded", secret=SECRET)
        with open_service(settings) as scorer, open_service(settings) as follower:
            scored, followed = [], []
            for row in rows:
                started = time.process_time()
                score_application(scorer, row)
                scored.append(time.process_time() - started)
                started = time.process_time()
                follower.runtime.pipeline.follow(_parse(row))
                followed.append(time.process_time() - started)
    return statistics.mean(scored) * 1000, statistics.mean(followed) * 1000


def _parse(row: dict[str, Any]) -> Any:
    from tianwang.application import parse_application

    return parse_application(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--applications", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--difficulty", default="easy", help="the generator's mode: easy or hard")
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--kafka", default=None, help="Kafka brokers for the replicas with the feed "
                        "(default TIANWANG_KAFKA_BOOTSTRAP)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from fixtures.generator import generate

    with tempfile.TemporaryDirectory(prefix="tianwang-replicas-data-") as tmp:
        generate(args.applications, args.seed, Path(tmp), difficulty=args.difficulty)
        rows = [json.loads(line) for line in (Path(tmp) / "applications.ndjson").read_text().splitlines() if line]
    rows.sort(key=lambda row: row["submitted_at"])
    lines = [json.dumps(row, ensure_ascii=False).encode() for row in rows]
    print(f"{len(lines):,} applications (seed {args.seed}, {args.difficulty}), replayed in time order, one at a time")
    one, one_s, _ = run(lines, 1, args.start_timeout)
    print(f"  1 process:   {one_s:.1f} s; bands {dict(Counter(d['band'] for d in one.values()))}")
    results: dict[str, Any] = {"replicas": args.replicas, "seed": args.seed, "applications": len(lines)}
    kafka = args.kafka or os.environ.get("TIANWANG_KAFKA_BOOTSTRAP")
    for label, brokers in (("without the feed", None), ("with the feed", kafka)):
        if label == "with the feed" and not brokers:
            print("  (no --kafka or TIANWANG_KAFKA_BOOTSTRAP: the replicas with the feed are not run; "
                  "scripts/kafka-dev.sh start prints one)")
            continue
        many, many_s, feeds = run(lines, args.replicas, args.start_timeout, brokers)
        figures = compare(one, many)
        print(f"  {args.replicas} replicas {label}: {many_s:.1f} s; band differs for {figures['band_differs']:,} of "
              f"{figures['applications']:,} applications ({figures['band_changes']}); score differs for "
              f"{figures['score_differs']:,} (largest {figures['largest_score_difference']}, mean where different "
              f"{figures['mean_score_difference_where_different']:.1f} of 1000); detectors whose vote differs: "
              f"{figures['detectors_whose_vote_differs']}")
        for k, feed in enumerate(feeds):
            print(f"    replica {k}: followed {feed.get('applications', 0):.0f} applications of the other, skipped "
                  f"{feed.get('own', 0):.0f} of its own, failed {feed.get('failed', 0):.0f}, last lag "
                  f"{feed.get('lag_seconds', 0) * 1000:.0f} ms")
        results[label.replace(" ", "_")] = {**figures, "seconds": round(many_s, 2), "feeds": feeds}
    score_ms, follow_ms = follow_cost(rows)
    print(f"  CPU per application, in process: scoring {score_ms:.2f} ms, following it in another process "
          f"{follow_ms:.2f} ms (each of P processes follows the other P - 1's applications)")
    results["cpu_ms"] = {"score": round(score_ms, 3), "follow": round(follow_ms, 3)}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
