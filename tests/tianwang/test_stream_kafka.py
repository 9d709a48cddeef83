"""The event stream against a real Kafka broker (KRaft, one node, scripts/kafka-dev.sh): 3,000 applications
published, the graph writer (``tianwang stream consume``, a real process) killed with SIGKILL mid-stream and
started again; every application is in the embedded graph exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from fixtures.generator import generate
from graph_schema.schema import NODE_TYPES, Label
from tianwang.stream.publisher import EventPublisher, publish_file

pytestmark = [pytest.mark.slow, pytest.mark.kafka]
ROOT = Path(__file__).resolve().parents[2]
N = 3000
BAD = [b"{not json", b'{"application_id": "APP-BAD-1"}', b"[]"]
_APPLICATION = NODE_TYPES[Label.APPLICATION].code


def _stored(db: Path) -> tuple[int, int]:
    """Application nodes in the embedded store, and how many distinct ids they have."""
    if not db.exists():
        return 0, 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        try:
            total, distinct = connection.execute(
                "SELECT COUNT(*), COUNT(DISTINCT key) FROM nodes WHERE label = ?", (_APPLICATION,)).fetchone()
        except sqlite3.OperationalError:  # the consumer is still creating the tables
            return 0, 0
    return int(total), int(distinct)


def _dead_letters(bootstrap: str, topic: str) -> list[bytes]:
    """Every message of a dead-letter topic (each with its reason in a header)."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(set(values)) < len(BAD) and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=100, timeout=1.0):
                if message.error() is None:
                    assert dict(message.headers() or [])["tianwang.reason"]
                    values.append(message.value() or b"")
    finally:
        consumer.close()
    return values


def test_a_consumer_killed_mid_stream_and_restarted_leaves_every_application_in_the_graph_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    generate(N, 11, tmp_path / "data")
    applications = tmp_path / "data" / "applications.ndjson"
    topic = f"tianwang.applications.test-{uuid.uuid4().hex[:8]}"
    with EventPublisher(kafka_bootstrap) as publisher:
        for bad in BAD:  # what another publisher might send: never written, never lost
            publisher.publish(topic, None, bad)
        published = publish_file(applications, publisher, topic=topic)
    assert (published.published, published.rejected) == (N, 0)

    db = tmp_path / "graph" / "graph.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIANWANG_DB_PATH": str(db), "TIANWANG_STORE": "embedded"}
    command = [sys.executable, "-m", "tianwang.cli", "--log-level", "INFO", "stream", "consume",
               "--bootstrap", kafka_bootstrap, "--topic", topic, "--group", f"graph-writer-{topic}",
               "--batch-size", "100", "--dead-letter-topic", f"{topic}.dead-letter"]

    first_log = tmp_path / "first.log"
    with open(first_log, "wb") as log:
        first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while _stored(db)[0] < 500:
            assert first.poll() is None, f"the consumer exited early:\n{first_log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the consumer wrote nothing:\n{first_log.read_text()[-3000:]}"
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait(30)
    assert first.returncode == -signal.SIGKILL
    at_kill = _stored(db)[0]
    assert at_kill < N, "the consumer had written everything before it was killed: not a mid-stream kill"

    second = subprocess.run([*command, "--idle-exit", "8"], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    done = re.search(r"(\d+) messages in \d+ batches, (\d+) new, (\d+) unchanged, (\d+) rejected",
                     " ".join(second.stdout.split()))
    assert done is not None, second.stdout
    messages, new, unchanged, rejected = map(int, done.groups())
    print(f"killed with {at_kill} of {N} applications in the graph; the restarted consumer read {messages} "
          f"messages: {new} new, {unchanged} already stored (read again), {rejected} rejected")

    assert _stored(db) == (N, N)
    assert new == N - at_kill
    dead = _dead_letters(kafka_bootstrap, f"{topic}.dead-letter")
    assert sorted(set(dead)) == sorted(BAD), "every bad message is in the dead-letter topic"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        stored = {key for (key,) in connection.execute("SELECT key FROM nodes WHERE label = ?", (_APPLICATION,))}
    assert stored == {json.loads(line)["application_id"] for line in applications.read_bytes().splitlines()}
