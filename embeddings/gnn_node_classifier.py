"""Transductive node classification with :class:`embeddings.sage_sep_net.SageSepNet`.

Full-batch training on one graph, early stopping on the validation nodes' AUROC;
the fitted object keeps the scores of every node at the best epoch.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(50, 4)).astype("float32")
>>> edge_index = np.array([np.arange(49), np.arange(1, 50)])
>>> labels = (x[:, 0] > 0).astype(int)
>>> mask = np.arange(50) < 30
>>> model = GnnNodeClassifier(epochs=5, eval_every=1).fit(x, edge_index, labels, mask, ~mask)
>>> model.node_scores_.shape
(50,)
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from embeddings.sage_sep_net import SageSepNet

__all__ = ["GnnNodeClassifier"]

logger = logging.getLogger(__name__)


class GnnNodeClassifier:
    """Fit a :class:`SageSepNet` on labelled nodes of one graph.

    Parameters
    ----------
    hidden_channels : int, default 64
    num_layers : int, default 2
    dropout : float, default 0.2
    lr : float, default 3e-3
    weight_decay : float, default 1e-4
    epochs : int, default 200
        Epochs at most.
    patience : int, default 50
        Epochs without a better validation AUROC before stopping.
    eval_every : int, default 5
        Epochs between validation checks.
    standardize : bool, default True
        Scale features to zero mean and unit variance (statistics over all nodes,
        which use no label).
    seed : int, default 0
    num_threads : int, default 2
        ``torch.set_num_threads`` while fitting.

    Attributes
    ----------
    module_ : SageSepNet
        The network at the best validation epoch.
    node_scores_ : numpy.ndarray
        ``(num_nodes,)`` fraud probability of every node at the best epoch.
    best_epoch_ : int
    best_val_auroc_ : float
    """

    supports_edge_weight = False

    def __init__(
        self,
        *,
        hidden_channels: int = 64,
        num_layers: int = 2,
        dropout: float = 0.2,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        epochs: int = 200,
        patience: int = 50,
        eval_every: int = 5,
        standardize: bool = True,
        seed: int = 0,
        num_threads: int = 2,
    ) -> None:
        if epochs < 1 or eval_every < 1 or patience < 0:
            raise ValueError(
                f"epochs and eval_every must be at least 1 and patience non-negative, got: "
                f"epochs={epochs!r}, eval_every={eval_every!r}, patience={patience!r}"
            )
        if lr <= 0:
            raise ValueError(f"lr must be positive, got: {lr!r}")
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.patience = patience
        self.eval_every = eval_every
        self.standardize = standardize
        self.seed = seed
        self.num_threads = num_threads
        self.best_epoch_ = -1
        self.best_val_auroc_ = float("nan")

    def fit(
        self,
        features: npt.ArrayLike,
        edge_index: npt.ArrayLike,
        labels: npt.ArrayLike,
        train_mask: npt.ArrayLike,
        val_mask: npt.ArrayLike,
    ) -> GnnNodeClassifier:
        """Train on ``train_mask`` nodes, keep the epoch with the best AUROC on ``val_mask`` nodes."""
        x_np = np.asarray(features, dtype=np.float32)
        if self.standardize:
            x_np = (x_np - x_np.mean(axis=0)) / (x_np.std(axis=0) + 1e-6)
        y_np = np.asarray(labels, dtype=np.int64)
        train = torch.as_tensor(np.asarray(train_mask, dtype=bool))
        val = np.asarray(val_mask, dtype=bool)
        if not train.any() or len(np.unique(y_np[val])) < 2:
            raise ValueError("train_mask must select nodes and val_mask nodes of both classes")
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            self._train(
                torch.from_numpy(x_np),
                torch.as_tensor(np.asarray(edge_index, dtype=np.int64)),
                torch.from_numpy(y_np).float(),
                train,
                y_np[val],
                val,
            )
        finally:
            torch.set_num_threads(previous_threads)
        return self

    def _train(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        y: torch.Tensor,
        train: torch.Tensor,
        val_labels: npt.NDArray[np.int64],
        val: npt.NDArray[np.bool_],
    ) -> None:
        torch.manual_seed(self.seed)
        module = SageSepNet(x.shape[1], self.hidden_channels, self.num_layers, self.dropout)
        optimizer = torch.optim.AdamW(module.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        best_state = copy.deepcopy(module.state_dict())
        best_scores = np.zeros(x.shape[0])
        self.best_val_auroc_, self.best_epoch_ = -1.0, -1
        for epoch in range(self.epochs):
            module.train()
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(module(x, edge_index)[train], y[train])
            loss.backward()
            optimizer.step()
            if (epoch + 1) % self.eval_every and epoch + 1 != self.epochs:
                continue
            module.eval()
            with torch.no_grad():
                scores = torch.sigmoid(module(x, edge_index)).numpy().astype(np.float64)
            val_auroc = float(roc_auc_score(val_labels, scores[val]))
            if val_auroc > self.best_val_auroc_:
                self.best_val_auroc_, self.best_epoch_ = val_auroc, epoch
                best_state, best_scores = copy.deepcopy(module.state_dict()), scores
            elif epoch - self.best_epoch_ >= self.patience:
                break
        module.load_state_dict(best_state)
        logger.debug("gnn fitted", extra={"best_epoch": self.best_epoch_, "val_auroc": self.best_val_auroc_})
        self.module_ = module
        self.node_scores_ = best_scores
