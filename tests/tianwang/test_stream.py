"""The stream's consumer loop without a broker: batches written before their offsets are committed,
a consumer killed between the two read again without duplicates, bad messages dead-lettered; and the
command line's messages when the client or the brokers are missing.

The same loop against a real Kafka broker, killed with SIGKILL mid-stream: tests/tianwang/test_stream_kafka.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixtures.generator import generate
from graph_schema.mapping import ApplicationRow
from graph_schema.store import GraphStore
from graph_schema.values import BulkUpsertResult
from tianwang.cli import app
from tianwang.stream import StreamMessage, consume_applications

TOPIC = "tianwang.applications"


class Killed(BaseException):
    """What the fake source raises to stand for SIGKILL: nothing after it runs."""


class FakeSource:
    """One partition in memory, read from the group's committed offset; ``kill_at_commit`` dies instead of
    committing the n-th batch (after the batch was written)."""

    def __init__(self, log: list[StreamMessage], group: dict[int, int], events: list[str],
                 kill_at_commit: int | None = None) -> None:
        self.log, self.group, self.events, self.kill_at_commit = log, group, events, kill_at_commit
        self.position = group.get(0, 0)
        self.commits = 0

    def poll_batch(self, max_messages: int, timeout: float) -> list[StreamMessage]:
        batch = self.log[self.position:self.position + max_messages]
        self.position += len(batch)
        return batch

    def has_partitions(self) -> bool:
        return True

    def commit(self, next_offsets: dict[tuple[str, int], int]) -> None:
        self.commits += 1
        if self.commits == self.kill_at_commit:
            raise Killed
        self.events.append(f"commit {next_offsets[(TOPIC, 0)]}")
        self.group[0] = next_offsets[(TOPIC, 0)]


class RecordingStore:
    """A store that notes each write in ``events`` before handing it on."""

    def __init__(self, store: GraphStore, events: list[str]) -> None:
        self.store, self.events = store, events
        self.keyer = store.keyer

    def write_rows(self, rows: list[ApplicationRow]) -> BulkUpsertResult:
        result = self.store.write_rows(rows)
        self.events.append(f"write {len(rows)}")
        return result


class ListSink:
    def __init__(self) -> None:
        self.sent: list[tuple[StreamMessage, str]] = []
        self.flushed = 0

    def send(self, message: StreamMessage, reason: str) -> None:
        self.sent.append((message, reason))

    def flush(self) -> None:
        self.flushed = len(self.sent)


def _messages(values: list[bytes | None]) -> list[StreamMessage]:
    return [StreamMessage(TOPIC, 0, offset, None, value) for offset, value in enumerate(values)]


@pytest.fixture(scope="module")
def applications(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("stream-data")
    generate(120, 11, folder)
    return (folder / "applications.ndjson").read_bytes().splitlines()


def test_each_batch_is_written_before_its_offsets_are_committed(store: GraphStore, applications: list[bytes]) -> None:
    events: list[str] = []
    group: dict[int, int] = {}
    report = consume_applications(FakeSource(_messages(list(applications)), group, events),
                                  RecordingStore(store, events), batch_size=50, idle_seconds=0, poll_seconds=0)
    assert events == ["write 50", "commit 50", "write 50", "commit 100", "write 20", "commit 120"]
    assert (report.messages, report.created, report.unchanged, report.rejected, report.batches) == (120, 120, 0, 0, 3)
    assert store.counts().nodes["Application"] == 120


def test_a_consumer_killed_after_a_write_reads_the_batch_again_and_stores_it_once(
    store: GraphStore, applications: list[bytes]
) -> None:
    log = _messages(list(applications))
    group: dict[int, int] = {}
    events: list[str] = []
    with pytest.raises(Killed):  # dies after writing its second batch, before committing it
        consume_applications(FakeSource(log, group, events, kill_at_commit=2), RecordingStore(store, events),
                             batch_size=40, idle_seconds=0, poll_seconds=0)
    assert events == ["write 40", "commit 40", "write 40"]
    assert store.counts().nodes["Application"] == 80
    report = consume_applications(FakeSource(log, group, events), RecordingStore(store, events), batch_size=40,
                                  idle_seconds=0, poll_seconds=0)
    assert (report.messages, report.created, report.unchanged) == (80, 40, 40)
    assert group == {0: 120}
    assert store.counts().nodes["Application"] == 120


def test_bad_messages_go_to_the_dead_letters_with_their_reason_and_the_rest_is_written(
    store: GraphStore, applications: list[bytes]
) -> None:
    first = json.loads(applications[0])
    changed = json.dumps({**first, "applicant": {**first["applicant"], "occupation": "另一个职业"}}).encode()
    values: list[bytes | None] = [applications[0], b"{not json", None, applications[1], changed, b'{"x": 1}',
                                  applications[1]]
    sink = ListSink()
    group: dict[int, int] = {}
    report = consume_applications(FakeSource(_messages(values), group, []), store, dead_letters=sink, batch_size=10,
                                  idle_seconds=0, poll_seconds=0)
    assert (report.messages, report.created, report.unchanged, report.rejected) == (7, 2, 1, 4)
    assert [message.offset for message, _ in sink.sent] == [1, 2, 5, 4]
    reasons = dict((message.offset, reason) for message, reason in sink.sent)
    assert "no value" in reasons[2]
    assert "already stored with different content" in reasons[4]
    assert sink.flushed == 4  # flushed before the commit
    assert group == {0: 7}
    assert str(report.rejections[0]).startswith(f"{TOPIC}[0]@1: ")
    for _, reason in sink.sent:  # reasons name fields, never values
        assert first["applicant"]["id_number"] not in reason


def test_consume_names_the_bootstrap_variable_when_it_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIANWANG_KAFKA_BOOTSTRAP", raising=False)
    result = CliRunner().invoke(app, ["stream", "consume", "--max-messages", "1"])
    assert result.exit_code == 2
    assert "TIANWANG_KAFKA_BOOTSTRAP is not set" in result.output


def test_publish_says_how_to_install_the_client_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # import fails as if not installed
    monkeypatch.setenv("TIANWANG_KAFKA_BOOTSTRAP", "127.0.0.1:9")
    file = tmp_path / "a.ndjson"
    file.write_text("{}\n")
    result = CliRunner().invoke(app, ["stream", "publish", str(file)])
    assert result.exit_code == 2
    assert "pip install -e '.[stream]'" in " ".join(result.output.split())


def test_the_embedded_mode_never_imports_the_kafka_client() -> None:
    import subprocess

    code = ("import sys, tianwang.cli, tianwang.runtime, tianwang.stream; "
            "sys.exit('confluent_kafka' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2]).returncode == 0
