"""decision.finalized webhooks: signed, retried across a receiver's outage, delivered exactly once."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from tests import builders
from tests.api.conftest import ROLES
from tianwang.opsdb.models import OutboxEvent, utcnow
from tianwang.service import Service, open_service
from tianwang.service.webhooks import SenderOptions, WebhookSender, backlog, sign, verify_signature
from tianwang.settings import load_settings

FAST = SenderOptions(poll_interval=0.05, backoff_base=0.1, backoff_max=0.5, max_attempts=20, timeout=2.0)


class Receiver:
    """An approval system's webhook endpoint on loopback: down (503) for the first ``down_for`` requests,
    then up; it checks the signature with its own secrets and dedupes on the event id."""

    def __init__(self, secrets: list[bytes], down_for: int = 0) -> None:
        self.secrets, self.down_for = secrets, down_for
        self.requests = 0
        self.accepted: Counter[str] = Counter()  # event id -> deliveries accepted
        self.duplicates = 0
        self.bad_signatures = 0
        self.bodies: dict[str, dict] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                if receiver.requests <= receiver.down_for:
                    self.send_response(503)
                elif not verify_signature(receiver.secrets, self.headers["Tianwang-Timestamp"], body,
                                          self.headers["Tianwang-Signature"]):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                else:
                    event_id = self.headers["Tianwang-Event-Id"]
                    if event_id in receiver.accepted:
                        receiver.duplicates += 1
                    receiver.accepted[event_id] += 1
                    receiver.bodies[event_id] = json.loads(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/tianwang"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator:
    opened: list[Service] = []

    def make(url: str | None, secrets: str = "whsec-new-0123456789", options: SenderOptions = FAST) -> Service:
        settings = load_settings(db_path=tmp_path / f"g{len(opened)}.db", store="embedded", webhook_url=url,
                                 webhook_secrets=secrets)
        svc = open_service(settings, ops_url=f"sqlite:///{tmp_path / f'o{len(opened)}.db'}")
        svc.extras["webhook_options"] = options
        opened.append(svc)
        return svc

    yield make
    for svc in opened:
        svc.close()


def _close_a_review_case(client: TestClient, keys: dict[str, dict[str, str]], n: int = 1) -> dict:
    app = builders.application(n, **{"applicant.monthly_income": 24000})
    decision = client.post("/v1/applications/score", content=orjson.dumps(app), headers=keys["scorer"]).json()
    assert decision["band"] == "review" and decision["status"] == "pending"
    closed = client.post(f"/v1/cases/{decision['case_id']}/close",
                         json={"outcome": "confirmed_fraud", "typology": "synthetic_identity"},
                         headers=keys["investigator"])
    assert closed.status_code == 200, closed.text
    return {**decision, "event_id": closed.json()["event_id"]}


def _keys(service: Service) -> dict[str, dict[str, str]]:
    return {role: {"X-API-Key": service.accounts.create_key(f"client-{role}", [role])[0]} for role in ROLES}


def _wait(condition, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_closed_case_is_delivered_once_across_a_receiver_outage(make_service):
    receiver = Receiver([b"whsec-new-0123456789"], down_for=3)
    service = make_service(receiver.url)
    try:
        with TestClient(create_app(service=service)) as client:
            keys = _keys(service)
            decision = _close_a_review_case(client, keys)
            event_id = decision["event_id"]
            _wait(lambda: receiver.accepted[event_id] >= 1)
            time.sleep(0.5)  # several more polls: nothing is sent again
            assert receiver.requests == 4  # three refused while down, then one delivery
            assert receiver.accepted == Counter({event_id: 1}) and receiver.duplicates == 0
            assert receiver.bad_signatures == 0
            with service.ops.session() as session:
                row = session.get(OutboxEvent, event_id)
                assert (row.status, row.attempts, row.last_status) == ("delivered", 4, 204)
                assert backlog(session) == 0

            body = receiver.bodies[event_id]
            assert body["id"] == event_id and body["type"] == "decision.finalized"
            assert body["data"] == {
                "decision_id": decision["decision_id"], "application_id": "APP-000001",
                "case_id": decision["case_id"], "final_action": "reject", "outcome": "confirmed_fraud",
                "typology": "synthetic_identity", "finalized_at": body["data"]["finalized_at"],
                "verification_tasks": [t["task"] for t in decision["action"]["verification_tasks"]],
                "hold_funding": decision["action"]["hold_funding"]}
            raw = builders.application(1)["applicant"]
            assert not any(raw[f] in json.dumps(body, ensure_ascii=False)
                           for f in ("phone", "id_number", "bank_account", "name", "address"))

            final = client.get(f"/v1/decisions/{decision['decision_id']}", headers=keys["scorer"]).json()
            assert final["status"] == "finalized" and final["final_action"] == "reject"
            assert final["finalized_at"] == body["data"]["finalized_at"]
    finally:
        receiver.close()


def test_backoff_grows_and_an_unreachable_receiver_makes_the_event_dead(make_service):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    options = SenderOptions(backoff_base=0.0, max_attempts=3, timeout=1.0)
    service = make_service(f"http://127.0.0.1:{closed_port}/hook", options=options)
    with TestClient(create_app(service=service)) as client:
        service.extras.pop("webhook_sender").stop()  # this test drives the sender by hand
        event_id = _close_a_review_case(client, _keys(service))["event_id"]
    sender = WebhookSender(service, options)
    try:
        for attempt in (1, 2, 3):
            assert sender.deliver_due() == 0
            with service.ops.session() as session:
                row = session.get(OutboxEvent, event_id)
                assert row.attempts == attempt and row.last_error == "ConnectError" and row.last_status is None
        assert row.status == "dead"
        assert sender.deliver_due() == 0  # a dead event is not tried again
    finally:
        sender.stop()

    slow = WebhookSender(service, SenderOptions(backoff_base=10.0))
    with service.ops.session() as session:
        row = session.get(OutboxEvent, event_id)
        row.status, row.next_attempt_at = "pending", utcnow()
    try:
        slow.deliver_due()
        with service.ops.session() as session:
            row = session.get(OutboxEvent, event_id)
            delay = (row.next_attempt_at - utcnow()).total_seconds()
        assert row.attempts == 4 and 10 * 2 ** 3 - 5 < delay <= 10 * 2 ** 3  # base * 2 ** (attempts - 1)
    finally:
        slow.stop()


def test_without_a_url_events_wait_in_the_outbox(make_service):
    service = make_service(None)
    with TestClient(create_app(service=service)) as client:
        keys = _keys(service)
        _close_a_review_case(client, keys, 1)
        _close_a_review_case(client, keys, 2)
        time.sleep(0.2)
        with service.ops.session() as session:
            assert backlog(session) == 2
            assert all(e.attempts == 0 for e in session.scalars(select(OutboxEvent)))


def test_signature_rotation_with_two_secrets(make_service):
    """During a rotation the sender signs with the new and the old secret: a receiver holding
    either accepts the event, one holding neither refuses it."""
    old_only = Receiver([b"whsec-old-0123456789"])
    service = make_service(old_only.url, secrets="whsec-new-0123456789,whsec-old-0123456789")
    try:
        with TestClient(create_app(service=service)) as client:
            event_id = _close_a_review_case(client, _keys(service))["event_id"]
            _wait(lambda: old_only.accepted[event_id] == 1)
    finally:
        old_only.close()
    assert old_only.bad_signatures == 0

    body, ts = b'{"id":"evt_1"}', int(time.time())
    header = sign([b"whsec-new-0123456789", b"whsec-old-0123456789"], ts, body)
    assert header.count("v1=") == 2
    assert verify_signature([b"whsec-new-0123456789"], ts, body, header)
    assert verify_signature([b"whsec-old-0123456789"], str(ts), body.decode(), header)
    assert not verify_signature([b"whsec-other-0123456789"], ts, body, header)
    assert not verify_signature([b"whsec-new-0123456789"], ts, body + b" ", header)  # body changed
    assert not verify_signature([b"whsec-new-0123456789"], ts, body, header, now=ts + 301)  # replayed late
    assert not verify_signature([b"whsec-new-0123456789"], "not a time", body, header)


def test_sender_options_come_from_the_settings(service):
    from tianwang.service.webhooks import SenderOptions, WebhookSender

    service.settings.webhook_backoff_seconds = 1.5
    service.settings.webhook_max_attempts = 3
    sender = WebhookSender(service)
    sender.stop()
    assert (sender.options.backoff_base, sender.options.max_attempts) == (1.5, 3)
    assert SenderOptions().max_attempts == 12
