"""Signed webhooks from a durable outbox: ``decision.finalized`` to the approval system.

Events are written to the ``webhook_outbox`` table in the same transaction as the change
they announce (:func:`enqueue`), so an event is never lost nor sent for a change that
rolled back. :class:`WebhookSender`, a background thread the service starts, posts due
events to ``TIANWANG_WEBHOOK_URL``: delivered once a receiver answers 2xx; otherwise
retried with exponential backoff (``backoff_base * 2**(attempts-1)``, capped) and
``dead`` after ``max_attempts``. Without a URL events stay ``pending``;
:func:`backlog` counts them (for ``/metrics``). Each event is claimed before it is sent,
so two senders (several workers) do not post it at the same time; a receiver must still
dedupe on the event id, since a crash between its 2xx and our commit sends it again.

What a receiver gets
--------------------
``POST`` with a JSON body (the event: ``id``, ``type``, ``created_at``, ``data``; no
personal value) and the headers

* ``Tianwang-Event-Id``: the event id (dedupe on it),
* ``Tianwang-Timestamp``: Unix seconds when this attempt was signed,
* ``Tianwang-Signature``: ``v1=<hex>`` per secret, comma-separated, where ``<hex>`` is
  ``HMAC-SHA256(secret, f"{timestamp}.{body}")`` over the raw body bytes. During a
  rotation ``TIANWANG_WEBHOOK_SECRETS`` holds the new and the old secret and each
  request carries both signatures, so a receiver holding either accepts it.

A receiver checks with :func:`verify_signature`::

    ok = verify_signature([b"my secret"], request.headers["Tianwang-Timestamp"], raw_body,
                          request.headers["Tianwang-Signature"], tolerance=300)

It compares in constant time and refuses timestamps more than ``tolerance`` seconds
away from its clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tianwang.ids import new_id
from tianwang.opsdb.models import OutboxEvent, utcnow
from tianwang.service import Service
from tianwang.settings import Settings

__all__ = ["SenderOptions", "WebhookSender", "backlog", "enqueue", "sign", "verify_signature"]

log = logging.getLogger(__name__)


def enqueue(session: Session, event_type: str, data: dict[str, Any]) -> OutboxEvent:
    """Add an event to the outbox in ``session`` (sent once the transaction commits)."""
    now = utcnow()
    event_id = new_id("evt")
    payload = {"id": event_id, "type": event_type, "created_at": now.isoformat(), "data": data}
    row = OutboxEvent(id=event_id, event_type=event_type, payload=payload, created_at=now, status="pending",
                      attempts=0, next_attempt_at=now)
    session.add(row)
    return row


def _digest(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secrets: Sequence[bytes], timestamp: int | str, body: bytes) -> str:
    """The ``Tianwang-Signature`` header: ``v1=<hex>`` for each secret, comma-separated.

    >>> sign([b"k1"], 1700000000, b"{}").startswith("v1=")
    True
    """
    return ",".join(f"v1={_digest(s, str(timestamp), body)}" for s in secrets)


def verify_signature(secrets: Iterable[bytes | str], timestamp: str | int, body: bytes | str, header: str,
                     tolerance: float = 300, *, now: float | None = None) -> bool:
    """Whether ``header`` holds a ``v1`` signature of ``timestamp.body`` by one of ``secrets``,
    and ``timestamp`` is within ``tolerance`` seconds of ``now`` (default: the clock).

    >>> verify_signature([b"new", b"old"], 1700000000, b"{}", sign([b"old"], 1700000000, b"{}"), now=1700000010)
    True
    >>> verify_signature([b"other"], 1700000000, b"{}", sign([b"old"], 1700000000, b"{}"), now=1700000010)
    False
    """
    try:
        ts = int(str(timestamp))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    given = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    for secret in secrets:
        expected = _digest(secret.encode() if isinstance(secret, str) else secret, str(ts), raw)
        if any(hmac.compare_digest(expected, g) for g in given):
            return True
    return False


def backlog(session: Session) -> int:
    """Events waiting for delivery (``pending``)."""
    return int(session.scalar(select(func.count()).select_from(OutboxEvent)
                              .where(OutboxEvent.status == "pending")) or 0)


@dataclass(frozen=True, slots=True)
class SenderOptions:
    """How the sender polls and retries (seconds); put one in ``service.extras["webhook_options"]``
    before the application starts to change them."""

    poll_interval: float = 2.0
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    max_attempts: int = 12
    timeout: float = 10.0
    batch: int = 50
    #: how long a claimed event is left to its sender before another may take it
    lease: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SenderOptions:
        """The options ``TIANWANG_WEBHOOK_BACKOFF_SECONDS``, ``_MAX_ATTEMPTS`` and ``_TIMEOUT_SECONDS`` set."""
        return cls(backoff_base=settings.webhook_backoff_seconds, max_attempts=settings.webhook_max_attempts,
                   timeout=settings.webhook_timeout_seconds)


class WebhookSender:
    """Posts due outbox events in a background thread (see the module docstring).

    :meth:`deliver_due` does one pass and may be called directly; :meth:`start` runs it
    every ``poll_interval`` seconds until :meth:`stop`.
    """

    def __init__(self, service: Service, options: SenderOptions | None = None) -> None:
        self.service = service
        self.options = options or SenderOptions.from_settings(service.settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=self.options.timeout)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.timeout + 5)
            self._thread = None
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception as exc:  # the loop must outlive a database hiccup
                log.warning("webhook pass failed", extra={"error": type(exc).__name__})
            self._stop.wait(self.options.poll_interval)

    def _claim(self, now: datetime) -> list[OutboxEvent]:
        """The due events, each claimed for ``lease`` seconds by a conditional update."""
        claimed = []
        with self.service.ops.session() as session:
            due = list(session.scalars(select(OutboxEvent).where(OutboxEvent.status == "pending",
                                                                 OutboxEvent.next_attempt_at <= now)
                                       .order_by(OutboxEvent.next_attempt_at, OutboxEvent.id)
                                       .limit(self.options.batch)))
            for event in due:
                result = session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id == event.id, OutboxEvent.status == "pending",
                           OutboxEvent.next_attempt_at == event.next_attempt_at)
                    .values(next_attempt_at=now + timedelta(seconds=self.options.lease))
                    .execution_options(synchronize_session=False))
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(event)
        return claimed

    def deliver_due(self) -> int:
        """Post every due event once; return how many were delivered."""
        url = self.service.settings.webhook_url
        if not url or self._stop.is_set():
            return 0
        delivered = 0
        for event in self._claim(utcnow()):
            delivered += self._send(url, event)
        return delivered

    def _send(self, url: str, event: OutboxEvent) -> int:
        body = orjson.dumps(event.payload)
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "Tianwang-Event-Id": event.id,
                   "Tianwang-Timestamp": timestamp,
                   "Tianwang-Signature": sign(self.service.settings.webhook_secret_list, timestamp, body)}
        status: int | None = None
        error: str | None = None
        try:
            status = self._client.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        ok = status is not None and 200 <= status < 300
        now = utcnow()
        with self.service.ops.session() as session:
            row = session.get(OutboxEvent, event.id)
            if row is None or row.status != "pending":
                return 0
            row.attempts += 1
            row.last_status = status
            row.last_error = error if not ok else None
            if ok:
                row.status, row.delivered_at = "delivered", now
            elif row.attempts >= self.options.max_attempts:
                row.status = "dead"
            else:
                delay = min(self.options.backoff_max, self.options.backoff_base * 2 ** (row.attempts - 1))
                row.next_attempt_at = now + timedelta(seconds=delay)
            log.info("webhook attempt", extra={"event_id": row.id, "status": status, "error": error,
                                               "attempts": row.attempts, "outcome": row.status})
        return int(ok)
