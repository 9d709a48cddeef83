"""One feature row per application: finite, named, no graph counts without links; the scaler standardises."""

import numpy as np

from detectors.application_features import FEATURE_NAMES, application_features, feature_matrix
from detectors.context import build_context
from embeddings.scaling import FeatureScaler
from tests.builders import application
from tianwang.application import parse_application
from tianwang.privacy import PersonalDataKeyer


def test_row_has_one_finite_value_per_name_and_no_graph_counts_without_a_view():
    context = build_context(parse_application(application()), PersonalDataKeyer(b"k" * 32))
    row = application_features(context)
    assert row.shape == (len(FEATURE_NAMES),)
    assert np.isfinite(row).all()
    graph = [i for i, n in enumerate(FEATURE_NAMES) if n.startswith("graph_")]
    assert not row[graph].any()


def test_scaler_standardises_and_round_trips():
    contexts = [build_context(parse_application(application(i + 1, **{"applicant.monthly_income": 5000 + 1000 * i})),
                              PersonalDataKeyer(b"k" * 32)) for i in range(5)]
    x = feature_matrix(contexts)
    scaler = FeatureScaler.fit(x)
    z = scaler.transform(x)
    assert np.allclose(z.mean(axis=0), 0.0)
    income = FEATURE_NAMES.index("log_income")
    assert np.isclose(z[:, income].std(), 1.0)
    again = FeatureScaler.from_dict(scaler.as_dict())
    assert np.allclose(again.transform(x), z)
