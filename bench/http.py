"""HTTP benchmark: ``POST /v1/applications/score`` of ``tianwang serve`` on loopback, open loop.

    python bench/http.py [--applications 100000] [--rps 200] [--seconds 30] [--workers 1]
                         [--train 20000] [--fit bundle|parts] [--gnn-epochs 30] [--warmup 300] [--seed 11]
                         [--db-dir DIR] [--profile N]

Quick smoke: ``python bench/http.py --applications 2000 --seconds 5``.

1. Generates ``--applications`` applications (``fixtures.generator.generate``) plus the
   held-out ones the load will send (the latest in time), and bulk-ingests the first
   ones into a fresh embedded store (``tianwang.ingest.ingest_file``, not through HTTP).
2. Makes the detectors ready as a deployment would: rings detected over the whole store
   (``tianwang rings detect``: ``fraud_ring`` reads them, ``refresh_every: 0``), and
   ``--fit bundle`` (default): one model bundle trained on the latest ``--train``
   applications as ``tianwang train`` does (every detector, the fusion weights, the ring
   GNN, the known-fraud index), activated in the server after it starts
   (``POST /v1/bundles/bench/activate``), so decisions are those of a trained service;
   ``--fit parts``: only the GNN and the known-fraud index, each application seen with its
   links as of its own time (what ``tianwang similarity rebuild`` does), named in the
   scoring configuration (``gnn_ring.artifact``, ``known_fraud_similarity.index_path``).
3. Starts ``tianwang serve --config <that file>`` as a subprocess (uvicorn, ``--workers``)
   with a fresh API key (``tianwang keys create --role scorer``), warms it up, then posts
   held-out applications at ``--rps`` for ``--seconds`` (open loop: each request leaves
   at its scheduled time whether or not earlier ones answered; latency counts from that
   time, so a queue in the client or the server is in the figures).
4. Prints p50, p95, p99 and max latency, the achieved throughput, errors, the service's
   own time per step and per detector (from each response's ``timings_ms`` and votes), and
   which detectors voted: ``fraud_ring``, ``gnn_ring`` and ``known_fraud_similarity`` must.
5. With ``--profile N``, after the server stopped: the time of N new applications through
   HTTP (TestClient, in process), the service and the pipeline alone, and a cProfile of N more.

Bounded in time: the load stops after ``--seconds``; a request gives up ``--drain``
seconds after that (each of httpx's phases: waiting for a connection, sending, reading),
and whatever is still open ``--drain`` seconds later again is cancelled; both count as
errors ("no answer in time"). Exit status 0, or 1 when a required detector
did not vote or the setup failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this file's folder comes first on sys.path, where it would shadow the
# standard library's ``http`` package: put the repository root there instead
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from datetime import timedelta  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
import yaml  # noqa: E402

SECRET = "tianwang-bench-secret-0123456789abcdef"
REQUIRED = ("fraud_ring", "gnn_ring", "known_fraud_similarity")
SCORE_PATH = "/v1/applications/score"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- setup ---------------------------------------------------------------------------------
def needed(args: argparse.Namespace) -> int:
    """How many held-out applications this run sends (warm-up, load, profile)."""
    return args.warmup + int(args.rps * args.seconds * 1.05) + 10 + 4 * args.profile


def prepare_cached(folder: Path, args: argparse.Namespace, held: int = 15_000) -> tuple[Path, list[bytes]]:
    """:func:`prepare` once into ``--cache``, then a copy of its store for every run.

    The cache is keyed by what makes the setup (applications, seed, training size, fit, the
    shipped scoring configuration and the detectors' versions: a detector added, retuned there or
    given a new version makes a new setup,
    so a cached bundle never stands in for the configuration a run claims to measure) and
    holds the untouched store, the bundle or model files, the configuration and the
    held-out applications; each run scores into its own copy of the store, so every run
    starts from the same graph. At least ``held`` applications are held out.
    """
    import hashlib
    import shutil

    from detectors.registry import DetectorRegistry
    from tianwang.scoring.config import DEFAULT_CONFIG_PATH

    # the configuration and every built-in detector's version: a bundle trained by another version of a
    # detector does not load (``retrain``), so a new version makes a new setup too
    registry = DetectorRegistry.builtin()
    versions = "".join(f"\n{name}={registry.resolve(name).version}" for name in sorted(registry.names))
    shipped = hashlib.sha256(DEFAULT_CONFIG_PATH.read_bytes() + versions.encode()).hexdigest()[:8]
    cache = args.cache / f"n{args.applications}-seed{args.seed}-train{args.train}-{args.fit}-config{shipped}"
    held_path = cache / "held-out.ndjson"
    if not (cache / "ready").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        config, held_lines = prepare(cache, args, held=max(needed(args), held))
        held_path.write_bytes(b"\n".join(held_lines) + b"\n")
        for name in ("operations.db", "scoring.db", "history.ndjson", "train.ndjson"):
            (cache / name).unlink(missing_ok=True)
        shutil.rmtree(cache / "train", ignore_errors=True)
        (cache / "ready").write_text(str(config.name), encoding="utf-8")
        say(f"setup cached in {cache}")
    held_out = held_path.read_bytes().splitlines()
    if len(held_out) < needed(args):
        raise SystemExit(f"--cache {cache} holds {len(held_out):,} held-out applications, this run needs "
                         f"{needed(args):,}: lower --rps/--seconds or remove that folder")
    started = time.perf_counter()
    shutil.copyfile(cache / "graph.db", folder / "graph.db")
    # on disk before the runs: else the store's first checkpoint (its fsync) waits for the whole copy to be
    # written back (seconds at a million applications), a cost no deployed store has
    with open(folder / "graph.db", "rb+") as copied:
        os.fsync(copied.fileno())
    say(f"store copied from {cache} and synced in {time.perf_counter() - started:.1f} s")
    args.bundle_dir = cache / "bundles"
    return cache / (cache / "ready").read_text(encoding="utf-8"), held_out


def prepare(folder: Path, args: argparse.Namespace, held: int | None = None) -> tuple[Path, list[bytes]]:
    """Generate, ingest, detect rings, train; returns the scoring configuration and the held-out lines."""
    from fixtures.generator import generate
    from tianwang.ingest import ingest_file
    from tianwang.runtime import open_graph
    from tianwang.settings import load_settings

    held = held or needed(args)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    summary = generate(args.applications + held, args.seed, folder / "data")
    timings["generate_s"] = time.perf_counter() - started
    lines = summary.applications_path.read_bytes().splitlines()
    history_path = folder / "history.ndjson"
    history_path.write_bytes(b"\n".join(lines[:args.applications]) + b"\n")
    say(f"generated {len(lines):,} applications ({args.applications:,} for the store, {held:,} held out) "
        f"in {time.perf_counter() - started:.1f} s")

    settings = load_settings(db_path=folder / "graph.db", store="embedded", secret=SECRET)
    with open_graph(settings, "embedded") as store:
        started = time.perf_counter()
        report = ingest_file(history_path, store)
        timings["ingest_s"] = time.perf_counter() - started
        say(f"ingested {report.created:,} applications ({report.rejected} rejected) in "
            f"{time.perf_counter() - started:.1f} s ({report.per_second:,.0f}/s)")
        started = time.perf_counter()
        if args.fit == "bundle":
            config = train_bundle_for(folder, store, lines[:args.applications], summary.labels_path, args, timings)
        else:
            config = train(folder, store, history_path, summary.labels_path, args)
        timings["rings_and_models_s"] = time.perf_counter() - started
    (folder / "setup.json").write_text(orjson.dumps(timings).decode(), encoding="utf-8")
    return config, lines[args.applications:]


def train_bundle_for(folder: Path, store: Any, history: list[bytes], labels_path: Path,
                     args: argparse.Namespace, timings: dict[str, float] | None = None) -> Path:
    """Rings into the store, and one model bundle (``tianwang train``: every detector, the fusion
    weights, the ring GNN, the known-fraud index) fitted on the latest ``--train`` applications,
    which the server activates after it starts (``POST /v1/bundles/bench/activate``)."""
    from tianwang.backtest import read_labels
    from tianwang.rings.job import detect_rings
    from tianwang.service.bundles import train_bundle
    from tianwang.settings import load_settings

    labels = read_labels(labels_path)
    started = time.perf_counter()
    rings = detect_rings(store, labels={k: v.fraud for k, v in labels.items()})
    rings_s = time.perf_counter() - started
    say(f"rings: {len(rings.rings):,} detected over {rings.applicants:,} applicants in {rings_s:.1f} s")
    text = bundle_config_text()
    path = folder / "scoring.yaml"
    path.write_text(text, encoding="utf-8")
    train_path = folder / "train.ndjson"
    train_path.write_bytes(b"\n".join(history[-args.train:]) + b"\n")
    started = time.perf_counter()
    manifest = train_bundle(train_path, labels_path, folder / "bundles", name="bench", config_text=text,
                            settings=load_settings(db_path=folder / "train" / "graph.db", secret=SECRET))
    bundle_s = time.perf_counter() - started
    say(f"bundle 'bench' trained on the latest {manifest['metrics']['n_applications']:,} applications "
        f"in {bundle_s:.1f} s")
    if timings is not None:
        timings.update(rings_s=rings_s, bundle_s=bundle_s)
    return path


def bundle_config_text() -> str:
    """The scoring configuration of the benchmarks: the default one, rings read as detected (no refresh)."""
    from tianwang.scoring.config import DEFAULT_CONFIG_PATH

    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    config["detectors"]["fraud_ring"].setdefault("settings", {})["refresh_every"] = 0
    return yaml.safe_dump(config, sort_keys=False)


def train(folder: Path, store: Any, history_path: Path, labels_path: Path, args: argparse.Namespace) -> Path:
    """Rings into the store; GNN artifact and similarity index on disk; a configuration naming them."""
    from detectors.context import LabelledContext
    from detectors.gnn_ring import GnnRingDetector
    from detectors.known_fraud_similarity import KnownFraudSimilarityDetector
    from tianwang.backtest import read_labels
    from tianwang.rings.job import detect_rings
    from tianwang.scoring.config import DEFAULT_CONFIG_PATH

    labels = read_labels(labels_path)
    started = time.perf_counter()
    rings = detect_rings(store, labels={k: v.fraud for k, v in labels.items()})
    say(f"rings: {len(rings.rings):,} detected over {rings.applicants:,} applicants "
        f"in {time.perf_counter() - started:.1f} s")

    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    detectors = config["detectors"]
    window = timedelta(days=float(config.get("velocity_window_days", 7)))
    started = time.perf_counter()
    contexts = contexts_as_of_their_time(store, history_path, window, args.train)
    similarity = KnownFraudSimilarityDetector({**detectors["known_fraud_similarity"].get("settings", {}),
                                               "index_path": None})
    history: list[LabelledContext] = []
    for context in contexts:
        similarity.observe(context)
        label = labels.get(context.application_id)
        if label is not None:
            history.append(LabelledContext(context, label.fraud, label.typology))
    say(f"contexts of the latest {len(contexts):,} applications as of their own time "
        f"in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    index_path = folder / "similarity.index"
    similarity.fit(history)
    similarity.save(str(index_path))
    say(f"known-fraud index: {similarity.fit_details} in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    gnn_dir = folder / "gnn"
    gnn_settings = dict(detectors["gnn_ring"].get("settings") or {})
    gnn = GnnRingDetector({**gnn_settings, "save_to": str(gnn_dir), "epochs": args.gnn_epochs,
                           "num_threads": 2})
    gnn.fit(history)
    say(f"GNN trained on {len(history):,} applications in {time.perf_counter() - started:.1f} s")

    detectors["fraud_ring"].setdefault("settings", {})["refresh_every"] = 0
    detectors["known_fraud_similarity"].setdefault("settings", {})["index_path"] = str(index_path)
    detectors["gnn_ring"]["settings"] = {**gnn_settings, "artifact": str(gnn_dir)}
    path = folder / "scoring.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def contexts_as_of_their_time(store: Any, history_path: Path, window: timedelta, latest: int) -> list[Any]:
    """The scoring contexts of the ``latest`` applications of ``history_path`` (in time order), each
    built from the store as it stood when the application came (what ``tianwang similarity rebuild``
    does)."""
    from detectors.context import ApplicantResolver, build_context
    from tianwang.backtest import read_applications
    from tianwang.keys import personal_keys

    applications, _ = read_applications(history_path)
    ordered = sorted(applications, key=lambda a: (a.submitted_ts, a.application_id))[-latest:]
    applicants = ApplicantResolver()
    contexts = []
    for app in ordered:
        keys = personal_keys(app, store.keyer)
        context = build_context(app, store.keyer, keys=keys, view=store.as_of(app.submitted_ts), window=window,
                                applicants=applicants)
        applicants.remember(app.application_id, context.keys.id_hash)
        contexts.append(context)
    return contexts


# -- the server ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tianwang.cli", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, check=True)


def start_server(folder: Path, config: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str, str]:
    bundles = getattr(args, "bundle_dir", None) or folder / "bundles"
    store = getattr(args, "store", "embedded")  # neo4j: the server of TIANWANG_NEO4J_URI
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIANWANG_SECRET": SECRET,
           "TIANWANG_DB_PATH": str(folder / "graph.db"), "TIANWANG_STORE": store,
           "TIANWANG_SCORING_CONFIG": str(config), "TIANWANG_BUNDLE_DIR": str(bundles)}
    env.pop("TIANWANG_DATABASE_URL", None)
    if store == "embedded":
        env.pop("TIANWANG_NEO4J_URI", None)
    key = cli("keys", "create", "--client", "bench", "--role", "scorer", env=env).stdout.strip().splitlines()[-1]
    port = free_port()
    log = (folder / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "tianwang.cli", "serve", "--host", "127.0.0.1", "--port",
                               str(port), "--workers", str(args.workers)], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    deadline = time.monotonic() + args.start_timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"tianwang serve exited ({server.returncode}): "
                               f"{(folder / 'serve.log').read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                say(f"tianwang serve --workers {args.workers} answers on {base} after "
                    f"{time.perf_counter() - started:.1f} s")
                if args.fit == "bundle":
                    approver = cli("keys", "create", "--client", "bench-approver", "--role", "approver",
                                   env=env).stdout.strip().splitlines()[-1]
                    answer = httpx.post(f"{base}/v1/bundles/bench/activate", headers={"X-API-Key": approver},
                                        timeout=120)
                    answer.raise_for_status()
                    say(f"bundle 'bench' active: {answer.json().get('name')}")
                    if args.workers > 1:  # the other workers take the active bundle when they start
                        stop_server(server)
                        return start_server_again(folder, env, args, key)
                return server, base, key
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise RuntimeError(f"tianwang serve did not answer within {args.start_timeout} s")


def start_server_again(folder: Path, env: dict[str, str], args: argparse.Namespace,
                       key: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """Restart the server (every worker then loads the bundle active in the database)."""
    port = free_port()
    offset = (folder / "serve.log").stat().st_size
    log = (folder / "serve.log").open("ab")
    server = subprocess.Popen([sys.executable, "-m", "tianwang.cli", "serve", "--host", "127.0.0.1", "--port",
                               str(port), "--workers", str(args.workers)], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    deadline = started + args.start_timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"tianwang serve exited ({server.returncode})")
        try:
            with (folder / "serve.log").open("rb") as lines:
                lines.seek(offset)
                ready = lines.read().count(b'"message":"heap settled"')
            # every worker, not just the first, has loaded the bundle (each logs "heap settled" at the end
            # of its start): a worker still loading accepts no connection, and the load's keep-alive
            # connections would all go to the others
            if ready >= args.workers and httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                say(f"tianwang serve restarted with {args.workers} workers on {base}, all ready after "
                    f"{time.monotonic() - started:.1f} s")
                return server, base, key
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise RuntimeError(f"tianwang serve did not answer within {args.start_timeout} s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    from tianwang.workers import stop_process

    stop_process(server)


# -- the load ------------------------------------------------------------------------------
class Results:
    def __init__(self) -> None:
        self.latency_ms: list[float] = []  # from the scheduled time to the answer
        self.sent_ms: list[float] = []  # from the send to the answer (without the client's own delay)
        self.errors: Counter[str] = Counter()
        self.steps: dict[str, list[float]] = defaultdict(list)
        self.detector_ms: dict[str, list[float]] = defaultdict(list)
        self.votes: dict[str, Counter[str]] = defaultdict(Counter)
        self.why: dict[str, Counter[str]] = defaultdict(Counter)
        self.bands: Counter[str] = Counter()
        self.degraded = 0  # decided without the graph store (it did not answer in time)
        self.example: dict[str, Any] | None = None
        self.trace: list[tuple[float, float, float]] = []  # (scheduled s, latency ms, the service's total ms)

    def record(self, body: dict[str, Any]) -> None:
        for step, ms in (body.get("timings_ms") or {}).items():
            self.steps[step].append(float(ms))
        for vote in body.get("votes", []):
            name = vote.get("detector", "?")
            self.votes[name][vote.get("status", "?")] += 1
            if vote.get("ms") is not None:
                self.detector_ms[name].append(float(vote["ms"]))
            if vote.get("why"):
                self.why[name][str(vote["why"])[:100]] += 1
        for left in body.get("left_out", []):
            self.why[left.get("detector", "?")][f"left out: {left.get('why', '')}"[:100]] += 1
        self.bands[body.get("band", "?")] += 1
        self.degraded += body.get("degraded") is not None
        self.example = body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response: its status and body (uvicorn answers with a Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


async def run_load(base: str, key: str, lines: list[bytes], rps: float, seconds: float, drain: float,
                   results: Results | None, connections: int = 64) -> float:
    """Send ``lines`` at ``rps`` for ``seconds`` (open loop); returns the elapsed wall time.

    Each request is released at its scheduled time onto ``connections`` keep-alive
    connections; when all are busy it waits for one, and its latency counts from the
    scheduled time, so a queue anywhere is in the figures. The client is a few lines of
    HTTP/1.1 over asyncio streams: a general client (httpx) with thousands of requests
    pending spent a whole core of its own and became the bottleneck it was measuring.
    """
    n = min(len(lines), int(rps * seconds))
    host, port = base.removeprefix("http://").split(":")
    prefix = (f"POST {SCORE_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {key}\r\n"
              "Content-Type: application/json\r\nContent-Length: ").encode()
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05
    deadline = t0 + seconds + drain
    due: asyncio.Queue[int | None] = asyncio.Queue()

    def error(kind: str) -> None:
        if results is not None:
            results.errors[kind] += 1

    async def release() -> None:
        for i in range(n):
            await asyncio.sleep(max(0.0, t0 + i / rps - loop.time()))
            due.put_nowait(i)
        for _ in range(connections):
            due.put_nowait(None)

    async def connection() -> None:
        reader = writer = None
        while (i := await due.get()) is not None:
            scheduled, now = t0 + i / rps, loop.time()
            if now >= deadline:
                error("no answer in time")
                continue
            try:
                for attempt in (1, 2):
                    reused = writer is not None
                    if writer is None:
                        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)),
                                                                deadline - loop.time())
                    assert reader is not None and writer is not None
                    sent = loop.time()
                    writer.write(prefix + str(len(lines[i])).encode() + b"\r\n\r\n" + lines[i])
                    try:
                        status, body = await asyncio.wait_for(_read_response(reader), max(0.001, deadline - sent))
                        break
                    except (asyncio.IncompleteReadError, ConnectionError):
                        # the server closed a connection idle past its keep-alive (uvicorn: 5 s; at low rates
                        # each of the connections waits longer than that): send again on a new one, once
                        writer.close()
                        reader = writer = None
                        if not reused or attempt == 2:
                            raise
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                error("no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__)
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            done = loop.time()
            if results is None:
                continue
            if status not in (200, 201):
                results.errors[f"HTTP {status}"] += 1
                continue
            results.latency_ms.append((done - scheduled) * 1000)
            results.sent_ms.append((done - sent) * 1000)
            answer = orjson.loads(body)
            results.record(answer)
            results.trace.append((scheduled - t0, (done - scheduled) * 1000,
                                  float((answer.get("timings_ms") or {}).get("total", 0.0))))
        if writer is not None:
            writer.close()

    tasks = [asyncio.create_task(release())] + [asyncio.create_task(connection()) for _ in range(connections)]
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline + drain - loop.time()))
    for task in pending:
        task.cancel()
    if results is not None:  # released too late, or cut off by the last bound
        missing = n - len(results.latency_ms) - sum(results.errors.values())
        if missing > 0:
            results.errors["no answer in time"] += missing
    return loop.time() - t0


def cpu_seconds(server: subprocess.Popen[bytes]) -> tuple[float, ...]:
    """CPU seconds (user + system) used so far by the server's processes, by this one, then by
    each of the server's processes."""
    import psutil

    def used(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    root = psutil.Process(server.pid)
    each = []
    for process in [root, *root.children(recursive=True)]:
        try:
            each.append(used(process))
        except psutil.NoSuchProcess:
            each.append(0.0)
    return sum(each), used(psutil.Process()), *each


def report(results: Results, elapsed: float, args: argparse.Namespace, sent: int,
           cpu: tuple[float, ...] = (0.0, 0.0)) -> int:
    def line(name: str, values: list[float]) -> str:
        if not values:
            return f"{name:>24}: -"
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return f"{name:>24}: p50 {p50:7.2f}  p95 {p95:7.2f}  p99 {p99:7.2f}  max {max(values):8.2f} ms"

    ok = len(results.latency_ms)
    throughput = ok / elapsed if elapsed > 0 else 0.0
    print()
    print(f"POST {SCORE_PATH}: {sent:,} sent at {args.rps:g}/s for {args.seconds:g} s, {ok:,} answered, "
          f"{sum(results.errors.values()):,} errors {dict(results.errors) or ''}")
    print(f"achieved throughput: {throughput:,.1f} decisions/s over {elapsed:.1f} s "
          f"(store: {args.applications:,} applications; {args.workers} worker(s); {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f})")
    if ok:
        print(f"CPU per answered request: server {cpu[0] / ok * 1000:.2f} ms, this load generator "
              f"{cpu[1] / ok * 1000:.2f} ms ({cpu[0] / elapsed:.2f} and {cpu[1] / elapsed:.2f} of "
              f"{os.cpu_count()} cores; each server process: "
              f"{', '.join(f'{c / elapsed:.2f}' for c in cpu[2:])})")
    print(line("latency (scheduled)", results.latency_ms))
    print(line("latency (as sent)", results.sent_ms))
    print("the service's own time per step (timings_ms):")
    for step, values in sorted(results.steps.items(), key=lambda kv: -float(np.percentile(kv[1], 99))):
        print(line(step, values))
    print("each detector's own time:")
    for name, values in sorted(results.detector_ms.items(), key=lambda kv: -float(np.percentile(kv[1], 99))):
        print(line(name, values))
    print("detectors (status counts over the measured responses):")
    missing = []
    for name in sorted(set(results.votes) | set(results.why)):
        statuses = dict(results.votes.get(name, {}))
        print(f"{name:>24}: {statuses}" + (f"  why: {dict(results.why[name].most_common(2))}"
                                           if name in results.why else ""))
    for name in REQUIRED:
        if results.votes.get(name, Counter())["ok"] < max(1, ok // 2):
            missing.append(name)
    print(f"bands: {dict(results.bands)}")
    p99 = float(np.percentile(results.latency_ms, 99)) if results.latency_ms else float("inf")
    # open loop: the load is sustained when every request sent at --rps is answered (the achieved
    # figure above also counts the last answers' latency in its time, so it stays just under --rps)
    met = p99 <= 50.0 and args.rps >= 200.0 and ok == sent and not results.errors
    print(f"target p99 <= 50 ms at >= 200/s, every request answered: {'met' if met else 'MISSED'} "
          f"(p99 {p99:.1f} ms; {ok:,} of {sent:,} sent at {args.rps:g}/s answered)")
    if missing:
        print(f"REQUIRED DETECTORS NOT VOTING in most responses: {', '.join(missing)}")
        return 1
    print(f"required detectors voting: {', '.join(REQUIRED)}")
    return 0


def profile(folder: Path, config: Path, lines: list[bytes], n: int) -> None:
    """In this process, the server stopped: time per request through HTTP (TestClient), the service
    (``score_application``) and the pipeline alone, ``n`` new applications each; then cProfile of ``n``
    ``score_application`` calls, the top functions by cumulative and by own time."""
    import cProfile
    import pstats

    from fastapi.testclient import TestClient

    from api.app import create_app
    from tianwang.service import open_service
    from tianwang.service.scoring import score_application
    from tianwang.settings import load_settings

    settings = load_settings(db_path=folder / "graph.db", store="embedded", secret=SECRET, scoring_config=config)
    service = open_service(settings)
    key = service.accounts.create_key("bench-profile", ["scorer"])[0]
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    chunks = [lines[i * n:(i + 1) * n] for i in range(4)]
    print(f"\nprofile, in process ({n} new applications per line, nothing else running in this process):")
    try:
        with TestClient(create_app(service=service)) as client:
            def http(raw: bytes) -> None:
                response = client.post(SCORE_PATH, content=raw, headers=headers)
                assert response.status_code in (200, 201), response.status_code

            for name, chunk, call in (("HTTP (TestClient)", chunks[0], http),
                                      ("score_application", chunks[1], lambda raw: score_application(service, raw)),
                                      ("pipeline.score", chunks[2], service.runtime.pipeline.score)):
                started = time.perf_counter()
                for raw in chunk:
                    call(raw)
                print(f"{name:>24}: {(time.perf_counter() - started) / max(1, len(chunk)) * 1000:7.2f} ms each")
        profiler = cProfile.Profile()  # the service call: TestClient runs the app in a thread cProfile misses
        profiler.enable()
        for raw in chunks[3]:
            score_application(service, raw)
        profiler.disable()
    finally:
        service.close()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=100_000, help="applications in the store")
    parser.add_argument("--rps", type=float, default=200.0, help="requests per second to send")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to wait for answers after the last send")
    parser.add_argument("--warmup", type=int, default=300, help="requests sent (at --rps) before measuring")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--train", type=int, default=20_000, help="latest applications the GNN and index learn from")
    parser.add_argument("--gnn-epochs", type=int, default=30, help="with --fit parts")
    parser.add_argument("--fit", choices=("bundle", "parts"), default="bundle",
                        help="bundle: train one model bundle (tianwang train) and activate it in the server; "
                             "parts: only the ring GNN and the known-fraud index, named in the configuration")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--db-dir", type=Path, default=None, help="where the temporary folder goes")
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    parser.add_argument("--trace", type=Path, default=None, metavar="CSV",
                        help="write each measured request's scheduled time, latency and service time")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="prepare the store, rings and models once into DIR and start later runs with the "
                             "same --applications, --seed, --train, --fit and shipped scoring configuration from "
                             "a copy of it")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="afterwards, time N requests in process per layer and cProfile N more")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    tmp = tempfile.mkdtemp(prefix="tianwang-http-bench-", dir=args.db_dir)
    folder = Path(tmp)
    server = None
    try:
        config, held_out = prepare_cached(folder, args) if args.cache else prepare(folder, args)
        server, base, key = start_server(folder, config, args)
        warm, measured = held_out[:args.warmup], held_out[args.warmup:]
        if warm:
            asyncio.run(run_load(base, key, warm, args.rps, len(warm) / args.rps, args.drain, None))
            say(f"warmed up with {len(warm):,} requests")
        results = Results()
        sent = min(len(measured), int(args.rps * args.seconds))
        before = cpu_seconds(server)
        elapsed = asyncio.run(run_load(base, key, measured, args.rps, args.seconds, args.drain, results))
        used = tuple(after - b for after, b in zip(cpu_seconds(server), before, strict=True))
        status = report(results, elapsed, args, sent, used)
        if args.trace:
            args.trace.write_text("scheduled_s,latency_ms,service_total_ms\n" + "".join(
                f"{a:.4f},{b:.2f},{c:.2f}\n" for a, b, c in sorted(results.trace)), encoding="utf-8")
            say(f"each request's timing written to {args.trace}")
        stop_server(server)
        server = None
        if args.profile:
            profile(folder, config, measured[sent:], args.profile)
        return status
    finally:
        if server is not None:
            stop_server(server)
        if args.keep:
            say(f"kept {folder}")
        else:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
