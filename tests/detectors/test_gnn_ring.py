"""The gnn_ring detector inside the pipeline: trained on history, votes on later applications,
names fraud-like links without personal data, and loads its artifact instead of training."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import torch

from detectors import DetectorError, DetectorNotFittedError, DetectorRegistry, DetectorSettingsError, LabelledContext
from detectors.gnn_ring import GnnRingDetector
from graph_schema.embedded import EmbeddedGraphStore
from tianwang.application import parse_application
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring import ScoringPipeline, ScoringRecords
from tianwang.scoring.decisions import Decision
from tianwang.stats import auroc

from ..builders import application, mobile
from ..scoring.helpers import config

SMALL = {"hidden_channels": 16, "epochs": 60, "eval_every": 2, "patience": 20, "lr": 0.01, "seed": 1}
N_APPLICATIONS = 240
N_HISTORY = 160


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def ring_of(n: int) -> int | None:
    """Every 4th application belongs to one of a few rings (by its number); the rest are legit."""
    return (n // 4) % 6 if n % 4 == 0 else None


def ring_application(n: int) -> dict[str, Any]:
    """Ring members list their organiser's phone as contact and use the ring's device; their
    own figures are those of everyone else."""
    ring = ring_of(n)
    if ring is None:
        return application(n)
    return application(n, **{"applicant.emergency_contacts": [{"name": "张三", "phone": mobile(500 + ring)}],
                             "applicant.device_id": f"ring-device-{ring}"})


def run(store: EmbeddedGraphStore, settings: dict[str, Any]) -> tuple[ScoringPipeline, list[Decision]]:
    """Ingest the history, fit, score the rest (as the backtest does)."""
    pipeline = ScoringPipeline(store, config({"gnn_ring": {"budget_ms": 5000, "settings": settings}}),
                               ScoringRecords.in_memory(store.keyer))
    history = []
    for n in range(1, N_HISTORY + 1):
        context = pipeline.ingest(parse_application(ring_application(n)))
        history.append(LabelledContext(context, ring_of(n) is not None))
    pipeline.fit(history)
    decisions = [pipeline.score(ring_application(n)) for n in range(N_HISTORY + 1, N_APPLICATIONS + 1)]
    return pipeline, decisions


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[GnnRingDetector, list[Decision], Path]:
    folder = tmp_path_factory.mktemp("gnn")
    store = EmbeddedGraphStore(folder / "graph.db", PersonalDataKeyer(b"tianwang-test-secret-0123456789abcdef"))
    pipeline, decisions = run(store, {**SMALL, "save_to": str(folder / "artifact")})
    detector = pipeline.loaded.detectors["gnn_ring"]
    pipeline.close()
    store.close()
    assert isinstance(detector, GnnRingDetector)
    return detector, decisions, folder / "artifact"


def gnn_vote(decision: Decision) -> Any:
    return next(o for o in decision.outcomes if o.detector == "gnn_ring")


def test_is_registered_and_deep() -> None:
    assert DetectorRegistry.builtin().resolve("GNN_Ring") is GnnRingDetector
    assert GnnRingDetector.layer == "deep" and GnnRingDetector.needs_training


def test_refuses_to_score_before_it_is_trained(context_of: Any) -> None:
    with pytest.raises(DetectorNotFittedError):
        GnnRingDetector().score(context_of(1))


def test_votes_on_later_applications_and_finds_the_rings(scored: tuple[GnnRingDetector, list[Decision], Path]) -> None:
    detector, decisions, _ = scored
    outcomes = [gnn_vote(d) for d in decisions]
    assert all(o.status == "ok" and o.vote is not None for o in outcomes)
    scores = np.array([o.vote.score for o in outcomes])
    labels = np.array([ring_of(n) is not None for n in range(N_HISTORY + 1, N_APPLICATIONS + 1)])
    assert ((scores >= 0) & (scores <= 1)).all()
    assert auroc(labels, scores) >= 0.9
    details = detector.fit_details
    assert details["nodes"] == N_HISTORY and details["n_fraud"] == N_HISTORY // 4
    assert 0 < outcomes[0].vote.baseline < 0.5


def test_reasons_name_fraud_like_links_without_personal_data(
        scored: tuple[GnnRingDetector, list[Decision], Path]) -> None:
    _, decisions, _ = scored
    member = decisions[[n for n in range(N_HISTORY + 1, N_APPLICATIONS + 1) if ring_of(n) is not None][-1]
                       - N_HISTORY - 1]
    vote = gnn_vote(member).vote
    codes = [r.code for r in vote.reasons]
    assert "GNN_FRAUD_LIKE_LINKS" in codes
    reason = vote.reasons[codes.index("GNN_FRAUD_LIKE_LINKS")]
    assert "confirmed fraud" in reason.text
    assert {e.field for e in reason.evidence} <= {"contact", "device", "phone", "person", "address", "account",
                                                  "vehicle", "vehicle_user"}
    assert all(e.neighbour is not None and e.neighbour.startswith("APP-") for e in reason.evidence)
    text = orjson.dumps(vote.as_dict()).decode()
    for n in (500, 501, 502, 503, 504, 505):
        assert mobile(n) not in text


def test_takes_in_verdicts_as_confirmed_cases(scored: tuple[GnnRingDetector, list[Decision], Path]) -> None:
    detector, _, _ = scored
    legit = f"APP-{N_HISTORY + 1:06d}"
    assert legit not in detector.confirmed_fraud and f"APP-{4:06d}" in detector.confirmed_fraud
    assert detector.verdict(legit, True, "cash_out_ring")
    assert legit in detector.confirmed_fraud
    assert detector.verdict(legit, False)
    assert legit not in detector.confirmed_fraud


def test_the_saved_artifact_loads_and_scores_identically(
        scored: tuple[GnnRingDetector, list[Decision], Path], context_of: Any) -> None:
    detector, _, artifact = scored
    loaded = GnnRingDetector({"artifact": str(artifact)})
    assert loaded.is_fitted and loaded.fit_details["artifact"] == str(artifact)
    context = context_of(N_APPLICATIONS + 7)
    assert loaded.score(context).score == pytest.approx(detector.score(context).score, abs=1e-9)
    assert loaded.model is not None and detector.model is not None
    assert loaded.model.metadata["metrics"] == detector.model.metadata["metrics"]


def test_an_artifact_of_other_code_is_refused_with_a_clear_error(
        scored: tuple[GnnRingDetector, list[Decision], Path], tmp_path: Path) -> None:
    _, _, artifact = scored
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("model.pt", "states.npz"):
        (broken / name).write_bytes((artifact / name).read_bytes())
    metadata = orjson.loads((artifact / "metadata.json").read_bytes())
    metadata["feature_names"] = metadata["feature_names"][:-1]
    (broken / "metadata.json").write_bytes(orjson.dumps(metadata))
    with pytest.raises(DetectorSettingsError, match=r"gnn_ring.*artifact.*other features"):
        GnnRingDetector({"artifact": str(broken)})


def test_history_without_fraud_is_refused_with_a_clear_error(context_of: Any) -> None:
    history = [LabelledContext(context_of(n), False) for n in range(1, 30)]
    with pytest.raises(DetectorError, match="cannot train"):
        GnnRingDetector(SMALL).fit(history)


def test_bad_settings_fail_when_built() -> None:
    with pytest.raises(DetectorSettingsError, match="pos_weight"):
        GnnRingDetector({"pos_weight": 0})
