"""What importing the models loads: embeddings/ takes arrays and needs nothing above it, and the
scoring path never loads the public-data evaluation (scikit-learn is a development dependency)."""

from __future__ import annotations

import subprocess
import sys

_EVALUATION = ("sklearn", "embeddings.public_eval", "embeddings.stacking", "embeddings.boosted_node_classifier",
               "embeddings.gnn_node_classifier")


def _loaded_after(imports: str) -> set[str]:
    code = f"import sys\nimport {imports}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_runtime_models_import_no_layer_above_them() -> None:
    loaded = _loaded_after("embeddings.ring_gnn, embeddings.similarity, embeddings.similarity_file")
    above = sorted(m for m in loaded if m.split(".")[0] in ("detectors", "api")
                   or m.startswith(("tianwang.scoring", "tianwang.ingest", "tianwang.cli")))
    assert above == []


def test_scoring_with_the_graph_models_loads_no_public_data_evaluation() -> None:
    loaded = _loaded_after("tianwang.runtime, tianwang.backtest, detectors.registry, "
                           "detectors.gnn_ring, detectors.known_fraud_similarity, embeddings.ring_gnn, "
                           "embeddings.similarity")
    assert "embeddings.ring_gnn" in loaded  # the check below would pass vacuously otherwise
    assert sorted(m for m in loaded if m.startswith(_EVALUATION)) == []

