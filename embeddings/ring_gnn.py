"""Ring scoring on the causal application graph: the model, its training and its artifact.

The graph has one node per application and an edge to it from every *earlier*
application that shares something with it (the ``others`` of its graph links: the
applicant, phone, device, bank account, address, contacts, vehicle and its driver,
as the graph stood at its own time). Messages flow forward in time only, so the
hidden state of an application, once computed at its own time, never changes: a
new application is embedded from its own feature row and its neighbours' cached
states, without retraining (:meth:`RingGnnModel.embed`), and training on the whole
history sees exactly what scoring sees.

The network is :class:`~embeddings.causal_sage_net.CausalSageNet` (residual GraphSAGE
with separate ego and neighbour weights, its states cacheable node by node) over
numeric node rows whose columns the caller names: :class:`RingTrainingGraph` carries
the names, and ``gnn_ring`` makes its rows and edges from scoring contexts
(:mod:`detectors.ring_gnn_features`). Arrays in, arrays out: this module knows
nothing of applications. Training (:func:`train_ring_gnn`) weights the loss against
class imbalance, stops early on the AUROC of the latest applications (a time-based
split), calibrates the scores on them (Platt scaling), and by default retrains on the
whole history for the epochs found. The artifact (:meth:`RingGnnModel.save`) is a folder holding the state
dict, JSON metadata (with the feature names) and the states of the applications it was
trained on; :meth:`RingGnnModel.load` refuses one trained on other features than the
caller's.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> names = tuple(f"x{i}" for i in range(6))
>>> x = rng.normal(size=(300, len(names)))
>>> neighbours = [[j for j in range(max(0, i - 3), i)] for i in range(300)]
>>> graph = RingTrainingGraph.build([str(i) for i in range(300)], np.arange(300.0), x, neighbours,
...                                 (x[:, 0] > 1.2).astype(float), feature_names=names)
>>> model = train_ring_gnn(graph, RingGnnParams(epochs=5, eval_every=1, hidden_channels=8))
>>> states, probabilities = model.node_states(graph.features, graph.edge_index)
>>> states.shape, probabilities.shape
((300, 2, 8), (300,))
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor

from embeddings.causal_sage_net import CausalSageNet, FrozenSageNet, causal_adjacency
from embeddings.scaling import FeatureScaler
from tianwang.errors import ConfigurationError
from tianwang.stats import auprc, auroc, fit_logistic, sigmoid

__all__ = [
    "ARTIFACT_FORMAT",
    "RingArtifactError",
    "RingGnnModel",
    "RingGnnParams",
    "RingTrainingGraph",
    "train_ring_gnn",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Layout version of the artifact folder; an artifact of another version is refused.
ARTIFACT_FORMAT = 1


class RingArtifactError(ConfigurationError):
    """A ring-GNN artifact is missing, broken, or made for other code (features, format)."""


@dataclass(frozen=True)
class RingGnnParams:
    """How to train: network size, optimiser, early stopping, imbalance, device.

    ``pos_weight`` multiplies the loss of fraud nodes against class imbalance; ``"balanced"``
    uses legit/fraud of the training nodes. (On the generated data, 20,000 applications, 6 %
    fraud, balancing cost 0.013 AUROC and 0.04 AUPRC on later applications: it stops early
    on a model that over-fits the few fraud nodes. Early stopping on AUROC and Platt
    scaling already cope with the imbalance, so the default is 1.) ``refit`` retrains on
    all labelled nodes (the validation ones too) for the epochs that early stopping chose.
    ``device`` ``auto`` means ``cuda`` when available.
    """

    hidden_channels: int = 64
    num_layers: int = 2
    dropout: float = 0.2
    lr: float = 3e-3
    weight_decay: float = 1e-4
    epochs: int = 300
    patience: int = 40
    eval_every: int = 5
    validation_fraction: float = 0.2
    pos_weight: float | Literal["balanced"] = 1.0
    refit: bool = True
    seed: int = 0
    device: str = "auto"
    num_threads: int = 1

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.eval_every < 1 or self.patience < 0:
            raise ValueError(f"epochs and eval_every must be at least 1 and patience non-negative, got: "
                             f"{self.epochs!r}, {self.eval_every!r}, {self.patience!r}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got: {self.validation_fraction!r}")
        if self.pos_weight != "balanced" and not (isinstance(self.pos_weight, int | float) and self.pos_weight > 0):
            raise ValueError(f"pos_weight must be positive or 'balanced', got: {self.pos_weight!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got: {self.device!r}")

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


@dataclass(frozen=True)
class RingTrainingGraph:
    """Nodes in time order, their unscaled rows, causal edges and labels (NaN: unlabelled).

    ``feature_names`` names the columns of ``features``: the model trained on the graph
    keeps them, and its artifact is refused where other columns are expected.
    """

    ids: tuple[str, ...]
    times: FloatArray
    features: FloatArray
    edge_index: npt.NDArray[np.int64]
    labels: FloatArray
    feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or self.features.shape[1] != len(self.feature_names):
            raise ValueError(f"features must have one column per feature name ({len(self.feature_names)}), "
                             f"got shape: {self.features.shape}")

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        times: npt.ArrayLike,
        features: npt.ArrayLike,
        neighbours: Sequence[Sequence[str | int]],
        labels: npt.ArrayLike,
        *,
        feature_names: Sequence[str],
    ) -> RingTrainingGraph:
        """Sort nodes by time and keep the edges from an earlier node to a later one.

        ``neighbours[i]`` names node ``i``'s linked applications by id (or position); ones
        that are not nodes, or not earlier, are dropped.
        """
        t = np.asarray(times, dtype=np.float64)
        order = sorted(range(len(ids)), key=lambda i: (t[i], ids[i]))
        position = {ids[i]: p for p, i in enumerate(order)}
        sources, targets = [], []
        for p, i in enumerate(order):
            for other in neighbours[i]:
                q = position.get(ids[other] if isinstance(other, int | np.integer) else other)
                if q is not None and q < p:
                    sources.append(q)
                    targets.append(p)
        return cls(
            ids=tuple(ids[i] for i in order),
            times=t[order],
            features=np.asarray(features, dtype=np.float64)[order],
            edge_index=np.array([sources, targets], dtype=np.int64).reshape(2, -1),
            labels=np.asarray(labels, dtype=np.float64)[order],
            feature_names=tuple(feature_names),
        )

    def split(self, validation_fraction: float) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Training and validation masks: the latest ``validation_fraction`` of labelled nodes validate."""
        labelled = np.flatnonzero(~np.isnan(self.labels))
        n_val = max(1, round(len(labelled) * validation_fraction))
        train = np.zeros(len(self.ids), dtype=bool)
        val = np.zeros(len(self.ids), dtype=bool)
        train[labelled[:-n_val]] = True
        val[labelled[-n_val:]] = True
        return train, val


@dataclass
class RingGnnModel:
    """A trained ring GNN: the network, its input scaler, its calibration, the names of its
    input columns and metadata."""

    module: CausalSageNet
    scaler: FeatureScaler
    calibration: tuple[float, float]
    feature_names: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    _frozen: FrozenSageNet | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def probability(self, logits: npt.ArrayLike) -> FloatArray:
        """Calibrated fraud probability of raw logits (Platt scaling)."""
        a, b = self.calibration
        return sigmoid(a * np.asarray(logits, dtype=np.float64) + b)

    def _tensor(self, rows: FloatArray) -> Tensor:
        return torch.as_tensor(self.scaler.transform(rows), dtype=torch.float32, device=self.device)

    def node_states(self, features: FloatArray, edge_index: npt.ArrayLike) -> tuple[np.ndarray, FloatArray]:
        """Cacheable states ``(n, L, hidden)`` (``h_0 .. h_{L-1}``) and probabilities of every node."""
        self.module.eval()
        with torch.inference_mode():
            adjacency = causal_adjacency(np.asarray(edge_index, dtype=np.int64), len(features), self.device)
            states = self.module.layer_states(self._tensor(features), adjacency)
            logits = self.module.logit(states[-1]).cpu().numpy()
            stacked = torch.stack(states[:-1], dim=1).cpu().numpy()
        return stacked, self.probability(logits)

    def embed(self, row: FloatArray, neighbour_states: np.ndarray) -> tuple[np.ndarray, float]:
        """Cacheable states ``(L, hidden)`` and probability of one new node from its row and
        its linked applications' cached states ``(k, L, hidden)``.

        It runs the network's blocks in numpy (:class:`FrozenSageNet`) on a copy of the weights
        taken at the first call (a trained model's weights do not change): for one node,
        torch's per-operation overhead costs more than the arithmetic.
        """
        if self._frozen is None:
            self._frozen = FrozenSageNet.of(self.module)
        x = self.scaler.transform(np.asarray(row, dtype=np.float64)[None, :])[0]
        states, logit = self._frozen.embed_one(x, np.asarray(neighbour_states, dtype=np.float64))
        return np.stack(states[:-1]).astype(np.float32), float(self.probability(logit))

    # -- artifact -----------------------------------------------------------------------------
    def save(self, folder: Path, states: dict[str, np.ndarray] | None = None) -> Path:
        """Write ``model.pt``, ``metadata.json`` and (optionally) ``states.npz`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.cpu() for k, v in self.module.state_dict().items()}, folder / "model.pt")
        metadata = {**self.metadata, "format_version": ARTIFACT_FORMAT, "feature_names": list(self.feature_names),
                    "scaler": self.scaler.as_dict(), "calibration": list(self.calibration)}
        (folder / "metadata.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False), encoding="utf-8")
        if states is not None:
            np.savez_compressed(folder / "states.npz", **states)  # type: ignore[arg-type]
        return folder

    @classmethod
    def load(cls, folder: Path, feature_names: Sequence[str],
             device: str = "auto") -> tuple[RingGnnModel, dict[str, np.ndarray] | None]:
        """Read an artifact folder; refuse one of another format, or trained on other columns
        than ``feature_names`` (the caller's rows), in name or order."""
        folder = Path(folder)
        try:
            metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RingArtifactError(f"cannot read ring-GNN artifact {folder}: {type(exc).__name__}: {exc}") from None
        if metadata.get("format_version") != ARTIFACT_FORMAT:
            raise RingArtifactError(f"ring-GNN artifact {folder} has format version "
                                    f"{metadata.get('format_version')!r}; this code reads {ARTIFACT_FORMAT}")
        names = metadata.get("feature_names")
        if names != list(feature_names):
            theirs, ours = set(names or ()), set(feature_names)
            raise RingArtifactError(
                f"ring-GNN artifact {folder} was trained on other features: missing here "
                f"{sorted(theirs - ours)}, new here {sorted(ours - theirs)}"
                + ("" if theirs != ours else ", same names in another order") + "; retrain it")
        shape = metadata["module"]
        module = CausalSageNet(len(feature_names), shape["hidden_channels"], shape["num_layers"],
                               shape["dropout"])
        try:
            module.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
        except (OSError, RuntimeError) as exc:
            raise RingArtifactError(f"cannot load the weights of ring-GNN artifact {folder}: {exc}") from None
        module.to(RingGnnParams(device=device).torch_device()).eval()
        states = None
        if (folder / "states.npz").is_file():
            with np.load(folder / "states.npz", allow_pickle=False) as npz:
                states = {k: npz[k] for k in npz.files}
        a, b = (float(v) for v in metadata["calibration"])
        model = cls(module, FeatureScaler.from_dict(metadata["scaler"]), (a, b), tuple(feature_names), metadata)
        return model, states


def train_ring_gnn(graph: RingTrainingGraph, params: RingGnnParams | None = None) -> RingGnnModel:
    """Train on the labelled nodes of ``graph``; early-stop and calibrate on the latest of them.

    Raises
    ------
    ValueError
        If the validation nodes do not hold both classes, or the training nodes no fraud.
    """
    params = params or RingGnnParams()
    train, val = graph.split(params.validation_fraction)
    y_all = np.nan_to_num(graph.labels)
    if len(np.unique(y_all[val])) < 2 or not y_all[train].any():
        raise ValueError("the latest labelled applications must hold fraud and legit, and the earlier ones fraud")
    device = params.torch_device()
    scaler = FeatureScaler.fit(graph.features)
    x = torch.as_tensor(scaler.transform(graph.features), dtype=torch.float32, device=device)
    adjacency = causal_adjacency(graph.edge_index, len(graph.ids), device)
    y = torch.as_tensor(y_all, dtype=torch.float32, device=device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(params.num_threads)
    try:
        module, best_epoch, val_logits = _early_stopped(x, adjacency, y, train, val, params)
        a, b = _platt(val_logits, y_all[val])
        if params.refit:
            module = _fit_epochs(x, adjacency, y, train | val, params, best_epoch + 1)
    finally:
        torch.set_num_threads(previous_threads)
    module.eval()
    val_scores = sigmoid(a * val_logits + b)
    labelled = ~np.isnan(graph.labels)
    metadata: dict[str, Any] = {
        "module": {"hidden_channels": params.hidden_channels, "num_layers": params.num_layers,
                   "dropout": params.dropout},
        "params": asdict(params),
        "data_window": {"first_submitted_at": _iso(graph.times[0]), "last_submitted_at": _iso(graph.times[-1]),
                        "validation_from": _iso(graph.times[np.flatnonzero(val)[0]])},
        "n_nodes": len(graph.ids), "n_edges": int(graph.edge_index.shape[1]),
        "n_labelled": int(labelled.sum()), "n_fraud": int(y_all[labelled].sum()),
        "fraud_rate": float(y_all[labelled].mean()),
        "metrics": {"validation_auroc": auroc(y_all[val] > 0, val_logits),
                    "validation_auprc": auprc(y_all[val] > 0, val_logits),
                    "validation_brier": float(np.mean((val_scores - y_all[val]) ** 2)),
                    "n_validation": int(val.sum()), "best_epoch": best_epoch, "refit": params.refit},
        "trained_on": str(device),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    log.info("ring gnn trained", extra={"best_epoch": best_epoch, **metadata["metrics"]})
    return RingGnnModel(module, scaler, (a, b), graph.feature_names, metadata)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds")


def _new_module(in_channels: int, params: RingGnnParams, device: torch.device) -> CausalSageNet:
    torch.manual_seed(params.seed)
    return CausalSageNet(in_channels, params.hidden_channels, params.num_layers, params.dropout).to(device)


def _step(module: CausalSageNet, optimizer: torch.optim.Optimizer, x: Tensor, adjacency: Tensor, y: Tensor,
          rows: Tensor, pos_weight: Tensor) -> None:
    module.train()
    optimizer.zero_grad()
    logits = module(x, adjacency)[rows]
    F.binary_cross_entropy_with_logits(logits, y[rows], pos_weight=pos_weight).backward()
    optimizer.step()


def _pos_weight(y: Tensor, rows: npt.NDArray[np.bool_], params: RingGnnParams) -> Tensor:
    if params.pos_weight != "balanced":
        return torch.tensor(float(params.pos_weight), device=y.device)
    fraud = float(y[torch.as_tensor(rows, device=y.device)].sum())
    return torch.tensor((int(rows.sum()) - fraud) / max(fraud, 1.0), device=y.device)


def _early_stopped(x: Tensor, adjacency: Tensor, y: Tensor, train: npt.NDArray[np.bool_], val: npt.NDArray[np.bool_],
                   params: RingGnnParams) -> tuple[CausalSageNet, int, FloatArray]:
    """Train on ``train`` nodes; keep the epoch with the best validation AUROC, and its validation logits."""
    module = _new_module(x.shape[1], params, x.device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    rows, pos_weight = torch.as_tensor(train, device=x.device), _pos_weight(y, train, params)
    val_rows, val_labels = torch.as_tensor(val, device=x.device), y[torch.as_tensor(val, device=x.device)].cpu()
    best = (-1.0, -1, copy.deepcopy(module.state_dict()), np.zeros(int(val.sum())))
    for epoch in range(params.epochs):
        _step(module, optimizer, x, adjacency, y, rows, pos_weight)
        if (epoch + 1) % params.eval_every and epoch + 1 != params.epochs:
            continue
        module.eval()
        with torch.no_grad():
            logits = module(x, adjacency)[val_rows].cpu().numpy().astype(np.float64)
        score = auroc(val_labels.numpy() > 0, logits)
        if score > best[0]:
            best = (score, epoch, copy.deepcopy(module.state_dict()), logits)
        elif epoch - best[1] >= params.patience:
            break
    module.load_state_dict(best[2])
    return module, best[1], best[3]


def _fit_epochs(x: Tensor, adjacency: Tensor, y: Tensor, rows_mask: npt.NDArray[np.bool_], params: RingGnnParams,
                epochs: int) -> CausalSageNet:
    module = _new_module(x.shape[1], params, x.device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    rows, pos_weight = torch.as_tensor(rows_mask, device=x.device), _pos_weight(y, rows_mask, params)
    for _ in range(epochs):
        _step(module, optimizer, x, adjacency, y, rows, pos_weight)
    return module


def _platt(logits: FloatArray, labels: FloatArray) -> tuple[float, float]:
    """Scale and shift of the logits that give calibrated probabilities on the validation nodes."""
    weights, bias = fit_logistic(logits[:, None], labels, l2=1e-3, anchor=[1.0], bias=0.0)
    return float(weights[0]), bias
