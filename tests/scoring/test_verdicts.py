"""Verdicts reach the detectors that learn from confirmed cases between trainings."""

from __future__ import annotations

import numpy as np

from detectors import LabelledContext
from graph_schema.embedded import EmbeddedGraphStore
from tianwang.application import parse_application

from ..builders import application
from .helpers import config


def test_a_verdict_goes_into_the_fraud_index_and_the_ring_labels(tmp_path, keyer, pipelines) -> None:
    store = EmbeddedGraphStore(tmp_path / "g.db", keyer)
    pipeline = pipelines(store, config({
        "fraud_ring": {"budget_ms": 30000},
        "known_fraud_similarity": {"budget_ms": 30000,
                                   "settings": {"min_fraud": 3, "k": 3, "legit_sample": 50}},
    }))
    rng = np.random.default_rng(1)
    history = []
    for i in range(1, 121):
        fraud = i % 6 == 0
        income = 60_000 if fraud else float(rng.integers(8_000, 20_000))
        app = parse_application(application(i, **{"applicant.monthly_income": income}))
        history.append(LabelledContext(pipeline.ingest(app), fraud, "forged_documents" if fraud else None))
    pipeline.fit(history)
    similarity = pipeline.loaded.detectors["known_fraud_similarity"]
    ring = pipeline.loaded.detectors["fraud_ring"]
    before = len(similarity.fraud_index)

    pipeline.score(application(500, **{"applicant.monthly_income": 59_000}))
    assert pipeline.verdict("APP-000500", True, "forged_documents") == ["fraud_ring", "known_fraud_similarity"]
    assert len(similarity.fraud_index) == before + 1
    assert "APP-000500" in similarity.fraud_index.application_ids
    assert ring.confirmed_fraud.get("APP-000500") is True

    assert sorted(pipeline.verdict("APP-000500", False)) == ["fraud_ring", "known_fraud_similarity"]
    assert len(similarity.fraud_index) == before
    assert "APP-000500" not in ring.confirmed_fraud
    assert pipeline.verdict("APP-999999", True) == []  # never seen: nothing to learn from
    pipeline.close()
    store.close()
