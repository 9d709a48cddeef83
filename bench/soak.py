"""Soak: a served deployment under steady mixed traffic, with a batch ring detection in the middle.

    python bench/soak.py [--seconds 1800] [--rate 20] [--applications 12000]

Generates applications (``fixtures.workbench``), ingests the first half as history with
its rings, starts ``tianwang serve`` (one worker) and, at ``--rate`` requests a second for
``--seconds``, sends the rest to be scored (70 %) mixed with verdicts on scored
applications (10 %), case work — take the next case and close it — (10 %), and ring
queries (10 %); half-way, an analyst runs ring detection (``POST /v1/rings/refresh``).
It samples the server's memory every few seconds. At the end it checks:

* no error answer (every request answered 2xx);
* the server's anonymous memory grew by at most ``--max-growth-mb`` between the end of
  the first quarter and the end (the warm-up and the first ring run allocate what they
  keep; the embedded store's SQLite page cache, up to ``TIANWANG_SQLITE_CACHE_MB`` (64 MiB)
  per connection, fills as the graph is read and counts here). File-backed pages (the
  store's memory map, which the kernel reclaims under pressure) are reported, not bounded;
* the graph holds the history plus every application scored, each once.

It prints the figures and exits 1 if a check fails. ``tests/bench/test_soak.py`` runs a
three-minute version in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# run as a script, this file's folder comes first on sys.path, where bench/http.py would shadow the
# standard library's ``http`` package: put the repository root there instead
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

SECRET = "tianwang-soak-secret-0123456789abcdef"


@dataclass
class SoakReport:
    seconds: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)
    """(seconds, anonymous MB): what the growth bound applies to."""
    file_mb: list[tuple[float, float]] = field(default_factory=list)
    """(seconds, file-backed MB): the store's mapped pages, reported."""
    native_mb: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """pool -> (seconds, MB) from ``tianwang_native_memory_bytes``: SQLite's allocator, glibc heap in use / free."""
    history: int = 0
    scored: int = 0
    stored: int = 0
    growth_mb: float = 0.0
    max_growth_mb: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors and self.stored == self.history + self.scored and self.growth_mb <= self.max_growth_mb

    def summary(self) -> str:
        def p(values: list[float], q: float) -> float:
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

        lines = [f"soak: {self.seconds:.0f} s, {sum(self.requests.values()):,} requests, "
                 f"{len(self.errors)} errors"]
        for kind, n in sorted(self.requests.items()):
            lat = self.latency_ms.get(kind, [])
            lines.append(f"  {kind:<16} {n:>7,}  p50 {p(lat, 0.5):7.1f} ms  p99 {p(lat, 0.99):7.1f} ms  "
                         f"max {max(lat, default=0):7.1f} ms")
        first, last = (self.rss_mb[0][1], self.rss_mb[-1][1]) if self.rss_mb else (0.0, 0.0)
        lines.append(f"  memory (anonymous): {first:.0f} MB after start, {last:.0f} MB at the end, growth after the "
                     f"first quarter {self.growth_mb:+.0f} MB (bound {self.max_growth_mb:.0f} MB; the embedded "
                     "store's page cache, 64 MiB per connection, counts here)")
        def by_tenth(samples: list[tuple[float, float]]) -> str:  # the curve: a plateau or a slope
            return " ".join(f"{min(samples, key=lambda s: abs(s[0] - self.seconds * k / 10))[1]:.0f}"
                            for k in range(11))

        if self.rss_mb:
            lines.append("  anonymous MB by tenth of the run: " + by_tenth(self.rss_mb))
        for pool, samples in sorted(self.native_mb.items()):
            lines.append(f"  native {pool} MB by tenth: " + by_tenth(samples))
        if self.file_mb:
            lines.append(f"  memory (file-backed, the store's mapped pages): {self.file_mb[0][1]:.0f} MB after start, "
                         f"{self.file_mb[-1][1]:.0f} MB at the end")
        lines.append(f"  graph: {self.stored:,} applications stored = {self.history:,} history + "
                     f"{self.scored:,} scored: {'yes' if self.stored == self.history + self.scored else 'NO'}")
        lines.extend(f"  error: {e}" for e in self.errors[:10])
        lines.append(f"soak {'passed' if self.ok else 'FAILED'}")
        return "\n".join(lines)


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def _rss_mb(pid: int) -> tuple[float, float]:
    """The server's (and its workers') resident memory: anonymous, and file-backed (the embedded store's
    memory-mapped pages, which the kernel takes back under pressure), in MB."""
    import psutil

    root = psutil.Process(pid)
    anon = files = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            anon += _status_kb(process.pid, "RssAnon")
            files += _status_kb(process.pid, "RssFile") + _status_kb(process.pid, "RssShmem")
    return anon / 1e3, files / 1e3


def _sample_native(client: Any, elapsed: float, report: SoakReport) -> None:
    """Read the server's native memory pools from ``/metrics`` (not counted as traffic)."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = client.get("/metrics")
    if answer.status_code != 200:
        return
    for family in text_string_to_metric_families(answer.text):
        if family.name == "tianwang_native_memory_bytes":
            for sample in family.samples:
                report.native_mb.setdefault(sample.labels["pool"], []).append((elapsed, sample.value / 1e6))


def run_soak(seconds: float, rate: float, applications: int, max_growth_mb: float = 256.0,
             folder: Path | None = None, seed: int = 13) -> SoakReport:
    """Run the soak; the report says what happened (see the module docstring)."""
    import httpx

    from fixtures.workbench import prepare_workbench, serve_workbench
    from tianwang.runtime import open_graph
    from tianwang.settings import load_settings

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="tianwang-soak-") as tmp:
        where = folder or Path(tmp)
        data = prepare_workbench(where, secret=SECRET, applications=applications, history_share=0.5, score=False)
        lines = [line for line in (where / "data" / "applications.ndjson").read_bytes().splitlines() if line.strip()]
        waiting = lines[data.history:]
        report = SoakReport(history=data.history, max_growth_mb=max_growth_mb)
        scored_ids: list[str] = []
        with serve_workbench(where, secret=SECRET) as served:
            server_pid = served.pid
            client = httpx.Client(base_url=served.base, headers={"X-API-Key": data.admin_key}, timeout=60)

            def call(kind: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
                started = time.perf_counter()
                try:
                    answer = client.request(method, path, **kwargs)
                except httpx.HTTPError as exc:
                    report.errors.append(f"{kind}: {type(exc).__name__}")
                    return None
                report.requests[kind] += 1
                report.latency_ms.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
                if answer.status_code >= 400:
                    report.errors.append(f"{kind}: {answer.status_code} {answer.text[:200]}")
                return answer

            started = time.monotonic()
            next_at = started
            refreshed = False
            last_sample = 0.0
            while time.monotonic() - started < seconds:
                now = time.monotonic()
                if now < next_at:
                    time.sleep(next_at - now)
                next_at += 1.0 / rate
                elapsed = time.monotonic() - started
                if elapsed - last_sample >= 3.0:
                    anon, files = _rss_mb(server_pid)
                    report.rss_mb.append((elapsed, anon))
                    report.file_mb.append((elapsed, files))
                    _sample_native(client, elapsed, report)
                    last_sample = elapsed
                if not refreshed and elapsed >= seconds / 2:
                    call("ring detection", "POST", "/v1/rings/refresh")
                    refreshed = True
                    continue
                roll = rng.random()
                if roll < 0.7 or not scored_ids:
                    if not waiting:
                        continue
                    answer = call("score", "POST", "/v1/applications/score", content=waiting.pop(0))
                    if answer is not None and answer.status_code in (200, 201):
                        scored_ids.append(answer.json()["application_id"])
                        report.scored += 1
                elif roll < 0.8:
                    application_id = rng.choice(scored_ids)
                    fraud = rng.random() < 0.2
                    call("verdict", "POST", "/v1/verdicts", json={"application_id": application_id, "fraud": fraud,
                                                                   "typology": "identity_theft" if fraud else None})
                elif roll < 0.9:
                    taken = call("take next case", "POST", "/v1/cases/next")
                    if taken is not None and taken.status_code == 200 and taken.content and taken.json():
                        call("close case", "POST", f"/v1/cases/{taken.json()['case_id']}/close",
                             json={"outcome": "false_positive", "note": "soak"})
                else:
                    rings = call("rings", "GET", "/v1/rings", params={"limit": 20})
                    if rings is not None and rings.status_code == 200 and rings.json()["data"]:
                        ring_id = rng.choice(rings.json()["data"])["ring_id"]
                        call("ring", "GET", f"/v1/rings/{ring_id}")
            report.seconds = time.monotonic() - started
            anon, files = _rss_mb(server_pid)
            report.rss_mb.append((report.seconds, anon))
            report.file_mb.append((report.seconds, files))
            client.close()
        quarter = [mb for at, mb in report.rss_mb if at >= report.seconds / 4]
        report.growth_mb = (report.rss_mb[-1][1] - quarter[0]) if quarter else 0.0
        with open_graph(load_settings(db_path=where / "graph.db", store="embedded", secret=SECRET),
                        "embedded") as graph:
            report.stored = graph.counts().nodes.get("Application", 0)
        return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1800.0)
    parser.add_argument("--rate", type=float, default=20.0, help="requests a second")
    parser.add_argument("--applications", type=int, default=80_000,
                        help="generated; half are history, the rest are sent (enough for the run)")
    parser.add_argument("--max-growth-mb", type=float, default=256.0)
    args = parser.parse_args()
    report = run_soak(args.seconds, args.rate, args.applications, args.max_growth_mb)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
