"""The network behind the ring GNN: GraphSAGE whose states can be cached node by node.

:class:`CausalSageNet` is :class:`~embeddings.sage_sep_net.SageSepNet` (residual
GraphSAGE with separate ego and neighbour weights) that also gives every layer's
states, and aggregates over :func:`causal_adjacency`, the row-normalised transposed
adjacency as a sparse tensor. On a causal graph (edges from earlier nodes to later
ones) a node's states depend only on earlier nodes, so they can be cached when it
arrives; :class:`FrozenSageNet` is the same blocks in numpy, to embed one new node
from its row and its in-neighbours' cached states. Training and the artifact are in
:mod:`embeddings.ring_gnn`.

Examples
--------
>>> import numpy as np, torch
>>> net = CausalSageNet(in_channels=3, hidden_channels=4).eval()
>>> x = torch.ones(3, 3)
>>> states = net.layer_states(x, causal_adjacency(np.array([[0, 1], [1, 2]]), 3, "cpu"))
>>> len(states), tuple(states[-1].shape)
(3, (3, 4))
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from scipy.special import erf
from torch import Tensor

from embeddings.aggregates import mean_adjacency
from embeddings.sage_sep_net import SageSepNet

__all__ = ["CausalSageNet", "FrozenSageNet", "causal_adjacency"]

FloatArray = npt.NDArray[np.float64]


class CausalSageNet(SageSepNet):
    """:class:`SageSepNet` with layer-by-layer states, to embed one new node from cached neighbours.

    The state of a node before block ``l`` is ``h_l`` (``h_0`` is the encoded row);
    block ``l`` reads ``h_l`` of the node and of its in-neighbours. On a causal graph a
    node's states depend only on earlier nodes, so they can be cached when it arrives.

    It takes the graph as the row-normalised transposed adjacency (a sparse CSR tensor,
    :func:`causal_adjacency`) and sums over it, which is the neighbours' mean: on a CPU the
    backward pass of a sum is many times faster than that of torch's mean reduction.
    One new node is embedded by :class:`FrozenSageNet`, the same blocks in numpy.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.2) -> None:
        super().__init__(in_channels, hidden_channels, num_layers, dropout)
        for conv in self.convs:
            conv.aggr = "sum"  # type: ignore[assignment]  # over the row-normalised adjacency

    @property
    def num_layers(self) -> int:
        return len(self.convs)

    @property
    def hidden_channels(self) -> int:
        return int(self.encoder.out_features)

    def layer_states(self, x: Tensor, edge_index: Tensor) -> list[Tensor]:
        """``[h_0, ..., h_L]`` of every node (full graph)."""
        states = [self.encoder(x)]
        for norm, conv in zip(self.norms, self.convs, strict=True):
            h = states[-1]
            update = F.gelu(conv(norm(h), edge_index))
            states.append(h + F.dropout(update, p=self.dropout, training=self.training))
        return states

    def logit(self, last_state: Tensor) -> Tensor:
        return self.head(last_state).squeeze(-1)


@dataclass(frozen=True)
class FrozenSageNet:
    """A :class:`CausalSageNet`'s weights as numpy arrays, for embedding one node at a time.

    For a star (the node and its ``k`` in-neighbours) SAGEConv is ``lin_l(mean of the
    neighbours) + lin_r(the node)``, and the mean over no neighbours is 0.
    """

    encoder: tuple[FloatArray, FloatArray]
    norms: tuple[tuple[FloatArray, FloatArray, float], ...]
    lin_l: tuple[tuple[FloatArray, FloatArray], ...]
    lin_r: tuple[FloatArray, ...]
    head_norm: tuple[FloatArray, FloatArray, float]
    head: tuple[FloatArray, float]

    @classmethod
    def of(cls, module: CausalSageNet) -> FrozenSageNet:
        def array(t: Any) -> FloatArray:
            return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)

        def norm(n: Any) -> tuple[FloatArray, FloatArray, float]:
            return array(n.weight), array(n.bias), float(n.eps)

        head_norm, head = module.head[0], module.head[1]
        convs: list[Any] = list(module.convs)
        return cls(
            encoder=(array(module.encoder.weight), array(module.encoder.bias)),
            norms=tuple(norm(n) for n in module.norms),
            lin_l=tuple((array(c.lin_l.weight), array(c.lin_l.bias)) for c in convs),
            lin_r=tuple(array(c.lin_r.weight) for c in convs),
            head_norm=norm(head_norm),
            head=(array(head.weight)[0], float(array(head.bias)[0])),
        )

    @staticmethod
    def _layer_norm(x: FloatArray, norm: tuple[FloatArray, FloatArray, float]) -> FloatArray:
        weight, bias, eps = norm
        # np.add.reduce / n is what .mean() computes, without its Python wrapper (a tenth of the time here)
        n = x.shape[-1]
        centred = x - np.add.reduce(x, axis=-1, keepdims=True) / n
        return centred / np.sqrt(np.add.reduce(centred * centred, axis=-1, keepdims=True) / n + eps) * weight + bias

    def embed_one(self, x: FloatArray, neighbour_states: FloatArray) -> tuple[list[FloatArray], float]:
        """``[h_0, ..., h_L]`` (each ``(hidden,)``) of one node from its scaled row ``(in,)`` and its
        ``k`` in-neighbours' cached states ``(k, L, hidden)`` (``k`` may be 0), and the logit."""
        w, b = self.encoder
        states = [w @ x + b]
        for layer, norm in enumerate(self.norms):
            own = self._layer_norm(states[-1], norm)
            if len(neighbour_states):
                normed = self._layer_norm(neighbour_states[:, layer], norm)
                neighbours = np.add.reduce(normed, axis=0) / len(neighbour_states)
            else:
                neighbours = np.zeros_like(own)
            (wl, bl), wr = self.lin_l[layer], self.lin_r[layer]
            update = wl @ neighbours + bl + wr @ own
            states.append(states[-1] + 0.5 * update * (1.0 + erf(update / math.sqrt(2.0))))  # exact GELU
        wh, bh = self.head
        return states, float(wh @ self._layer_norm(states[-1], self.head_norm) + bh)


def causal_adjacency(edge_index: npt.NDArray[np.int64], num_nodes: int, device: torch.device | str) -> Tensor:
    """The row-normalised transposed adjacency (``P @ h`` is the mean over in-neighbours) as a
    sparse CSR tensor: what :class:`CausalSageNet` aggregates with."""
    p = mean_adjacency(edge_index, num_nodes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # sparse CSR support is flagged beta
        return torch.sparse_csr_tensor(torch.from_numpy(p.indptr).long(), torch.from_numpy(p.indices).long(),
                                       torch.from_numpy(p.data).float(), size=p.shape, device=device)
