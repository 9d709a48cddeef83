"""Rotating the vault's key beside a serving process: ``tianwang vault rotate`` runs while the service
answers reveals and scores; afterwards no entry is under the old key, and with the old key taken out of
``TIANWANG_VAULT_KEYS`` every value still reveals."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests import builders
from tests.serving import served
from tianwang.cli import app as cli
from tianwang.opsdb import OpsDB
from tianwang.opsdb.models import VaultEntry
from tianwang.vault import new_key_entry

ROOT = Path(__file__).resolve().parents[2]
REVIEW_INCOME = 22000  # builders' applications land in the review band with it
OLD, NEW = new_key_entry("old"), new_key_entry("new")


def _env(db: Path, keys: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIANWANG_DB_PATH": str(db), "TIANWANG_STORE": "embedded",
           "TIANWANG_VAULT_KEYS": keys, "TIANWANG_RATE_LIMIT": "0"}
    for name in ("TIANWANG_NEO4J_URI", "TIANWANG_DATABASE_URL", "TIANWANG_SCORING_CONFIG"):
        env.pop(name, None)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tianwang.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)





def _key_ids(db: Path) -> set[str]:
    ops = OpsDB(f"sqlite:///{db.with_name('operations.db')}")
    try:
        with ops.session() as session:
            return set(session.scalars(select(VaultEntry.key_id).distinct()))
    finally:
        ops.close()


@pytest.mark.slow
def test_a_rotation_beside_the_service_leaves_every_value_revealable(tmp_path: Path) -> None:
    db = tmp_path / "live" / "graph.db"
    env = _env(db, OLD)
    scorer = _cli(env, "keys", "create", "--client", "approval", "--role", "scorer").stdout.split()[-1]
    investigator = _cli(env, "keys", "create", "--client", "li.na", "--role", "investigator").stdout.split()[-1]
    apps = [builders.application(n, **{"applicant.monthly_income": REVIEW_INCOME}) for n in range(1, 41)]
    with served(env) as base, httpx.Client(base_url=base, timeout=30) as client:
        for app in apps:
            r = client.post("/v1/applications/score", content=orjson.dumps(app), headers={"X-API-Key": scorer})
            assert r.status_code == 201 and r.json()["band"] == "review", r.text
        taken = client.post("/v1/cases/next", headers={"X-API-Key": investigator}).json()
    case_id, application_id = taken["case_id"], taken["application_id"]
    raw = next(a for a in apps if a["application_id"] == application_id)["applicant"]
    assert _key_ids(db) == {"old"}

    # the new key first, the old one after it: the service seals under the new one and opens both
    env = _env(db, f"{NEW},{OLD}")
    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()
    with served(env) as base, httpx.Client(base_url=base, timeout=30) as client:
        def reveal_and_score() -> None:
            n = 1000
            while not stop.is_set():
                for field, expected in (("applicant.phone", raw["phone"]), ("applicant.bank_account",
                                                                            raw["bank_account"])):
                    r = client.post(f"/v1/cases/{case_id}/reveal", json={"field": field},
                                    headers={"X-API-Key": investigator})
                    answers.append((r.status_code, r.json().get("value") if r.status_code == 200 else r.text))
                    assert r.status_code != 200 or r.json()["value"] == expected
                n += 1
                r = client.post("/v1/applications/score", content=orjson.dumps(builders.application(n)),
                                headers={"X-API-Key": scorer})
                answers.append((r.status_code, None))

        caller = threading.Thread(target=reveal_and_score)
        caller.start()
        try:
            rotation = _cli(env, "vault", "rotate", "--batch-size", "7", "--pause", "0.05")
        finally:
            stop.set()
            caller.join()
        assert rotation.returncode == 0, rotation.stderr[-2000:]
        assert "rotate: 320/320 entries re-sealed under new" in rotation.stderr
        assert "vault: 320 entries re-sealed under new in 46 transactions" in rotation.stdout
    during = [status for status, _ in answers]
    assert len(during) >= 6 and set(during) <= {200, 201}, answers[:5]
    assert _key_ids(db) == {"new"}
    status = _cli(env, "vault", "status")
    assert status.returncode == 0 and re.search(r"^old +0  older: no entry left, may go$", status.stdout, re.M)

    env = _env(db, NEW)  # the old key taken out
    with served(env) as base, httpx.Client(base_url=base, timeout=30) as client:
        for field, expected in (("applicant.id_number", raw["id_number"]), ("applicant.phone", raw["phone"])):
            r = client.post(f"/v1/cases/{case_id}/reveal", json={"field": field},
                            headers={"X-API-Key": investigator})
            assert r.status_code == 200 and r.json()["value"] == expected, r.text


def test_status_and_rotate_name_entries_under_a_missing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tianwang.service import open_service
    from tianwang.service.scoring import score_application
    from tianwang.settings import load_settings

    monkeypatch.setenv("TIANWANG_VAULT_KEYS", OLD)
    with open_service(load_settings(db_path=tmp_path / "graph.db", store="embedded")) as service:
        score_application(service, builders.application(1))
    runner = CliRunner()
    monkeypatch.setenv("TIANWANG_VAULT_KEYS", NEW)  # the old key dropped before rotating
    status = runner.invoke(cli, ["vault", "status"])
    assert status.exit_code == 1
    assert re.search(r"^new +0  active$", status.stdout, re.M)
    assert re.search(r"^old +8  MISSING from TIANWANG_VAULT_KEYS", status.stdout, re.M)
    rotated = runner.invoke(cli, ["vault", "rotate"])
    assert rotated.exit_code == 1 and "8 entries are under key 'old', missing" in rotated.stderr
    monkeypatch.setenv("TIANWANG_VAULT_KEYS", f"{NEW},{OLD}")
    rotated = runner.invoke(cli, ["vault", "rotate", "--batch-size", "3"])
    assert rotated.exit_code == 0, rotated.stderr
    assert "vault: 8 entries re-sealed under new in 3 transactions; 0 under missing keys, 0 damaged" in rotated.stdout
    assert runner.invoke(cli, ["vault", "rotate"]).stdout.startswith("vault: 0 entries re-sealed")
    new_key = runner.invoke(cli, ["vault", "new-key", "2027-01"])
    assert new_key.exit_code == 0 and new_key.stdout.startswith("2027-01:")
    assert runner.invoke(cli, ["vault", "new-key", "no good"]).exit_code == 2
