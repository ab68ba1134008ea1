r"""Settings of the downstream evaluation (:class:`DownstreamConfig`) and the rule that chooses
full-batch or mini-batch training by graph size (:func:`choose_mode`)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from leading.errors import ConfigError

__all__ = [
    "DownstreamConfig",
    "FEATURE_NORMS",
    "GRID_KEYS",
    "MODES",
    "choose_mode",
    "downstream_mode",
    "full_batch_size",
]

FEATURE_NORMS = ("none", "standardize", "l2")
GRID_KEYS = ("lr", "hidden_channels", "dropout", "input_dropout", "weight_decay", "num_layers")

#: Values of :attr:`DownstreamConfig.mode`.
MODES = ("auto", "full", "minibatch")


def full_batch_size(num_nodes: int, num_edges: int) -> int:
    r"""The size of a graph for the full-batch rule: :obj:`num_nodes + num_edges` (stored,
    directed edges). A full-batch epoch's time and memory are linear in both: per-node feature
    transforms and per-edge messages (a GAT stores :math:`E \times` hidden messages and
    :math:`E \times` heads attention scores per layer)."""
    return int(num_nodes) + int(num_edges)


def choose_mode(num_nodes: int, num_edges: int, mode: str, max_full_batch_size: int) -> str:
    r"""``"full"`` or ``"minibatch"``: :obj:`mode` itself unless it is ``"auto"``, which means
    full batch if :func:`full_batch_size` is at most :obj:`max_full_batch_size`."""
    if mode not in MODES:
        raise ConfigError(f"unknown downstream mode {mode!r}; use one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    return "full" if full_batch_size(num_nodes, num_edges) <= max_full_batch_size else "minibatch"


@dataclass
class DownstreamConfig:
    r"""Settings of :func:`~leading.eval.downstream.evaluate_downstream`.

    The six hyperparameters :obj:`lr`, :obj:`hidden_channels`, :obj:`dropout`,
    :obj:`input_dropout`, :obj:`weight_decay` and :obj:`num_layers` each take one value or a
    sequence of values; the grid is their Cartesian product (in that order) and is searched for
    every GNN.

    The defaults (two learning rates on :obj:`"l2"`-normalized embeddings) were chosen on Cora
    (20 labels per class, 500 validation and 1000 test nodes) with frozen, mean-pooled
    all-MiniLM-L6-v2 embeddings: :obj:`"l2"` had the best validation accuracy of the three
    feature normalizations, and among grids that keep GCN + GAT to about ten seconds on a
    2-core CPU the validation accuracies agreed within noise (a quarter of a point); adding
    :obj:`hidden_channels=256` or input dropout 0.5 changed validation accuracy by less than
    half a point at 1.5 to 4 times the cost.

    Args:
        epochs (int): Maximum number of training epochs. (default: :obj:`200`)
        patience (int): Stop after this many epochs without a better validation result
            (:obj:`0` disables early stopping). (default: :obj:`50`)
        lr: Learning rate(s) of Adam. (default: :obj:`(1e-2, 5e-3)`)
        hidden_channels: Hidden width(s); for GAT the total width over its heads.
            (default: :obj:`64`)
        dropout: Dropout probability(ies) of the hidden layers. (default: :obj:`0.5`)
        input_dropout: Dropout probability(ies) on the input embeddings; :obj:`None` means
            the same as :obj:`dropout`. Input dropout on a 1M-entry feature matrix costs about
            as much as the rest of an epoch on CPU, for no gain in validation accuracy on Cora
            with MiniLM embeddings. (default: :obj:`0.0`)
        weight_decay: L2 penalty(ies) of Adam. (default: :obj:`5e-4`)
        num_layers: Number(s) of layers. (default: :obj:`2`)
        feature_norm (str): Preprocessing of the embeddings: ``"standardize"`` (zero mean and
            unit variance per dimension, statistics over all nodes; no labels are used),
            ``"l2"`` (unit-norm rows) or ``"none"``. (default: :obj:`"l2"`)
        gnn_kwargs (dict): Extra model options per GNN name, e.g.
            ``{"gat": {"heads": 8}, "appnp": {"K": 10}}``.
        num_threads (int, optional): CPU threads for the duration of the call
            (:func:`torch.set_num_threads`, restored afterwards); :obj:`None` keeps the current
            setting. On a small machine that other processes also load, :obj:`1` avoids
            oversubscription, which can slow full-batch training down by an order of magnitude.
            (default: :obj:`None`)
        mode (str): ``"auto"``, ``"full"`` or ``"minibatch"`` (see the module docstring):
            auto trains full batch while nodes + stored edges are at most
            :obj:`max_full_batch_size`, on sampled mini-batches above. (default: :obj:`"auto"`)
        max_full_batch_size (int): The size limit of :obj:`"auto"` (nodes + stored edges);
            :obj:`0` always picks mini-batch. (default: :obj:`200_000`)
        fanouts (Sequence[int]): Mini-batch only, like the settings below: neighbours sampled
            per hop for training, one per layer (the last repeated for deeper models; APPNP
            samples every hop given, the MLP none); :obj:`-1` takes all neighbours.
            (default: :obj:`(10, 10)`)
        eval_fanouts (Sequence[int]): The same for sampled inference (validation and the
            predictions). (default: :obj:`(20, 20)`)
        batch_size (int): Training targets per step. (default: :obj:`1024`)
        eval_batch_size (int): Nodes per inference batch. (default: :obj:`4096`)
        minibatch_epochs (int, optional): Maximum number of epochs; :obj:`None` uses
            :obj:`epochs`. (default: :obj:`30`)
        minibatch_patience (int, optional): Early-stopping patience in epochs; :obj:`None`
            uses :obj:`patience`. (default: :obj:`5`)
        steps_per_epoch (int): Optimizer steps per epoch (between validations); they walk
            through the training targets in a seeded random order, reshuffled every pass.
            (default: :obj:`10`)
        max_valid_nodes (int, optional): Selection uses a seeded random subset of this many
            validation nodes when there are more; :obj:`None`: all. (default: :obj:`5_000`)
    """

    epochs: int = 200
    patience: int = 50
    lr: float | Sequence[float] = (1e-2, 5e-3)
    hidden_channels: int | Sequence[int] = 64
    dropout: float | Sequence[float] = 0.5
    input_dropout: float | None | Sequence[float | None] = 0.0
    weight_decay: float | Sequence[float] = 5e-4
    num_layers: int | Sequence[int] = 2
    feature_norm: str = "l2"
    gnn_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    num_threads: int | None = None
    mode: str = "auto"
    max_full_batch_size: int = 200_000
    fanouts: Sequence[int] = (10, 10)
    eval_fanouts: Sequence[int] = (20, 20)
    batch_size: int = 1024
    eval_batch_size: int = 4096
    minibatch_epochs: int | None = 30
    minibatch_patience: int | None = 5
    steps_per_epoch: int = 10
    max_valid_nodes: int | None = 5_000

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be positive, got {self.epochs}")
        if self.patience < 0:
            raise ConfigError(f"patience must be >= 0, got {self.patience}")
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.max_full_batch_size < 0:
            raise ConfigError(
                f"max_full_batch_size must be >= 0, got {self.max_full_batch_size}"
            )
        for name in ("fanouts", "eval_fanouts"):
            value = getattr(self, name)
            if isinstance(value, (int, str)) or not isinstance(value, Sequence) or not value:
                raise ConfigError(f"{name} must be a non-empty list of ints, got {value!r}")
            if any(isinstance(k, bool) or int(k) != k or k < -1 for k in value):
                raise ConfigError(f"{name}: every fanout must be an int >= 0 or -1, got {value}")
        for name in ("batch_size", "eval_batch_size", "minibatch_epochs", "steps_per_epoch",
                     "max_valid_nodes"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.minibatch_patience is not None and self.minibatch_patience < 0:
            raise ConfigError(f"minibatch_patience must be >= 0, got {self.minibatch_patience}")
        if self.feature_norm not in FEATURE_NORMS:
            raise ConfigError(
                f"unknown feature_norm {self.feature_norm!r}; use one of {', '.join(FEATURE_NORMS)}"
            )
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigError(f"num_threads must be positive, got {self.num_threads}")
        for key in GRID_KEYS:
            if not _as_values(getattr(self, key)):
                raise ConfigError(f"{key}: the grid needs at least one value")

    def grid(self) -> list[dict[str, Any]]:
        r"""All hyperparameter combinations, in search order."""
        values = [_as_values(getattr(self, key)) for key in GRID_KEYS]
        return [dict(zip(GRID_KEYS, combo, strict=True)) for combo in itertools.product(*values)]

    def mode_for(self, num_nodes: int, num_edges: int) -> str:
        r"""``"full"`` or ``"minibatch"`` for a graph of this size (see :attr:`mode`)."""
        return choose_mode(num_nodes, num_edges, self.mode, self.max_full_batch_size)


def downstream_mode(
    num_nodes: int, num_edges: int, config: DownstreamConfig | None = None
) -> str:
    r"""The training mode :func:`~leading.eval.downstream.fit_downstream` uses on a graph of
    :obj:`num_nodes` nodes and :obj:`num_edges` stored (directed) edges: ``"full"`` or
    ``"minibatch"``."""
    return (config or DownstreamConfig()).mode_for(num_nodes, num_edges)


def _as_values(v: Any) -> list[Any]:
    if isinstance(v, str) or not isinstance(v, Sequence):
        return [v]
    return list(v)
