"""The ring GNN: it learns fraud that only its neighbours show, embeds new nodes like the full graph
does, and its artifact round-trips and refuses what does not match."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from embeddings.ring_gnn import (
    ARTIFACT_FORMAT,
    RingArtifactError,
    RingGnnModel,
    RingGnnParams,
    RingTrainingGraph,
    train_ring_gnn,
)
from tianwang.stats import auroc

#: Column names of the test rows (as many as ``gnn_ring``'s rows have: the model only sees arrays).
NAMES = tuple(f"x{i:03d}" for i in range(100))
FAST = RingGnnParams(hidden_channels=16, epochs=60, eval_every=2, patience=20, lr=1e-2, seed=3)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """As the detector runs it: one application is a few tiny products, a thread pool only waits."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def causal_ring_graph(num_nodes: int = 800, seed: int = 0) -> RingTrainingGraph:
    """Nodes in time order; a node's own row carries no signal. Fraud nodes link to earlier
    "organiser" nodes, which stand out by a feature of their own; legit nodes link to
    random earlier nodes."""
    rng = np.random.default_rng(seed)
    width = len(NAMES)
    features = rng.normal(size=(num_nodes, width))
    organiser = rng.random(num_nodes) < 0.1
    features[:, 0] = np.where(organiser, rng.normal(3.0, 0.5, num_nodes), rng.normal(0.0, 0.5, num_nodes))
    fraud = (rng.random(num_nodes) < 0.15) & ~organiser
    fraud[:40] = False
    neighbours: list[list[int]] = []
    for i in range(num_nodes):
        earlier = np.arange(i)
        pool = earlier[organiser[:i]] if fraud[i] else earlier
        neighbours.append(rng.choice(pool, size=min(3, len(pool)), replace=False).tolist() if len(pool) else [])
    ids = [f"A{i:05d}" for i in range(num_nodes)]
    return RingTrainingGraph.build(ids, np.arange(num_nodes, dtype=float), features, neighbours,
                                   fraud.astype(float), feature_names=NAMES)


@pytest.fixture(scope="module")
def ring_graph() -> RingTrainingGraph:
    return causal_ring_graph()


@pytest.fixture(scope="module")
def trained(ring_graph: RingTrainingGraph) -> tuple[RingGnnModel, RingTrainingGraph]:
    n_train = 560
    history = RingTrainingGraph(ring_graph.ids[:n_train], ring_graph.times[:n_train],
                                ring_graph.features[:n_train],
                                ring_graph.edge_index[:, ring_graph.edge_index[1] < n_train],
                                ring_graph.labels[:n_train], ring_graph.feature_names)
    return train_ring_gnn(history, FAST), ring_graph


def test_learns_fraud_seen_only_through_neighbours(trained: tuple[RingGnnModel, RingTrainingGraph]) -> None:
    model, graph = trained
    _, probabilities = model.node_states(graph.features, graph.edge_index)
    later = np.arange(len(graph.ids)) >= 560
    assert probabilities.shape == (len(graph.ids),)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert auroc(graph.labels[later] > 0, probabilities[later]) >= 0.9
    no_links = np.zeros((2, 0), dtype=np.int64)
    _, blind = model.node_states(graph.features, no_links)
    assert auroc(graph.labels[later] > 0, blind[later]) < 0.7  # the signal is in the links
    metrics = model.metadata["metrics"]
    assert metrics["validation_auroc"] >= 0.8 and metrics["best_epoch"] >= 0
    assert model.metadata["n_labelled"] == 560


def test_a_new_node_embedded_from_cached_states_matches_the_full_graph(
        trained: tuple[RingGnnModel, RingTrainingGraph]) -> None:
    model, graph = trained
    states, probabilities = model.node_states(graph.features, graph.edge_index)
    cache: dict[int, np.ndarray] = {}
    for node in range(len(graph.ids)):
        sources = graph.edge_index[0, graph.edge_index[1] == node]
        neighbour_states = np.stack([cache[s] for s in sources]) if len(sources) else np.zeros((0, 2, 16))
        cache[node], probability = model.embed(graph.features[node], neighbour_states)
        assert np.allclose(cache[node], states[node], atol=1e-5)
        assert probability == pytest.approx(probabilities[node], abs=1e-5)


def test_training_graph_keeps_only_edges_from_earlier_nodes() -> None:
    graph = RingTrainingGraph.build(["b", "a", "c"], [2.0, 1.0, 3.0], np.eye(3), [["a", "c"], ["b"], ["a", "x"]],
                                    [1.0, 0.0, np.nan], feature_names=("p", "q", "r"))
    assert graph.ids == ("a", "b", "c")
    assert sorted(map(tuple, graph.edge_index.T.tolist())) == [(0, 1), (0, 2)]
    train, val = graph.split(0.5)
    assert train.tolist() == [True, False, False] and val.tolist() == [False, True, False]


def test_training_graph_needs_one_name_per_feature_column() -> None:
    with pytest.raises(ValueError, match="one column per feature name"):
        RingTrainingGraph.build(["a", "b"], [1.0, 2.0], np.eye(2), [[], ["a"]], [0.0, 1.0], feature_names=("p",))


def test_artifact_round_trip_gives_identical_scores(trained: tuple[RingGnnModel, RingTrainingGraph],
                                                    tmp_path: Path) -> None:
    model, graph = trained
    _, before = model.node_states(graph.features, graph.edge_index)
    model.save(tmp_path / "ring", {"ids": np.array(graph.ids)})
    loaded, states = RingGnnModel.load(tmp_path / "ring", NAMES, device="cpu")
    _, after = loaded.node_states(graph.features, graph.edge_index)
    np.testing.assert_array_equal(before, after)
    assert states is not None and states["ids"].tolist() == list(graph.ids)
    metadata = json.loads((tmp_path / "ring" / "metadata.json").read_text())
    assert metadata["format_version"] == ARTIFACT_FORMAT
    assert metadata["feature_names"] == list(NAMES) and loaded.feature_names == NAMES
    assert set(metadata["data_window"]) == {"first_submitted_at", "last_submitted_at", "validation_from"}
    assert {"created_at", "metrics", "params", "fraud_rate"} <= set(metadata)


@pytest.mark.parametrize(("change", "message"), [
    ({"format_version": ARTIFACT_FORMAT + 1}, "format version"),
    ({"feature_names": [*NAMES[:-1], "something_else"]}, "trained on other features"),
    ({"feature_names": [NAMES[1], NAMES[0], *NAMES[2:]]}, "same names in another order"),
])
def test_an_artifact_for_other_code_is_refused(trained: tuple[RingGnnModel, RingTrainingGraph], tmp_path: Path,
                                               change: dict[str, object], message: str) -> None:
    model, _ = trained
    folder = model.save(tmp_path / "ring")
    metadata = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**metadata, **change}))
    with pytest.raises(RingArtifactError, match=message):
        RingGnnModel.load(folder, NAMES)


def test_an_artifact_is_refused_by_a_caller_whose_rows_have_other_columns(
        trained: tuple[RingGnnModel, RingTrainingGraph], tmp_path: Path) -> None:
    model, _ = trained
    folder = model.save(tmp_path / "ring")
    with pytest.raises(RingArtifactError, match=r"missing here \['x099'\], new here \[\]"):
        RingGnnModel.load(folder, NAMES[:-1])


def test_a_missing_artifact_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RingArtifactError, match="cannot read"):
        RingGnnModel.load(tmp_path / "nothing", NAMES)


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"validation_fraction": 1.0}, {"device": "tpu"},
                                 {"pos_weight": -1.0}])
def test_bad_params_fail_when_built(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        RingGnnParams(**bad)  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_trains_on_the_gpu_when_there_is_one(ring_graph: RingTrainingGraph) -> None:
    model = train_ring_gnn(ring_graph, RingGnnParams(hidden_channels=8, epochs=4, device="cuda"))
    assert model.device.type == "cuda" and model.metadata["trained_on"].startswith("cuda")
