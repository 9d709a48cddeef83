from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from tianwang.backtest import run_backtest
from tianwang.cli.scoring import register
from tianwang.scoring import DEFAULT_CONFIG_PATH, load_config

from ..builders import application
from .helpers import registry

EVALUATE_KEYS = {"auroc", "auprc", "recall_at_1pct_fpr", "n_scored", "per_detector", "per_typology", "latency_ms"}


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.generator import generate

    folder = tmp_path_factory.mktemp("small")
    generate(800, 424242, folder)
    return folder


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_backtest_trains_on_the_earliest_share_and_scores_the_rest(small_data: Path) -> None:
    seen: list[str] = []
    report = run_backtest(small_data / "applications.ndjson", small_data / "labels.ndjson",
                          load_config(DEFAULT_CONFIG_PATH, registry()), train_fraction=0.5,
                          on_decision=lambda d, label: seen.append(d.submitted_at))
    assert report.n_scored == 400 and report.n_trained == 400
    assert seen == sorted(seen)  # time order
    assert set(report.as_json()) == EVALUATE_KEYS
    assert report.auroc > 0.7
    assert set(report.per_detector) == {"identity_theft", "forged_documents", "multi_lending", "rules", "watchlist",
                                        "synthetic_identity", "fraud_ring",
                                        "known_fraud_similarity", "gnn_ring", "graph_evidence"}
    assert report.latency_ms["p50"] > 0
    assert "trained" in report.fit["multi_lending"] and report.fit["rules"]["dealers"] > 0
    assert report.fit["fusion"]["holdout"] == 100 and "baseline" in report.fit["fusion"]


def test_evaluate_prints_a_table_and_writes_exactly_the_contract_keys(cli, small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(cli, ["evaluate", "--applications", str(small_data / "applications.ndjson"),
                                      "--labels", str(small_data / "labels.ndjson"), "--train-fraction", "0.6",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "AUROC" in result.output and "latency p50 / p99" in result.output
    metrics = json.loads(out.read_text())
    assert set(metrics) == EVALUATE_KEYS
    assert metrics["n_scored"] == 320
    assert set(metrics["latency_ms"]) == {"p50", "p99"}


def test_evaluate_rejects_a_bad_configuration(cli, small_data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ndetectors: {ghost: {}}\nstrategies: {m: {thresholds: {review: 1, reject: 2}}}\n"
                   "champion: m\n")
    result = CliRunner().invoke(cli, ["evaluate", "--applications", str(small_data / "applications.ndjson"),
                                      "--labels", str(small_data / "labels.ndjson"), "--config", str(bad)])
    assert result.exit_code == 2
    assert "unknown detector 'ghost'" in result.output


def test_score_writes_decisions_in_time_order(cli, tmp_path: Path) -> None:
    lines = [application(3), application(1), {"application_id": "BAD-1"}, application(2)]
    source = tmp_path / "in.ndjson"
    source.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    out = tmp_path / "decisions.ndjson"
    result = CliRunner().invoke(cli, ["score", str(source), "--out", str(out), "--db", str(tmp_path / "g.db")])
    assert result.exit_code == 1  # one bad line
    assert "line 3" in result.output
    decisions = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [d["application_id"] for d in decisions] == ["APP-000001", "APP-000002", "APP-000003"]
    assert all(d["band"] in ("approve", "review", "reject") for d in decisions)
    assert (tmp_path / "scoring.db").exists()


@pytest.mark.slow
def test_a_backtest_with_ring_runs_in_the_background_repeats_the_synchronous_one(small_data: Path,
                                                                                 tmp_path: Path) -> None:
    import yaml

    shipped = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    scores = {}
    for background in (False, True):
        config = dict(shipped)
        fraud_ring = dict(config["detectors"]["fraud_ring"])
        fraud_ring["settings"] = {**fraud_ring["settings"], "refresh_every": 60, "refresh_in_background": background}
        config["detectors"] = {**config["detectors"], "fraud_ring": fraud_ring}
        path = tmp_path / f"background-{background}.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        seen: dict[str, tuple[int, list[str]]] = {}
        run_backtest(small_data / "applications.ndjson", small_data / "labels.ndjson", load_config(path, registry()),
                     train_fraction=0.5, on_decision=lambda d, label, seen=seen: seen.__setitem__(
                         d.application_id, (d.fraud_score, [r.code for _, r in d.reasons])))
        scores[background] = seen
    assert len(scores[True]) == 400
    assert scores[True] == scores[False]


# -- repayment outcomes ---------------------------------------------------------------------
class _Recorder:
    def __init__(self) -> None:
        self.verdicts: list[tuple[str, bool, str | None]] = []

    def verdict(self, application_id: str, fraud: bool, typology: str | None = None) -> list[str]:
        self.verdicts.append((application_id, fraud, typology))
        return ["graph_evidence"]


def test_outcomes_become_known_at_the_end_of_their_day_and_only_for_funded_loans(tmp_path: Path) -> None:
    from tianwang.backtest import _Feedback, read_outcomes

    lines = [{"application_id": "A", "kind": "first_payment_default", "observed_on": "2025-03-02"},
             {"application_id": "B", "kind": "first_payment_default", "observed_on": "2025-03-01"},
             {"application_id": "C", "kind": "charge_off", "observed_on": "2025-03-01"},
             {"application_id": "T", "kind": "first_payment_default", "observed_on": "2025-02-01"},
             {"application_id": "D", "kind": "first_payment_default", "observed_on": "2025-03-01"}]
    path = tmp_path / "outcomes.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    outcomes = read_outcomes(path)
    assert [o.application_id for o in outcomes] == ["T", "B", "C", "D", "A"]  # in the order they became known
    feed, pipeline = _Feedback(outcomes), _Recorder()
    for app, band in (("A", "approve"), ("B", "approve"), ("C", "approve"), ("D", "review")):
        feed.decided(app, band)
    end_of_march_1 = 1740844800.0  # 2025-03-02T00:00:00+08:00
    feed.until(end_of_march_1 - 1, pipeline)
    assert pipeline.verdicts == [] and feed.counts["not_scored"] == 1  # T: a training application
    feed.until(end_of_march_1, pipeline)
    assert pipeline.verdicts == [("B", True, "first_payment_default")]
    assert feed.counts == {"given": 1, "not_funded": 1, "not_scored": 1, "not_fraud": 1, "cases_closed": 0}
    feed.until(end_of_march_1 + 86400, pipeline)
    assert pipeline.verdicts[-1] == ("A", True, "first_payment_default") and feed.counts["given"] == 2


def test_a_review_case_closes_with_its_label_after_the_case_days() -> None:
    from tianwang.backtest import Label, _Feedback

    feed, pipeline = _Feedback([]), _Recorder()
    feed.decided("R", "review")
    feed.close_case("R", Label(True, "cash_out_ring"), 1000.0)
    feed.decided("L", "review")
    feed.close_case("L", Label(False, None), 500.0)
    feed.until(499.0, pipeline)
    assert pipeline.verdicts == []
    feed.until(1000.0, pipeline)
    assert pipeline.verdicts == [("L", False, None), ("R", True, "cash_out_ring")]
    assert feed.counts["cases_closed"] == 2


def test_case_days_hand_reviewed_applications_labels_to_the_detectors(small_data: Path) -> None:
    bands: dict[str, str] = {}
    report = run_backtest(small_data / "applications.ndjson", small_data / "labels.ndjson",
                          load_config(DEFAULT_CONFIG_PATH, registry()), train_fraction=0.5, case_days=0.0,
                          on_decision=lambda d, label: bands.setdefault(d.application_id, d.band))
    reviewed = [app for app, band in bands.items() if band == "review"]
    # closed at once: every review case is handed over before the next application, but the last one's
    last_reviewed = bands[list(bands)[-1]] == "review"
    assert reviewed and report.outcomes["cases_closed"] == len(reviewed) - last_reviewed
    with pytest.raises(ValueError, match="case_days"):
        run_backtest(small_data / "applications.ndjson", small_data / "labels.ndjson",
                     load_config(DEFAULT_CONFIG_PATH, registry()), case_days=-1.0)


@pytest.mark.parametrize(("line", "field"), [
    ({"kind": "first_payment_default", "observed_on": "2025-03-01"}, "application_id"),
    ({"application_id": "A", "kind": "late", "observed_on": "2025-03-01"}, "kind"),
    ({"application_id": "A", "kind": "charge_off", "observed_on": "March"}, "observed_on"),
])
def test_a_bad_outcome_line_is_refused_naming_its_field_and_line(tmp_path: Path, line: dict, field: str) -> None:
    from tianwang.backtest import read_outcomes
    from tianwang.errors import InvalidRequestError

    path = tmp_path / "outcomes.ndjson"
    good = {"application_id": "B", "kind": "paid_as_agreed", "observed_on": "2025-03-01"}
    path.write_bytes(orjson.dumps(good) + b"\n" + orjson.dumps(line) + b"\n")
    with pytest.raises(InvalidRequestError) as raised:
        read_outcomes(path)
    assert raised.value.field == field and "line 2" in str(raised.value)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]"])
def test_an_outcome_line_that_is_not_an_object_is_refused_with_its_line(tmp_path: Path, raw: bytes) -> None:
    from tianwang.backtest import read_outcomes
    from tianwang.errors import InvalidRequestError

    path = tmp_path / "outcomes.ndjson"
    path.write_bytes(b'{"application_id": "B", "kind": "paid_as_agreed", "observed_on": "2025-03-01"}\n' + raw + b"\n")
    with pytest.raises(InvalidRequestError, match="line 2") as raised:
        read_outcomes(path)
    assert raised.value.field == "outcome"


def test_evaluate_replays_the_outcomes_of_approved_loans(cli, small_data: Path, tmp_path: Path) -> None:
    from tianwang.application import parse_application
    from tianwang.backtest import read_outcomes

    # every application defaults on the day it is submitted: known from the end of that day
    apps = [orjson.loads(line) for line in (small_data / "applications.ndjson").read_bytes().splitlines()]
    outcomes = tmp_path / "outcomes.ndjson"
    outcomes.write_bytes(b"".join(orjson.dumps({"application_id": a["application_id"], "kind": "first_payment_default",
                                                "observed_on": a["submitted_at"][:10]}) + b"\n" for a in apps))
    bands: dict[str, str] = {}
    report = run_backtest(small_data / "applications.ndjson", small_data / "labels.ndjson",
                          load_config(DEFAULT_CONFIG_PATH, registry()), train_fraction=0.5,
                          outcomes_path=outcomes,
                          on_decision=lambda d, label: bands.setdefault(d.application_id, d.band))
    last = max(a["submitted_at"] for a in apps)
    last_ts = max(parse_application(orjson.dumps(a)).submitted_ts for a in apps if a["submitted_at"] == last)
    known = {o.application_id for o in read_outcomes(outcomes) if o.known_ts <= last_ts}
    funded = sum(1 for app, band in bands.items() if app in known and band == "approve")
    assert funded > 0 and report.outcomes["given"] == funded
    assert report.outcomes["not_funded"] == sum(1 for app, band in bands.items() if app in known and band != "approve")
    assert report.outcomes["not_scored"] == 400  # the training half

    result = CliRunner().invoke(cli, ["evaluate", "--applications", str(small_data / "applications.ndjson"),
                                      "--labels", str(small_data / "labels.ndjson"), "--train-fraction", "0.5",
                                      "--outcomes", str(outcomes)])
    assert result.exit_code == 0, result.output
    assert f"{funded:,} / {report.outcomes['not_funded']:,}" in result.output
