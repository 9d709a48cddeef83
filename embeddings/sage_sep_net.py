"""The torch module of :class:`embeddings.gnn_node_classifier.GnnNodeClassifier`.

A GraphSAGE network in the form that suits heterophilous graphs (Platonov et al.,
ICLR 2023, "-sep" models): the ego embedding and the neighbour mean go through
separate weights (``SAGEConv`` with its root weight), inside pre-norm residual
blocks (LayerNorm → SAGEConv → GELU → dropout, added back to the input).
"""

from __future__ import annotations

import warnings

import torch.nn.functional as F
from torch import Tensor, nn

with warnings.catch_warnings():
    # torch_geometric scripts a few helpers at import; torch 2.9+ flags torch.jit.script as deprecated
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    from torch_geometric.nn import SAGEConv
    from torch_geometric.typing import Adj

__all__ = ["SageSepNet"]


class SageSepNet(nn.Module):
    """Residual GraphSAGE with separate ego and neighbour weights; one logit per node.

    Parameters
    ----------
    in_channels : int
        Input features per node.
    hidden_channels : int, default 64
    num_layers : int, default 2
        Message-passing blocks.
    dropout : float, default 0.2
    """

    def __init__(self, in_channels: int, hidden_channels: int = 64, num_layers: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        if in_channels < 1 or hidden_channels < 1:
            raise ValueError(f"channels must be positive, got: in={in_channels!r}, hidden={hidden_channels!r}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got: {num_layers!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got: {dropout!r}")
        self.dropout = dropout
        self.encoder = nn.Linear(in_channels, hidden_channels)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_channels) for _ in range(num_layers))
        self.convs = nn.ModuleList(
            SAGEConv(hidden_channels, hidden_channels, aggr="mean", root_weight=True) for _ in range(num_layers)
        )
        self.head = nn.Sequential(nn.LayerNorm(hidden_channels), nn.Linear(hidden_channels, 1))

    def forward(self, x: Tensor, edge_index: Adj) -> Tensor:
        """Logits ``(num_nodes,)`` from features ``(num_nodes, in_channels)`` and edges."""
        h = self.encoder(x)
        for norm, conv in zip(self.norms, self.convs, strict=True):
            update = F.gelu(conv(norm(h), edge_index))
            h = h + F.dropout(update, p=self.dropout, training=self.training)
        return self.head(h).squeeze(-1)
