"""Moving a graph to a new personal-data secret: an application's keys again, and a new embedded file.

HMAC is one way: the keys of a new secret need the raw values. Given them (from the
vault, or from the original application), :func:`rekeyed_row` maps one stored
application under the new secret through :func:`~graph_schema.mapping.application_row`,
checks that the old secret gives exactly the stored content hash (so the
raw values are the ones the store was keyed from), and returns the new row and the
pairs ``(label code, old key, new key)`` of its personal keys.

:class:`EmbeddedRekeyWriter` writes a new embedded store from an old one: node ids,
relationships, rings and every non-personal key stay as they are; the keys of
``Person``, ``Phone``, ``Address`` and ``BankAccount`` nodes, each application's record
(its ``*_hash`` fields), content hash and ``applicant_key``, and the secret's
fingerprint become the new secret's. The old file is only read (under its write lock,
so nothing writes to it meanwhile); the new one is written beside its final name and
renamed into place once its counts match the old one's.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.mapping import ApplicationRow, application_row
from graph_schema.schema import NODE_TYPES, Label
from tianwang.application import Application
from tianwang.errors import StoreError
from tianwang.keys import personal_keys
from tianwang.privacy import PersonalDataKeyer

__all__ = ["KEYED_LABELS", "EmbeddedRekeyWriter", "RekeyMismatchError", "StoredApplication", "rekeyed_row",
           "restored_application"]

#: the labels whose keys are HMACs of personal data
KEYED_LABELS: tuple[Label, ...] = (Label.PERSON, Label.PHONE, Label.ADDRESS, Label.BANK_ACCOUNT)
_KEYED_CODES = tuple(NODE_TYPES[label].code for label in KEYED_LABELS)
_APPLICATION_CODE = NODE_TYPES[Label.APPLICATION].code
_PERSON, _PHONE, _ADDRESS, _BANK_ACCOUNT = _KEYED_CODES

StoredApplication = tuple[int, str, float, str, str, str]
"""``(node id, application id, submitted_at, dealer id, content hash, record JSON)`` as the embedded store
keeps an application."""

_APPLICANT_RAW = {"id_number": "id_hash", "name": None, "phone": "phone_hash",
                  "id_registered_phone": "id_registered_phone_hash", "address": "address_hash",
                  "bank_account": "account_hash"}


class RekeyMismatchError(StoreError):
    """The raw values given for an application do not give the record the store holds under the old secret."""


def restored_application(record: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """The application as it was sent: the stored (redacted) ``record`` with the raw ``fields`` (schema path
    -> value, :func:`tianwang.vault.personal_fields`) put back and the keys taken out.

    Raises
    ------
    KeyError
        Naming the first masked field ``fields`` lacks (by path).
    """
    app = orjson.loads(orjson.dumps(record))
    applicant = app["applicant"]
    for name, key_field in _APPLICANT_RAW.items():
        if key_field is not None:
            applicant.pop(key_field, None)
        if applicant.get(name) is not None:
            applicant[name] = fields[f"applicant.{name}"]
    for i, contact in enumerate(applicant.get("emergency_contacts") or []):
        contact.pop("phone_hash", None)
        contact["name"] = fields[f"applicant.emergency_contacts[{i}].name"]
        contact["phone"] = fields[f"applicant.emergency_contacts[{i}].phone"]
    vehicle = app.get("vehicle") or {}
    vehicle.pop("user_id_hash", None)
    if vehicle.get("user_id_number") is not None:
        vehicle["user_id_number"] = fields["vehicle.user_id_number"]
    return app


def rekeyed_row(app: Application, stored: StoredApplication, old: PersonalDataKeyer, new: PersonalDataKeyer,
                ) -> tuple[ApplicationRow, list[tuple[int, str, str]]]:
    """``app``'s row under ``new`` and its personal keys' ``(label code, old key, new key)``.

    The stored content hash is the old secret's HMAC of the whole application as it was
    sent (raw values included): ``app`` giving it again proves these are the raw values
    the store was keyed from.

    Raises
    ------
    RekeyMismatchError
        When ``app`` under ``old`` does not give the ``stored`` content hash.
    """
    if old.key("application", app.model_dump_json()) != stored[4]:
        raise RekeyMismatchError(f"application {stored[1]!r}: the raw values given do not give the stored "
                                 "application under the current secret")
    before, after = personal_keys(app, old), personal_keys(app, new)
    pairs = [(_PERSON, before.id_hash, after.id_hash), (_PHONE, before.phone_hash, after.phone_hash),
             (_ADDRESS, before.address_hash, after.address_hash)]
    if before.registered_phone_hash is not None and after.registered_phone_hash is not None:
        pairs.append((_PHONE, before.registered_phone_hash, after.registered_phone_hash))
    if before.account_hash is not None and after.account_hash is not None:
        pairs.append((_BANK_ACCOUNT, before.account_hash, after.account_hash))
    if before.vehicle_user_hash is not None and after.vehicle_user_hash is not None:
        pairs.append((_PERSON, before.vehicle_user_hash, after.vehicle_user_hash))
    pairs.extend((_PHONE, a, b) for a, b in zip(before.contact_hashes, after.contact_hashes, strict=True))
    return application_row(app, new, after), pairs


class EmbeddedRekeyWriter:
    """A new embedded store at ``target`` from the one at ``source``, under the keyer ``new``.

    Use: :meth:`applications` to read the old applications, :meth:`add` for each batch of
    rekeyed ones, then :meth:`finish` (or :meth:`abandon`). Nothing is at ``target`` until
    :meth:`finish` has checked the counts; the old file is never written.
    """

    def __init__(self, source: Path, target: Path, old: PersonalDataKeyer, new: PersonalDataKeyer, *,
                 lock_timeout: float = 30.0) -> None:
        self.source, self.target = Path(source), Path(target)
        if not self.source.is_file():
            raise StoreError(f"no embedded store at {self.source}")
        if self.target.exists():
            raise StoreError(f"{self.target} exists: rekey writes a new store, never over one")
        self.partial = self.target.with_name(self.target.name + ".partial")
        for leftover in (self.partial, *(self.partial.with_name(self.partial.name + s) for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
        # the old store: its write lock held until the end, so no write slips in while it is copied
        self._lock = sqlite3.connect(self.source, timeout=lock_timeout, isolation_level=None)
        try:
            self._lock.execute("BEGIN IMMEDIATE")
            row = self._lock.execute("SELECT value FROM store_meta WHERE key = 'keyer_fingerprint'").fetchone()
        except sqlite3.OperationalError as exc:
            self._lock.close()
            raise StoreError(f"cannot lock the store at {self.source} ({exc}): stop the service and every "
                             "ingest first; rekey runs offline") from None
        if row is not None and row[0] != old.fingerprint():
            self._lock.close()
            raise StoreError(f"the store at {self.source} is keyed under another secret than TIANWANG_SECRET "
                             f"(fingerprint {row[0]}, TIANWANG_SECRET's {old.fingerprint()})")
        EmbeddedGraphStore(self.partial, new).close()  # the schema, at the current migration
        self._db = sqlite3.connect(self.partial, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")  # the file is renamed into place only when whole
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA temp_store=FILE")
        self._db.execute("ATTACH DATABASE ? AS old", (str(self.source),))
        self._db.execute("CREATE TEMP TABLE key_map (label INTEGER NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL,"
                         " PRIMARY KEY (label, old)) WITHOUT ROWID")
        self._db.execute("BEGIN")
        self.new = new
        self.written = 0

    def applications(self, batch_size: int = 2000) -> Iterator[list[StoredApplication]]:
        """The old store's applications in batches, in the order they were written."""
        last = -1
        while True:
            rows = self._db.execute(
                "SELECT node_id, application_id, submitted_at, dealer_id, content_hash, record FROM old.applications"
                " WHERE node_id > ? ORDER BY node_id LIMIT ?", (last, batch_size)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield rows

    def stored(self, application_ids: list[str]) -> dict[str, StoredApplication]:
        """The old store's applications among ``application_ids``."""
        out: dict[str, StoredApplication] = {}
        for start in range(0, len(application_ids), 900):
            chunk = application_ids[start:start + 900]
            for row in self._db.execute(
                    "SELECT node_id, application_id, submitted_at, dealer_id, content_hash, record FROM "
                    f"old.applications WHERE application_id IN ({','.join('?' * len(chunk))})", chunk):
                out[row[1]] = row
        return out

    def add(self, rekeyed: list[tuple[StoredApplication, ApplicationRow]], pairs: list[tuple[int, str, str]]) -> None:
        """Write a batch of rekeyed applications (each with its old stored form) and their keys' pairs."""
        self._db.executemany("INSERT INTO applications (node_id, application_id, submitted_at, dealer_id,"
                             " content_hash, record) VALUES (?, ?, ?, ?, ?, ?)",
                             [(old[0], row.application_id, old[2], old[3], row.content_hash, row.record_json)
                              for old, row in rekeyed])
        self._db.executemany("INSERT INTO nodes (id, label, key, props) VALUES (?, ?, ?, ?)",
                             [(old[0], _APPLICATION_CODE, row.application_id, row.properties) for old, row in rekeyed])
        self._db.executemany("INSERT INTO key_map VALUES (?, ?, ?) ON CONFLICT (label, old) DO NOTHING", pairs)
        self.written += len(rekeyed)

    def key_map(self) -> sqlite3.Connection:
        """The connection holding ``temp.key_map`` (label code, old key, new key): for the records beside."""
        return self._db

    def finish(self) -> dict[str, int]:
        """Copy every other node (keyed ones under their new keys) and every relationship, record the new
        fingerprint, check the counts against the old store, and rename the new file into place.

        Returns the counts (``applications``, ``nodes``, ``relationships``).

        Raises
        ------
        StoreError
            When an application was not added, a keyed node has no new key, or a count differs (nothing is
            put in place then).
        """
        db = self._db
        expected = {
            "applications": db.execute("SELECT COUNT(*) FROM old.applications").fetchone()[0],
            "nodes": db.execute("SELECT COUNT(*) FROM old.nodes").fetchone()[0],
            "relationships": db.execute("SELECT COUNT(*) FROM old.edges").fetchone()[0],
        }
        if self.written != expected["applications"]:
            raise StoreError(f"{expected['applications'] - self.written:,} applications were not rekeyed")
        keyed = ",".join(str(c) for c in _KEYED_CODES)
        unmapped = db.execute(f"SELECT COUNT(*) FROM old.nodes n WHERE n.label IN ({keyed}) AND NOT EXISTS"
                              " (SELECT 1 FROM key_map m WHERE m.label = n.label AND m.old = n.key)").fetchone()[0]
        if unmapped:
            raise StoreError(f"{unmapped:,} personal nodes belong to no rekeyed application: the store is "
                             "inconsistent, not rekeyed")
        db.execute("INSERT INTO nodes (id, label, key, props) SELECT n.id, n.label, COALESCE(m.new, n.key), n.props"
                   f" FROM old.nodes n LEFT JOIN key_map m ON m.label = n.label AND m.old = n.key"
                   f" WHERE n.label != {_APPLICATION_CODE} ORDER BY n.id")
        db.execute("INSERT INTO edges (src, type, dst, at) SELECT src, type, dst, at FROM old.edges ORDER BY src, type,"
                   " dst")
        db.execute("INSERT OR REPLACE INTO store_meta SELECT key, value FROM old.store_meta"
                   " WHERE key != 'keyer_fingerprint'")
        db.execute("INSERT OR REPLACE INTO store_meta VALUES ('keyer_fingerprint', ?)", (self.new.fingerprint(),))
        got = {
            "applications": db.execute("SELECT COUNT(*) FROM main.applications").fetchone()[0],
            "nodes": db.execute("SELECT COUNT(*) FROM main.nodes").fetchone()[0],
            "relationships": db.execute("SELECT COUNT(*) FROM main.edges").fetchone()[0],
        }
        if got != expected:
            raise StoreError(f"the new store's counts {got} differ from the old one's {expected}")
        db.execute("COMMIT")
        db.execute("DETACH DATABASE old")
        db.execute("PRAGMA journal_mode=WAL")
        db.close()
        self._lock.execute("ROLLBACK")
        self._lock.close()
        with open(self.partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.partial, self.target)
        return got

    def abandon(self) -> None:
        """Give up: the partial file is removed, the old store's lock released."""
        for connection in (self._db, self._lock):
            with contextlib.suppress(sqlite3.Error):
                connection.close()
        for leftover in (self.partial, *(self.partial.with_name(self.partial.name + s) for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
