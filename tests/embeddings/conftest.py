"""Seeded data for the embeddings tests: a small graph whose label is planted in the neighbourhood."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tianwang.settings import get_settings


@dataclass(frozen=True)
class PlantedGraph:
    """Nodes whose label is 1 when their neighbours' first feature is high on average."""

    features: npt.NDArray[np.float32]
    edge_index: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    train_mask: npt.NDArray[np.bool_]
    val_mask: npt.NDArray[np.bool_]
    test_mask: npt.NDArray[np.bool_]


def planted_graph(num_nodes: int = 600, degree: int = 8, seed: int = 0) -> PlantedGraph:
    """A random graph; a node's own features carry no signal, its neighbours' do."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(num_nodes, 4)).astype(np.float32)
    sources = np.repeat(np.arange(num_nodes), degree // 2)
    targets = rng.integers(0, num_nodes, size=len(sources))
    keep = sources != targets
    edges = np.stack([sources[keep], targets[keep]])
    edge_index = np.concatenate([edges, edges[::-1]], axis=1).astype(np.int64)
    totals = np.zeros(num_nodes)
    counts = np.zeros(num_nodes)
    np.add.at(totals, edge_index[1], features[edge_index[0], 0])
    np.add.at(counts, edge_index[1], 1.0)
    neighbour_mean = totals / np.maximum(counts, 1.0)
    labels = (neighbour_mean > np.quantile(neighbour_mean, 0.75)).astype(np.int64)
    order = rng.permutation(num_nodes)
    train_mask = np.zeros(num_nodes, bool)
    val_mask = np.zeros(num_nodes, bool)
    test_mask = np.zeros(num_nodes, bool)
    train_mask[order[: num_nodes // 2]] = True
    val_mask[order[num_nodes // 2 : 3 * num_nodes // 4]] = True
    test_mask[order[3 * num_nodes // 4 :]] = True
    return PlantedGraph(features, edge_index, labels, train_mask, val_mask, test_mask)


@pytest.fixture(scope="session")
def planted() -> PlantedGraph:
    return planted_graph()


def data_dir_with(name: str) -> Path:
    """The data folder if it holds ``name``, else skip the test saying why."""
    folder = get_settings().data_dir
    if folder is None:
        pytest.skip("no data folder: set TIANWANG_DATA_DIR to the folder of the public data sets")
    if not (folder / name).is_file():
        pytest.skip(f"{name} is not in {folder}")
    return folder
