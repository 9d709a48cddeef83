"""Label-free neighbour aggregates of node features, for models on heterophilous graphs.

On graphs such as Tolokers a node's class is told less by its neighbours' *class*
than by how its neighbourhood looks: its size, and the spread of its neighbours'
features. These aggregates, concatenated to the node's own features, let a model
that sees one row at a time (gradient boosting, an MLP) use the graph.

Examples
--------
>>> import numpy as np
>>> x = np.array([[1.0], [2.0], [4.0]])
>>> edge_index = np.array([[0, 1, 0, 2], [1, 0, 2, 0]])
>>> neighbour_aggregates(x, edge_index).shape
(3, 12)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

__all__ = ["mean_adjacency", "neighbour_aggregates"]

FloatArray = npt.NDArray[np.float64]


def mean_adjacency(edge_index: npt.ArrayLike, num_nodes: int) -> sp.csr_matrix:
    """Row-normalised adjacency ``P`` (``P @ x`` is the mean over in-neighbours).

    Parameters
    ----------
    edge_index : array_like
        ``(2, E)`` source and target positions; a message flows from ``edge_index[0]``
        to ``edge_index[1]``.
    num_nodes : int
        Number of nodes.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(num_nodes, num_nodes)``; rows of isolated nodes are zero.
    """
    edges = np.asarray(edge_index, dtype=np.int64)
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got: {edges.shape}")
    adjacency = sp.csr_matrix((np.ones(edges.shape[1]), (edges[1], edges[0])), shape=(num_nodes, num_nodes))
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(degree, 1.0)) @ adjacency)


def _row_extreme(adjacency: sp.csr_matrix, x: FloatArray, reduce: np.ufunc) -> FloatArray:
    """Per node, the max (or min) of its neighbours' rows of ``x``; 0 for isolated nodes."""
    out = np.zeros_like(x)
    has = np.diff(adjacency.indptr) > 0
    if not has.any():
        return out
    gathered = x[adjacency.indices]
    out[has] = reduce.reduceat(gathered, adjacency.indptr[:-1][has], axis=0)
    return out


def neighbour_aggregates(x: npt.ArrayLike, edge_index: npt.ArrayLike, *, two_hop: bool = True) -> FloatArray:
    """Node features with neighbourhood statistics concatenated.

    Parameters
    ----------
    x : array_like
        ``(n, d)`` node features.
    edge_index : array_like
        ``(2, E)`` edges (give both directions for an undirected graph).
    two_hop : bool, default True
        Also append the neighbours' mean of the four one-hop statistics (mean, std,
        max, min): what the neighbourhoods of the neighbours look like.

    Returns
    -------
    numpy.ndarray
        ``(n, 10 * d + 2)`` (``6 * d + 2`` without ``two_hop``): own features; the
        neighbours' mean, standard deviation, max, min and sum; the two-hop block;
        then log(1 + degree) and the neighbours' mean log-degree. Isolated nodes get
        zeros for their neighbour statistics.
    """
    features = np.asarray(x, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"x must be 2-dimensional (nodes × features), got shape: {features.shape}")
    n = features.shape[0]
    mean_adj = mean_adjacency(edge_index, n)
    binary = mean_adj.copy()
    binary.data[:] = 1.0
    mean = mean_adj @ features
    std = np.sqrt(np.maximum(mean_adj @ features**2 - mean**2, 0.0))
    log_degree = np.log1p(np.diff(mean_adj.indptr)).astype(np.float64)[:, None]
    one_hop = np.hstack(
        [mean, std, _row_extreme(binary, features, np.maximum), _row_extreme(binary, features, np.minimum)]
    )
    blocks = [features, one_hop, binary @ features]
    if two_hop:
        blocks.append(mean_adj @ one_hop)
    blocks += [log_degree, mean_adj @ log_degree]
    return np.hstack(blocks)
