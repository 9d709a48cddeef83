"""A real ``tianwang serve`` process for tests: started on a free loopback port, ready when ``/readyz`` answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tianwang.workers import stop_process

ROOT = Path(__file__).resolve().parents[1]


def start_server(env: dict[str, str], *, timeout: float = 120.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``tianwang serve`` with ``env``; return the process and its base URL once ``/readyz`` is 200."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tianwang.cli", "serve", "--port", str(port)], env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None or time.monotonic() > deadline:
            stop_process(server)
            raise AssertionError("tianwang serve did not start")
        try:
            if httpx.get(f"{base}/readyz", timeout=10).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.2)


@contextmanager
def served(env: dict[str, str]) -> Iterator[str]:
    """:func:`start_server` for the block's length; the base URL."""
    server, base = start_server(env)
    try:
        yield base
    finally:
        stop_process(server)
