"""Moving an embedded deployment to a new personal-data secret (``TIANWANG_SECRET``), offline.

Everything keyed by the secret is rewritten into a new folder, never in place: the
graph (keys of persons, phones, addresses and accounts, each application's record,
content hash and ``applicant_key``, the fingerprint; :mod:`graph_schema.rekey`) and the
scoring records beside it (watchlist keys of identity numbers, phones and accounts;
the document index's identities; the decision log as it is). HMAC is one way, so the
new keys are computed from the raw values: the vault's entries
(:mod:`tianwang.service.vault`) first, then the original applications of ``sources``
(NDJSON) for those without. Each application's raw values are checked against the
store under the old secret before anything is keyed under the new one.

Refused, with counts and nothing written, when some applications can be rekeyed from
nothing, or (unless ``drop_unmapped_watchlist``) some watchlist entries name values no
application holds (their raw value is not kept anywhere).

The operational database is not touched: it keeps applications by id and personal
values only sealed (the vault's ciphertexts are bound to application ids and fields,
not to the secret). Login tokens and sessions are signed with the secret: after the
swap people log in again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from graph_schema.mapping import ApplicationRow
from graph_schema.rekey import (
    EmbeddedRekeyWriter,
    RekeyMismatchError,
    StoredApplication,
    rekeyed_row,
    restored_application,
)
from graph_schema.schema import NODE_TYPES, Label
from tianwang.application import parse_application
from tianwang.errors import ApplicationValidationError, StoreError, TianwangError
from tianwang.opsdb import OpsDB
from tianwang.opsdb.models import VaultEntry
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring.outbox import GraphOutbox, outbox_path
from tianwang.scoring.persistence import ScoringRecords, scoring_db_path
from tianwang.vault import Sealed, Vault, VaultIntegrityError, VaultKeyMissingError

__all__ = ["RekeyRefusedError", "RekeyReport", "rekey_embedded"]

#: watchlist kinds keyed like graph nodes, and the label whose keys they share
_WATCHLIST_LABELS = {"id": Label.PERSON, "phone": Label.PHONE, "account": Label.BANK_ACCOUNT}
#: how many ids of a kind a refusal names
_NAMED = 5


@dataclass
class RekeyReport:
    """What :func:`rekey_embedded` did (or found, when refused)."""

    applications: int = 0
    from_vault: int = 0
    from_source: int = 0
    #: applications with neither complete vault entries nor a line in the sources
    missing: list[str] = field(default_factory=list)
    #: applications whose vault entries or source line do not give the stored record (ids)
    mismatched: list[str] = field(default_factory=list)
    #: vault entries that did not open (key missing from TIANWANG_VAULT_KEYS, or damaged)
    unopened_entries: int = 0
    source_lines: int = 0
    source_bad_lines: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    watchlist: int = 0
    watchlist_unmapped: int = 0
    documents: int = 0
    documents_unmapped: int = 0
    decisions: int = 0
    seconds: float = 0.0

    def refusal(self) -> str:
        """Why the rekey was refused, with counts and the first ids."""
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing):,} of {self.applications:,} applications cannot be rekeyed: no "
                         f"complete vault entries and not in --source (first: {', '.join(self.missing[:_NAMED])})")
        if self.mismatched:
            parts.append(f"{len(self.mismatched):,} applications' raw values do not give the stored record under "
                         f"the current secret (first: {', '.join(self.mismatched[:_NAMED])})")
        if self.unopened_entries:
            parts.append(f"{self.unopened_entries:,} vault entries did not open (a key missing from "
                         "TIANWANG_VAULT_KEYS, or damaged)")
        if self.watchlist_unmapped:
            parts.append(f"{self.watchlist_unmapped:,} watchlist entries name a value no application holds (its raw "
                         "value is kept nowhere): add them again after the swap, and pass --drop-unmapped-watchlist")
        return "; ".join(parts)


class RekeyRefusedError(TianwangError):
    """The rekey was refused; nothing was written. ``report`` says why, with counts."""

    def __init__(self, report: RekeyReport) -> None:
        self.report = report
        super().__init__(f"rekey refused, nothing written: {report.refusal()}")


Progress = Callable[[str, int], None]


def _opened_entries(ops: OpsDB, vault: Vault, application_ids: list[str], report: RekeyReport,
                    ) -> dict[str, dict[str, str]]:
    """``{application id: {field: raw value}}`` from the vault for ``application_ids``."""
    out: dict[str, dict[str, str]] = {}
    with ops.session() as session:
        for start in range(0, len(application_ids), 500):
            chunk = application_ids[start:start + 500]
            rows = session.execute(select(VaultEntry.application_id, VaultEntry.field, VaultEntry.key_id,
                                          VaultEntry.nonce, VaultEntry.ciphertext)
                                   .where(VaultEntry.application_id.in_(chunk)))
            for application_id, path, key_id, nonce, ciphertext in rows:
                try:
                    value = vault.open(application_id, path, Sealed(key_id, bytes(nonce), bytes(ciphertext)))
                except (VaultKeyMissingError, VaultIntegrityError):
                    report.unopened_entries += 1
                    continue
                out.setdefault(application_id, {})[path] = value
    return out


def _source_lines(sources: Iterable[Path], wanted: dict[str, None], report: RekeyReport,
                  ) -> Iterable[tuple[str, dict[str, Any]]]:
    """``(application id, application)`` of the source lines whose id is in ``wanted``."""
    for path in sources:
        with open(path, "rb") as handle:
            for line in handle:
                line = line.strip().removeprefix(b"\xef\xbb\xbf")
                if not line:
                    continue
                report.source_lines += 1
                try:
                    obj = orjson.loads(line)
                    application_id = obj["application_id"]
                except (orjson.JSONDecodeError, TypeError, KeyError):
                    report.source_bad_lines += 1
                    continue
                if isinstance(application_id, str) and application_id in wanted:
                    yield application_id, obj


def _rekey_records(writer: EmbeddedRekeyWriter, old_records: Path, new_records: Path, new: PersonalDataKeyer,
                   report: RekeyReport, *, drop_unmapped_watchlist: bool) -> None:
    """The scoring records beside the store (``scoring.db``) under the new keys, into ``new_records``."""
    ScoringRecords.open(new_records, new).close()  # the schema
    if not old_records.exists():
        return
    db = writer.key_map()
    db.execute("COMMIT")  # SQLite attaches files between transactions only; the new graph is not in place yet
    db.execute("ATTACH DATABASE ? AS old_records", (str(old_records),))
    db.execute("ATTACH DATABASE ? AS new_records", (str(new_records),))
    db.execute("BEGIN")
    try:
        labels = " ".join(f"WHEN '{kind}' THEN {NODE_TYPES[label].code}" for kind, label in _WATCHLIST_LABELS.items())
        join = (f" FROM old_records.watchlist w LEFT JOIN key_map m ON m.label = CASE w.kind {labels} END"
                " AND m.old = w.key")
        keyed = ", ".join(f"'{kind}'" for kind in _WATCHLIST_LABELS)
        report.watchlist_unmapped = db.execute(
            f"SELECT COUNT(*){join} WHERE w.kind IN ({keyed}) AND m.new IS NULL").fetchone()[0]
        if report.watchlist_unmapped and not drop_unmapped_watchlist:
            raise RekeyRefusedError(report)
        columns = [row[1] for row in db.execute("PRAGMA old_records.table_info(watchlist)") if row[1] != "key"]
        names = ", ".join(columns)
        db.execute(f"INSERT INTO new_records.watchlist (key, {names}) SELECT COALESCE(m.new, w.key), "
                   f"{', '.join('w.' + c for c in columns)}{join} WHERE w.kind NOT IN ({keyed}) OR m.new IS NOT NULL")
        report.watchlist = db.execute("SELECT COUNT(*) FROM new_records.watchlist").fetchone()[0]
        person = NODE_TYPES[Label.PERSON].code
        db.execute("INSERT INTO new_records.document_uses (sha256, id_hash, at) SELECT d.sha256, m.new, d.at"
                   f" FROM old_records.document_uses d JOIN key_map m ON m.label = {person} AND m.old = d.id_hash")
        report.documents = db.execute("SELECT COUNT(*) FROM new_records.document_uses").fetchone()[0]
        report.documents_unmapped = (db.execute("SELECT COUNT(*) FROM old_records.document_uses").fetchone()[0]
                                     - report.documents)
        has_log = db.execute("SELECT 1 FROM old_records.sqlite_master WHERE name = 'decisions'").fetchone()
        if has_log:
            db.execute("INSERT INTO new_records.decisions (seq, application_id, decided_at, record)"
                       " SELECT seq, application_id, decided_at, record FROM old_records.decisions")
            report.decisions = db.execute("SELECT COUNT(*) FROM new_records.decisions").fetchone()[0]
    finally:
        db.execute("COMMIT")
        db.execute("DETACH DATABASE old_records")
        db.execute("DETACH DATABASE new_records")
        db.execute("BEGIN")


def rekey_embedded(source: Path, target_dir: Path, old: PersonalDataKeyer, new: PersonalDataKeyer, *,
                   ops: OpsDB | None = None, vault: Vault | None = None, sources: Sequence[Path] = (),
                   batch_size: int = 2000, drop_unmapped_watchlist: bool = False,
                   progress: Progress | None = None) -> RekeyReport:
    """Write the embedded store at ``source`` and its scoring records, under ``new``, into ``target_dir``.

    Parameters
    ----------
    source : Path
        The old store's ``graph.db`` (its ``scoring.db`` beside it). Only read, under its write lock.
    target_dir : Path
        A new or empty folder: ``graph.db`` and ``scoring.db`` are written there.
    old, new : PersonalDataKeyer
        The current secret's keyer and the new one's.
    ops, vault : optional
        The operational database and the vault holding the raw values.
    sources : sequence of Path
        NDJSON files of the original applications, for those without vault entries.
    progress : callable, optional
        ``progress(stage, n)`` after each batch: ``("vault", n)``, ``("source", n)``.

    Raises
    ------
    RekeyRefusedError
        See the module's docstring; nothing is left in ``target_dir`` then.
    StoreError
        The old store is in use (its write lock), keyed under another secret, or inconsistent.
    """
    started = time.perf_counter()
    if old.fingerprint() == new.fingerprint():
        raise StoreError("the new secret is the current one: nothing to rekey")
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    records_target = scoring_db_path(target)
    if records_target.exists():
        raise StoreError(f"{records_target} exists: rekey writes into a new or empty folder")
    waiting = outbox_path(scoring_db_path(source))
    if waiting.exists():
        box = GraphOutbox(waiting)
        try:
            queued = box.summary()
        finally:
            box.close()
        if queued["pending"] or queued["conflicts"]:
            waiting_count = queued["pending"] + queued["conflicts"]
            raise StoreError(f"{waiting_count} application(s) wait in the graph outbox ({waiting}), keyed under "
                             "the old secret: drain it first (tianwang outbox --drain), then rekey")
    records_partial = records_target.with_name(records_target.name + ".partial")
    records_partial.unlink(missing_ok=True)
    report = RekeyReport()
    writer = EmbeddedRekeyWriter(source, target, old, new)
    try:
        pending: dict[str, None] = {}
        for batch in writer.applications(batch_size):
            report.applications += len(batch)
            opened = (_opened_entries(ops, vault, [row[1] for row in batch], report)
                      if ops is not None and vault is not None else {})
            done: list[tuple[StoredApplication, ApplicationRow]] = []
            pairs: list[tuple[int, str, str]] = []
            for stored in batch:
                fields = opened.get(stored[1])
                try:
                    if fields is None:
                        raise KeyError("no vault entry")
                    app = parse_application(restored_application(orjson.loads(stored[5]), fields))
                    row, keys = rekeyed_row(app, stored, old, new)
                except (KeyError, ApplicationValidationError, RekeyMismatchError) as exc:
                    if isinstance(exc, RekeyMismatchError | ApplicationValidationError):
                        report.mismatched.append(stored[1])
                    pending[stored[1]] = None
                    continue
                done.append((stored, row))
                pairs.extend(keys)
            writer.add(done, pairs)
            report.from_vault += len(done)
            if progress is not None:
                progress("vault", len(batch))
        if pending and sources:
            lines = _source_lines(sources, pending, report)
            while pending:
                chunk = [item for _, item in zip(range(batch_size), lines, strict=False)]
                if not chunk:
                    break
                stored_rows = writer.stored([application_id for application_id, _ in chunk])
                done, pairs = [], []
                for application_id, obj in chunk:
                    if application_id not in pending:  # a repeated line
                        continue
                    stored = stored_rows[application_id]
                    try:
                        row, keys = rekeyed_row(parse_application(obj), stored, old, new)
                    except (ApplicationValidationError, RekeyMismatchError):
                        report.mismatched.append(application_id)
                        continue
                    del pending[application_id]
                    done.append((stored, row))
                    pairs.extend(keys)
                writer.add(done, pairs)
                report.from_source += len(done)
                if progress is not None:
                    progress("source", len(chunk))
        report.mismatched = [a for a in dict.fromkeys(report.mismatched) if a in pending]  # the source may have it
        mismatched = set(report.mismatched)
        report.missing = [a for a in pending if a not in mismatched]
        if pending:
            raise RekeyRefusedError(report)
        _rekey_records(writer, source.with_name("scoring.db"), records_partial, new, report,
                       drop_unmapped_watchlist=drop_unmapped_watchlist)
        report.counts = writer.finish()
    except BaseException:
        writer.abandon()
        for leftover in (records_partial, records_partial.with_name(records_partial.name + "-wal"),
                         records_partial.with_name(records_partial.name + "-shm")):
            leftover.unlink(missing_ok=True)
        raise
    _checkpoint(records_partial)
    records_partial.replace(records_target)
    report.seconds = time.perf_counter() - started
    return report


def _checkpoint(path: Path) -> None:
    """Fold ``path``'s write-ahead log into it, so the file alone is whole before it is renamed."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()
