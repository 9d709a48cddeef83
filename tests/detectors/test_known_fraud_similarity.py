"""known_fraud_similarity: votes from the distance to confirmed fraud, names the cases, takes verdicts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detectors.application_features import FEATURE_NAMES, application_features
from detectors.base import DetectorNotFittedError, DetectorSettingsError
from detectors.context import GraphLinks, LabelledContext, Link, ScoringContext
from detectors.embedders import ApplicationEmbedder, FeatureEmbedder
from detectors.known_fraud_similarity import KnownFraudSimilarityDetector
from detectors.registry import DetectorRegistry
from embeddings.similarity import DEFAULT_EXACT_BELOW, SimilarityIndexError
from tianwang.stats import auroc


@pytest.fixture(scope="module")
def split(generated_contexts: list[LabelledContext]) -> tuple[list[LabelledContext], list[LabelledContext]]:
    cut = int(len(generated_contexts) * 0.6)
    return generated_contexts[:cut], generated_contexts[cut:]


@pytest.fixture(scope="module")
def fitted(split: tuple[list[LabelledContext], list[LabelledContext]]) -> KnownFraudSimilarityDetector:
    return KnownFraudSimilarityDetector({"legit_sample": 2000}).fit(split[0])


def test_it_is_registered_and_declares_what_it_needs() -> None:
    cls = DetectorRegistry.builtin().resolve("Known_Fraud_Similarity")
    assert cls is KnownFraudSimilarityDetector
    assert (cls.layer, cls.needs_graph, cls.supports_training, cls.needs_training) == ("deep", True, True, False)
    assert KnownFraudSimilarityDetector.Settings().exact_below == DEFAULT_EXACT_BELOW


def test_bad_settings_fail_when_built_naming_the_value() -> None:
    with pytest.raises(DetectorSettingsError, match="unknown embedder 'gnn'; known: features, features_neighbours"):
        KnownFraudSimilarityDetector({"embedder": "gnn"})
    with pytest.raises(DetectorSettingsError, match="k: Input should be greater than or equal to 1"):
        KnownFraudSimilarityDetector({"k": 0})


def test_an_embedder_registered_through_the_sdk_is_used_by_name() -> None:
    from detectors import ApplicationEmbedder as PublicEmbedder
    from detectors import register_embedder
    from detectors.embedders import EMBEDDERS

    made: list[FeatureEmbedder] = []

    def factory(settings: KnownFraudSimilarityDetector.Settings) -> FeatureEmbedder:
        made.append(FeatureEmbedder(neighbours=True, capacity=settings.neighbour_capacity))
        return made[-1]

    register_embedder("My_Embedder", factory)
    try:
        detector = KnownFraudSimilarityDetector({"embedder": "my_embedder", "neighbour_capacity": 7})
        assert detector.embedder is made[0] and made[0].capacity == 7
        assert isinstance(detector.embedder, PublicEmbedder)
    finally:
        EMBEDDERS.pop("my_embedder")


def test_importing_the_detector_does_not_load_faiss() -> None:
    code = "import sys, detectors.known_fraud_similarity; print('faiss' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_quality_floor_on_held_out_generated_data(
    fitted: KnownFraudSimilarityDetector, split: tuple[list[LabelledContext], list[LabelledContext]]
) -> None:
    test = split[1]
    votes = fitted.score_many([c.context for c in test])
    scores = np.array([v.score for v in votes])
    assert len(votes) == len(test) and ((scores >= 0) & (scores <= 1)).all()
    assert auroc(np.array([c.fraud for c in test]), scores) >= 0.75  # 0.80 measured, without graph links
    details = fitted.fit_details
    assert details["calibrated"] and details["index"] == "flat" and details["fraud"] == sum(c.fraud for c in split[0])
    # score() and score_many() agree
    assert fitted.score(test[0].context).score == pytest.approx(votes[0].score)


def test_reasons_name_the_nearest_confirmed_cases_without_personal_data(
    fitted: KnownFraudSimilarityDetector, split: tuple[list[LabelledContext], list[LabelledContext]]
) -> None:
    train, test = split
    typology_of = {c.context.application_id: c.typology for c in train if c.fraud}
    flagged = [(c, v) for c in test if (v := fitted.score(c.context)).reasons]
    assert flagged, "some held-out application must lie near confirmed fraud"
    calibration = train[int(len(train) * 0.7):]  # the latest 30 % of the history calibrates the vote
    prior = sum(c.fraud for c in calibration) / len(calibration)
    for labelled, vote in flagged[:50]:
        assert vote.baseline == pytest.approx(prior) and vote.score > vote.baseline
        (reason,) = vote.reasons
        assert reason.code == "NEAR_CONFIRMED_FRAUD" and reason.strength > 0
        assert 1 <= len(reason.evidence) <= 3
        for evidence in reason.evidence:
            assert evidence.neighbour in typology_of and evidence.detail == typology_of[evidence.neighbour]
            assert evidence.neighbour in reason.text and evidence.neighbour != labelled.context.application_id
        a = labelled.context.application.applicant
        for raw in (a.id_number, a.phone, a.name, a.address):
            assert raw not in reason.text
    clean = [v for c in test if not (v := fitted.score(c.context)).reasons]
    assert clean and all(v.score <= v.baseline for v in clean)


def test_before_fit_or_without_enough_fraud_it_abstains(split: tuple[list[LabelledContext], list[LabelledContext]],
                                                        ) -> None:
    detector = KnownFraudSimilarityDetector()
    context = split[1][0].context
    assert detector.score(context).confidence == 0.0
    legit_only = [c for c in split[0] if not c.fraud][:200] + [c for c in split[0] if c.fraud][:3]
    detector.fit(legit_only)
    assert "3 confirmed fraud and 200 legit cases; needs min_fraud=10" in detector.fit_details["abstains"]
    vote = detector.score(context)
    assert vote.confidence == 0.0 and not vote.reasons
    with pytest.raises(DetectorNotFittedError, match="has no index"):
        detector.add_verdict(context, context.application_id, True)


def test_a_fraud_verdict_joins_the_index_and_a_legit_one_takes_it_out(
    split: tuple[list[LabelledContext], list[LabelledContext]],
) -> None:
    detector = KnownFraudSimilarityDetector({"legit_sample": 500}).fit(split[0])
    assert detector.fraud_index is not None and detector.legit_index is not None
    fraud_before = len(detector.fraud_index)
    # a twin of a new confirmed case: same figures, another application id
    case = next(c.context for c in split[1] if not c.fraud)
    twin = replace(case, application=case.application.model_copy(update={"application_id": "APP-TWIN"}))
    before = detector.score(twin)
    detector.add_verdict(case, case.application_id, True, "cash_out_ring")
    assert len(detector.fraud_index) == fraud_before + 1 and detector.fraud_index.tag(case.application_id)
    after = detector.score(twin)
    assert after.score > before.score and after.reasons
    nearest = after.reasons[0].evidence[0]
    assert (nearest.neighbour, nearest.detail, nearest.value) == (case.application_id, "cash_out_ring", "0.00")
    detector.add_verdict(detector.embedder.embed([case])[0], case.application_id, False)
    assert case.application_id not in detector.fraud_index and len(detector.fraud_index) == fraud_before
    assert detector.score(twin).score == pytest.approx(before.score)


def test_legit_verdicts_keep_the_contrast_sample_bounded(split: tuple[list[LabelledContext], list[LabelledContext]],
                                                          ) -> None:
    detector = KnownFraudSimilarityDetector({"legit_sample": 50}).fit(split[0])
    assert detector.legit_index is not None and len(detector.legit_index) == 50
    for c in split[1][:100]:
        detector.add_verdict(c.context, c.context.application_id, False)
    assert len(detector.legit_index) == 50


def test_saved_index_scores_like_the_fitted_detector(
    fitted: KnownFraudSimilarityDetector, split: tuple[list[LabelledContext], list[LabelledContext]],
    tmp_path: Path,
) -> None:
    path = tmp_path / "known_fraud.twsim"
    fitted.save(str(path))
    served = KnownFraudSimilarityDetector({"legit_sample": 2000, "index_path": str(path)})
    contexts = [c.context for c in split[1][:200]]
    expected = [v.score for v in fitted.score_many(contexts)]
    assert [v.score for v in served.score_many(contexts)] == pytest.approx(expected)
    assert served.fraud_index is not None and len(served.fraud_index) == len(fitted.fraud_index or ())
    other = KnownFraudSimilarityDetector({"embedder": "features_neighbours"})
    with pytest.raises(SimilarityIndexError, match="embedder 'features', not 'known_fraud_similarity' with "
                                                   "'features_neighbours'"):
        other.load(str(path))
    with pytest.raises(DetectorNotFittedError, match="nothing to save"):
        KnownFraudSimilarityDetector().save(str(tmp_path / "empty.twsim"))


def test_neighbours_embedder_appends_the_mean_row_of_observed_neighbours(
    context_of: Callable[..., ScoringContext],
) -> None:
    embedder = FeatureEmbedder(neighbours=True, capacity=2)
    assert isinstance(embedder, ApplicationEmbedder) and embedder.dimension == 2 * len(FEATURE_NAMES) + 1
    first, second, third = context_of(1), context_of(2), context_of(3)
    for c in (first, second):
        embedder.observe(c)
    links = GraphLinks(phone=Link("phone", "139****0001", others=(first.application_id,)),
                       contacts=(Link("contact", "139****0002", others=(second.application_id, "APP-UNSEEN")),))
    raw = embedder._raw(replace(third, links=links))
    n = len(FEATURE_NAMES)
    expected = (application_features(first) + application_features(second)) / 2
    np.testing.assert_allclose(raw[n : 2 * n], expected, rtol=1e-5)
    assert raw[-1] == pytest.approx(np.log1p(2))
    embedder.observe(third)  # capacity 2: the first is forgotten
    assert embedder._raw(replace(context_of(4), links=links))[-1] == pytest.approx(np.log1p(1))


def test_rebuild_writes_an_index_the_detector_serves(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from embeddings.similarity_file import read_header
    from fixtures.generator import generate
    from tianwang.cli import app as cli

    generate(800, 20240611, tmp_path / "data")
    out = tmp_path / "index" / "known_fraud.twsim"
    result = CliRunner().invoke(cli, ["similarity", "rebuild", "--applications", str(tmp_path / "data" /
                                      "applications.ndjson"), "--labels", str(tmp_path / "data" / "labels.ndjson"),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    header = read_header(out)
    fraud_meta = next(s["metadata"] for s in header["indexes"] if s["name"] == "fraud")
    assert fraud_meta["embedder"] == "features" and fraud_meta["kind"] == "flat" and fraud_meta["count"] > 10
    assert header["extra"]["detector"] == "known_fraud_similarity"
    served = KnownFraudSimilarityDetector({"index_path": str(out)})
    assert served.fraud_index is None  # read on first use, not when built
    served._ensure_index()
    assert served.fraud_index is not None and len(served.fraud_index) == fraud_meta["count"]
