"""The README's service walkthrough, run as written: create a key, add a person, serve, score with curl.

The commands are read from README.md (the ``sh`` blocks that hold ``tianwang serve`` and
``curl``), so editing them there changes what runs here. Optional parts in brackets are
left out and port 8000 becomes a free port; everything else runs as a user would type it,
through ``bash``. The answer must match the README's sample answer: the same keys, and the
same application, band, action and first reason.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.docs.markdown import ROOT, blocks, commands
from tianwang.workers import stop_process

pytestmark = pytest.mark.slow

_OPTIONAL = re.compile(r"\s*\[[^\]]*\]")


def _readme_commands() -> tuple[list[str], str, dict[str, object]]:
    """(the commands of the block with ``tianwang serve``, the curl command, the sample answer)."""
    found = blocks(ROOT / "README.md")
    setup = next(b for b in found if b.lang == "sh" and "tianwang serve" in b.text)
    index = next(i for i, b in enumerate(found) if b.lang == "sh" and b.text.lstrip().startswith("curl"))
    answer = next(b for b in found[index + 1:] if b.lang == "json")
    return [c.text for c in commands(setup)], commands(found[index])[0].text, json.loads(answer.text)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_readme_service_walkthrough(tmp_path: Path) -> None:
    setup, curl, sample = _readme_commands()
    assert [c.split()[:2] for c in setup] == [["tianwang", "keys"], ["tianwang", "users"], ["tianwang", "serve"]]
    port = str(_free_port())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "TIANWANG_SECRET": TEST_SECRET.decode(), "TIANWANG_STORE": "embedded",
           "TIANWANG_DB_PATH": str(tmp_path / "graph.db"), "PW": "a-password-for-li-na"}
    for name in ("TIANWANG_NEO4J_URI", "TIANWANG_DATABASE_URL", "TIANWANG_SCORING_CONFIG", "TIANWANG_BUNDLE_DIR"):
        env.pop(name, None)

    def bash(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    key_run = bash(_OPTIONAL.sub("", setup[0]))
    assert key_run.returncode == 0, key_run.stderr
    key = re.search(r"\btw_[A-Za-z0-9_-]+", key_run.stdout)
    assert key, "tianwang keys create printed no key"
    user_run = bash(_OPTIONAL.sub("", setup[1]))
    assert user_run.returncode == 0, user_run.stderr
    serve = _OPTIONAL.sub("", setup[2]).replace("8000", port)
    server = subprocess.Popen(["bash", "-c", f"exec {serve}"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(server, base)
        for variable in re.findall(r"\$(\w+)", curl):
            env[variable] = key.group(0)
        scored = bash(curl.replace("8000", port))
        assert scored.returncode == 0, scored.stderr
        answer = json.loads(scored.stdout)
        assert "error" not in answer, answer
        assert set(answer) == set(sample), f"README's answer has keys {sorted(sample)}, the service {sorted(answer)}"
        for name in ("application_id", "band", "status", "strategy"):
            assert answer[name] == sample[name], f"{name}: README says {sample[name]!r}, the service {answer[name]!r}"
        assert answer["action"]["type"] == sample["action"]["type"]  # type: ignore[index]
        assert answer["reasons"][0]["code"] == sample["reasons"][0]["code"]  # type: ignore[index]
        login = httpx.post(f"{base}/v1/auth/login", json={"username": "li.na", "password": env["PW"]}, timeout=30)
        assert login.status_code == 200, login.text
    finally:
        stop_process(server)


def _wait_ready(server: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "the README's tianwang serve exited"
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the README's tianwang serve did not answer /readyz within 120 s")


@pytest.mark.neo4j
def test_readme_neo4j_walkthrough(tmp_path: Path, neo4j_uri: str) -> None:
    """The README's "Running against Neo4j" block, on the test server: the dev server's start and stop
    lines are the fixture's (``make test`` runs that server); the lines between run as written."""
    from graph_schema.neo4j_store import Neo4jGraphStore
    from tianwang.privacy import PersonalDataKeyer

    block = next(b for b in blocks(ROOT / "README.md") if b.lang == "sh" and "neo4j-dev.sh start" in b.text)
    lines = [c.text for c in commands(block)]
    assert "neo4j-dev.sh start" in lines[0] and "neo4j-dev.sh stop" in lines[-1]
    port = str(_free_port())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "TIANWANG_SECRET": TEST_SECRET.decode(), "TIANWANG_NEO4J_URI": neo4j_uri}
    for name in ("TIANWANG_STORE", "TIANWANG_DATABASE_URL", "TIANWANG_SCORING_CONFIG", "TIANWANG_BUNDLE_DIR"):
        env.pop(name, None)
    env["TIANWANG_DB_PATH"] = str(tmp_path / "graph.db")  # the service's operational records go beside it
    graph = Neo4jGraphStore(neo4j_uri, PersonalDataKeyer(TEST_SECRET))
    graph.clear()
    try:
        outputs = []
        for line in lines[1:-1]:
            if line.startswith("tianwang serve"):
                log = tmp_path / "serve.log"
                with log.open("wb") as sink:
                    server = subprocess.Popen(["bash", "-c", f"exec {line.replace('8000', port)}"], cwd=tmp_path,
                                              env=env, stdout=sink, stderr=subprocess.STDOUT)
                try:
                    _wait_ready(server, f"http://127.0.0.1:{port}")
                finally:
                    stop_process(server)
                assert "on the neo4j store" in log.read_text(errors="replace"), log.read_text(errors="replace")[-2000:]
                continue
            ran = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True,
                                 timeout=600)
            assert ran.returncode == 0, f"{line}: {ran.stderr[-2000:]}"
            outputs.append(ran.stdout)
        generated = int(re.search(r"--applications (\d+)", " ".join(lines)).group(1))  # type: ignore[union-attr]
        assert graph.counts().nodes.get("Application") == generated
        assert f"{generated:,}" in outputs[-1] or str(generated) in outputs[-1], outputs[-1]
    finally:
        graph.clear()
        graph.close()


def test_readme_first_command_runs_the_demo_to_the_end() -> None:
    """The quick start's first command, as written (``make demo``: the environment, then ``tianwang demo`` at its
    default size), run in the checkout; CI runs it on a fresh clone. Its report lands in the checkout (ignored by
    git): one that was there before is put back."""
    first = commands(next(b for b in blocks(ROOT / "README.md") if b.lang == "sh"))[0].text
    assert first.startswith("make "), first
    report = ROOT / "tianwang-demo-report.html"
    kept = report.read_bytes() if report.exists() else None
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIANWANG_") or k == "TIANWANG_VENV"}
    try:
        ran = subprocess.run(["bash", "-c", first], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert re.search(r"AUROC\s+0\.\d+", ran.stdout), ran.stdout[-3000:]
        assert "report written to" in ran.stdout and report.stat().st_size > 10_000
    finally:
        if kept is not None:
            report.write_bytes(kept)
        else:
            report.unlink(missing_ok=True)
