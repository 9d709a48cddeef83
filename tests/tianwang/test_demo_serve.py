"""``tianwang demo --serve``: the workbench served on the demo's data, a case queue waiting, a clean stop."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tianwang.cli.demo_serve import Prepared, announce_text, listen, sigterm_as_interrupt, workbench_url
from tianwang.errors import InvalidRequestError

ROOT = Path(__file__).resolve().parents[2]
SECRET = "demo-serve-test-secret-0123456789abcdef"


def test_workbench_url_names_a_browsable_address() -> None:
    assert workbench_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
    assert workbench_url("0.0.0.0", 8080) == "http://127.0.0.1:8080/"
    assert workbench_url("::", 80) == "http://[::1]:80/"
    assert workbench_url("::1", 9000) == "http://[::1]:9000/"
    assert workbench_url("demo.local", 81) == "http://demo.local:81/"


def test_listen_takes_a_free_port_and_names_the_port_when_it_is_taken() -> None:
    with listen("127.0.0.1", 0) as first:
        port = first.getsockname()[1]
        assert port > 0
        first.listen()
        with pytest.raises(InvalidRequestError, match=rf"^port: {port} on 127.0.0.1 is in use") as caught:
            listen("127.0.0.1", port)
        assert caught.value.field == "port"
    with pytest.raises(InvalidRequestError, match=r"^host: cannot listen on") as bad:
        listen("no-such-host.invalid", 0)
    assert bad.value.field == "host"


def test_announce_names_the_address_the_login_and_the_cases_waiting() -> None:
    prepared = Prepared(history=900, scored=100, trained=900, confirmed=40, rings=3,
                        bands={"review": 7, "approve": 90, "reject": 3}, open_cases=7,
                        since=datetime(2025, 5, 8, 10, 29))
    lines = announce_text("http://127.0.0.1:8000/", prepared, "demo.investigator", "pw-123456")
    assert lines[:3] == ["workbench: http://127.0.0.1:8000/", "log in as demo.investigator, password pw-123456",
                         "cases waiting in the queue: 7"]
    assert "the 100 most recent applications, from 2025-05-08 10:29" in lines[3]
    assert "approve 90, reject 3, review 7" in lines[3] and lines[-1] == "Ctrl-C to stop"
    assert "model bundle 'demo' trained on the 900 before them" in lines[3]


def test_sigterm_stops_the_block_as_ctrl_c_does_and_the_handler_is_put_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal interrupts this at once
    assert signal.getsignal(signal.SIGTERM) is before


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _lines(stream, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)
    into.put("")


def _wait_for(lines: queue.Queue[str], seen: list[str], pattern: str, deadline: float) -> re.Match[str]:
    while True:
        for line in seen:
            found = re.search(pattern, line)
            if found:
                return found
        left = deadline - time.monotonic()
        assert left > 0, f"no line matching {pattern!r} in time; output:\n{''.join(seen)}"
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            continue
        assert line, f"the demo ended before printing {pattern!r}; output:\n{''.join(seen)}"
        seen.append(line)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_serve_opens_a_case_queue_for_the_printed_investigator_and_stops_cleanly(
        tmp_path: Path, stop: signal.Signals) -> None:
    temp = tmp_path / "tmp"  # the demo's temporary folder goes here (TMPDIR), to see it removed
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIANWANG_")}
    env.update(PYTHONPATH=str(ROOT), TIANWANG_SECRET=SECRET, TMPDIR=str(temp), PYTHONUNBUFFERED="1")
    port = _free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "tianwang.cli", "demo", "--applications", "1500", "--replay", "1000", "--sample", "100",
         "--score", "300", "--train", "800", "--serve", "--port", str(port), "--report", str(tmp_path / "report.html")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(demo.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 300
        base = _wait_for(lines, seen, r"^workbench: (http://\S+)/$", deadline).group(1)
        login = _wait_for(lines, seen, r"^log in as (\S+), password (\S+)$", deadline)
        waiting = int(_wait_for(lines, seen, r"^cases waiting in the queue: ([\d,]+)$", deadline).group(1)
                      .replace(",", ""))
        _wait_for(lines, seen, r"^Ctrl-C to stop$", deadline)
        assert base == f"http://127.0.0.1:{port}" and waiting > 0
        assert len(list(temp.glob("tianwang-demo-*/demo.db"))) == 1  # the data the service serves

        with httpx.Client(base_url=base, timeout=30) as client:
            answer = client.post("/v1/auth/login", json={"username": login.group(1), "password": login.group(2)})
            assert answer.status_code == 200, answer.text
            assert "investigator" in answer.json()["user"]["roles"]
            client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
            cases, cursor = [], None
            while True:
                page = client.get("/v1/cases", params={"limit": 200, **({"cursor": cursor} if cursor else {})})
                assert page.status_code == 200, page.text
                cases += page.json()["data"]
                cursor = page.json()["pagination"]["next"]
                if not cursor:
                    break
            assert len(cases) == waiting
            assert {c["kind"] for c in cases} == {"application"} and {c["status"] for c in cases} == {"open"}
            decision = client.get(f"/v1/decisions/{cases[0]['decision_id']}")
            assert decision.status_code == 200 and decision.json()["band"] == "review"
            assert decision.json()["bundle"] == "demo"  # decided by the service's trained bundle
    finally:
        demo.send_signal(stop)
        try:
            code = demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
    assert code == 0, "".join(seen)
    assert list(temp.glob("tianwang-demo-*")) == []
