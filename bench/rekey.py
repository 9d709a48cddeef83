"""Rekey benchmark: how long ``tianwang rekey`` takes to move an embedded store to a new secret.

    python bench/rekey.py [--applications 100000] [--seed 11] [--vault-share 1.0] [--batch-size 2000] [--keep DIR]

Set-up (timed apart, not part of the figure, in this process): generate the applications,
ingest them into an embedded store, and seal their personal fields into the vault of a
SQLite operational database as scoring does (``--vault-share`` of them; the rest are found
in the generated NDJSON, given as ``--source``). Then the figure, in a fresh process (so
that its peak memory is its own): :func:`tianwang.service.rekey.rekey_embedded` end to end
(reading the old store, opening the vault entries, checking every application under the
old secret, keying it under the new one, writing the new store and its scoring records,
the counts checked, the file renamed into place), with its CPU time, its peak memory and
the load average around it: on a shared machine the rate depends on what else runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from sqlalchemy import insert

from fixtures.generator import generate
from graph_schema.embedded import EmbeddedGraphStore
from tianwang.application import parse_application
from tianwang.ingest import ingest_file
from tianwang.opsdb import OpsDB
from tianwang.opsdb.models import VaultEntry
from tianwang.privacy import PersonalDataKeyer
from tianwang.service.rekey import rekey_embedded
from tianwang.service.vault import vault_rows
from tianwang.vault import Vault

OLD_SECRET = b"tianwang-bench-secret-0123456789abcdef"
NEW_SECRET = b"tianwang-bench-new-secret-0123456789abcdef"
VAULT = Vault([("bench", b"\x11" * 32)])


def seal(source: Path, ops: OpsDB, share: float, batch: int = 5000) -> tuple[int, int]:
    """Seal the personal fields of the first ``share`` of the applications in ``source``; (applications, entries)."""
    with source.open("rb") as handle:
        total = sum(1 for _ in handle)
    wanted = round(total * share)
    apps = entries = 0
    rows: list[dict[str, object]] = []
    handle = source.open("rb")
    for line in handle:
        if apps == wanted:
            break
        rows.extend(vault_rows(VAULT, parse_application(orjson.loads(line))))
        apps += 1
        if len(rows) >= batch:
            with ops.engine.begin() as connection:
                connection.execute(insert(VaultEntry), rows)
            entries += len(rows)
            rows = []
    handle.close()
    if rows:
        with ops.engine.begin() as connection:
            connection.execute(insert(VaultEntry), rows)
        entries += len(rows)
    return apps, entries


def _peak_rss_mb() -> float:
    """This process image's peak resident memory (``VmHWM``: ``ru_maxrss`` would count the parent's, kept
    across the fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(folder: Path, share: float, batch_size: int) -> None:
    """The figure: rekey the store set up in ``folder``."""
    live, source = folder / "live", folder / "data" / "applications.ndjson"
    ops = OpsDB(f"sqlite:///{live / 'operations.db'}")
    load_before = os.getloadavg()[0]
    before = os.times()
    report = rekey_embedded(live / "graph.db", folder / "rekeyed", PersonalDataKeyer(OLD_SECRET),
                            PersonalDataKeyer(NEW_SECRET), ops=ops, vault=VAULT,
                            sources=[source] if share < 1 else (), batch_size=batch_size)
    after = os.times()
    ops.close()
    cpu = after.user + after.system - before.user - before.system
    peak_mb = _peak_rss_mb()
    size_mb = (folder / "rekeyed" / "graph.db").stat().st_size / 1e6
    print(f"rekey: {report.applications:,} applications ({report.from_vault:,} from the vault, "
          f"{report.from_source:,} from the source file) in {report.seconds:.1f} s = "
          f"{report.applications / report.seconds:,.0f} applications/s; {report.counts['nodes']:,} nodes, "
          f"{report.counts['relationships']:,} relationships, new graph.db {size_mb:,.0f} MB; CPU {cpu:.1f} s, "
          f"peak memory {peak_mb:,.0f} MB, load {load_before:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--vault-share", type=float, default=1.0,
                        help="Share of the applications with vault entries; the rest come from --source.")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="Work in this folder (kept) instead of a temporary one.")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure_only:
        measure(args.keep, args.vault_share, args.batch_size)
        return
    with tempfile.TemporaryDirectory(prefix="tianwang-rekey-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        data, live = folder / "data", folder / "live"
        started = time.perf_counter()
        generate(args.applications, args.seed, data)
        source = data / "applications.ndjson"
        generated = time.perf_counter()
        with EmbeddedGraphStore(live / "graph.db", PersonalDataKeyer(OLD_SECRET)) as store:
            ingest_file(source, store)
        ingested = time.perf_counter()
        ops = OpsDB(f"sqlite:///{live / 'operations.db'}")
        apps, entries = seal(source, ops, args.vault_share)
        ops.close()
        sealed = time.perf_counter()
        print(f"set-up: {args.applications:,} applications generated in {generated - started:.0f} s, ingested in "
              f"{ingested - generated:.0f} s, {apps:,} sealed into {entries:,} vault entries in "
              f"{sealed - ingested:.0f} s", flush=True)
        subprocess.run([sys.executable, __file__, "--measure-only", "--keep", str(folder), "--vault-share",
                        str(args.vault_share), "--batch-size", str(args.batch_size)], check=True)


if __name__ == "__main__":
    main()
