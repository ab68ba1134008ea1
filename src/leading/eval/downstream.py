r"""The downstream evaluation protocol: GNNs trained on frozen node embeddings.

After a language model is fine-tuned, every node text is encoded once; the embeddings are then
fixed node features :obj:`x`, and each downstream GNN (GCN, GAT, ...) is trained on them for
semi-supervised node classification.

Protocol (:func:`evaluate_downstream`):

* Training with Adam, weight decay and dropout, full batch or on sampled mini-batches (below),
  stopped early after :obj:`patience` epochs without improvement on the validation set.
* Model selection uses the validation set only. Within a run, the selected epoch is the one
  with the highest validation accuracy (ties: lower validation loss, then the earlier epoch);
  across the hyperparameter grid, the configuration with the highest validation accuracy at its
  selected epoch wins (ties: lower validation loss, then the earlier configuration in grid
  order). The predictions of the selected epoch are stored, and test labels are read exactly
  once, at the end, to score the winner. The reported test accuracy is therefore the test
  accuracy *at the epoch of best validation accuracy* of the configuration with the best
  validation accuracy.
* Every configuration is trained from :obj:`torch.manual_seed(seed)` (inside a forked RNG, so
  the caller's random state is untouched); on CPU the results are deterministic.
* Weight decay is Adam's coupled L2 penalty on all parameters.

Full batch or mini-batch (:attr:`DownstreamConfig.mode`, :func:`downstream_mode`):

* ``"auto"`` (the default) trains **full batch** when the graph's size, nodes plus stored
  (directed) edges, is at most :attr:`DownstreamConfig.max_full_batch_size` (200,000), and on
  **mini-batches** otherwise; ``"full"`` and ``"minibatch"`` force one. Cora (2,708 + 10,556)
  and PubMed (19,717 + 88,648) train full batch, through exactly the code of before this choice
  existed (their results are bit-identical); ogbn-arxiv (169,343 + 2.3M) and larger graphs train
  on mini-batches.
* Why nodes + edges, and why 200,000: a full-batch epoch (training step and evaluation pass) is
  linear in both, per-node feature transforms and per-edge messages (GCN and GAT gather an
  :math:`E \times` hidden message tensor per layer, GAT also :math:`E \times` heads attention
  scores). Measured with one thread on the 2-core CPU (random graphs of average degree 10,
  :obj:`d = 32`, hidden 64), a full-batch epoch costs GCN + GAT 0.15 s at 30,000 (Cora-like),
  0.5 s at 110,000, 1.3 s at 220,000 and 2.0 s at 330,000; the default grid runs up to 400
  epochs per GNN, so beyond about 200,000 full batch takes over ten minutes and its memory
  grows without bound (a 1M-node, 10M-edge GAT needs gigabytes of messages per layer). A
  mini-batch epoch (10 steps and a validation) costs the same at any graph size, about 1 s for
  GCN + GAT with the per-class split below, and its memory is bounded by the sampled subgraphs.
* **Mini-batch** (:mod:`leading.eval.minibatch`): an epoch is
  :attr:`~DownstreamConfig.steps_per_epoch` (10) optimizer steps on
  :attr:`~DownstreamConfig.batch_size` (1024) training targets, walking through them in a seeded
  random order; each batch trains on its computation subgraph from the project's
  :class:`~leading.graph.sampler.NeighborSampler` with :attr:`~DownstreamConfig.fanouts` (10,
  10) neighbours per hop, one hop per layer (a GCN normalizes by the sampled subgraph's degrees,
  the usual approximation). Validation (after every epoch) and the final predictions are
  **sampled inference** with the wider :attr:`~DownstreamConfig.eval_fanouts` (20, 20), in
  batches of 4096 nodes; the validation subgraphs are sampled once and reused. Selection runs on
  at most :attr:`~DownstreamConfig.max_valid_nodes` (5,000) validation nodes, a seeded subset of
  them (the reported ``valid_acc`` is on that subset), and uses the same grid with fewer epochs:
  at most :attr:`~DownstreamConfig.minibatch_epochs` (30, i.e. 300 steps), patience
  :attr:`~DownstreamConfig.minibatch_patience` (5). Test labels are read once, at the end, as in
  full batch. Samplers and shuffles draw from generators seeded with :obj:`seed`, so results are
  deterministic per seed.
* Measured (``python benchmarks/scale/downstream_1m.py --threads 1``, GCN + GAT, one seed, on
  the 2-core CPU shared with other jobs): 1,000,000 nodes, 10M stored edges, :obj:`d = 32`
  features with a planted label signal, 5 classes, per-class split (100 train / 500 valid /
  1000 test): **20 s** for both GNNs after building the graph, peak RSS 1.3 GB (1.1 GB of it
  the graph and features), test accuracy GCN 96.8%, GAT 94.5%; with ``--threads 2`` 15 s
  and the same results while the machine was otherwise idle, but several times slower than
  one thread while other jobs loaded it (oversubscription, as in full batch). With a
  1% / 1% / 98% split (``--split ratio``: 10,000 training, 10,000 validation and 980,000 test
  nodes): 1018 s, peak RSS 4.0 GB, test accuracy 97.4% / 96.9%. There the predictions
  dominate: sampled inference costs about a 2-hop neighbourhood per predicted node, 0.23 ms
  (GCN) and 0.33 ms (GAT) per node (batches of 4096; 16384 are 10-20% faster at twice the
  memory), so predicting 980,000 test nodes, or every node in GLEM's GNN steps, takes minutes
  per GNN. Exact layer-wise inference would be the cure; it is not implemented. With
  :obj:`eval_fanouts=(10, 10)` the per-class accuracies were 95.3 / 92.2%, with (15, 10)
  95.9 / 94.7%.

Example::

    from leading.data import load_dataset, per_class_split
    from leading.eval import evaluate_downstream, format_table

    graph = load_dataset("cora")
    x = ...  # [N, d] node embeddings from the (fine-tuned) language model
    scores = {"gcn": [], "gat": []}
    for seed in range(5):
        splits = per_class_split(graph.y, seed=seed)
        res = evaluate_downstream(x, graph.edge_index, graph.y, splits, seed=seed)
        for gnn in scores:
            scores[gnn].append(res[gnn]["test_acc"])
    print(format_table({"frozen LM": scores}))
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from leading.errors import ConfigError
from leading.eval.downstream_config import (
    FEATURE_NORMS,
    MODES,
    DownstreamConfig,
    downstream_mode,
)
from leading.eval.metrics import accuracy
from leading.eval.minibatch import fit_downstream_minibatch
from leading.graph.gnn import build_gnn
from leading.seeding import seeded

__all__ = [
    "DownstreamConfig",
    "FEATURE_NORMS",
    "MODES",
    "downstream_mode",
    "evaluate_downstream",
    "fit_downstream",
    "normalize_features",
    "torch_num_threads",
]

# the graph is fixed during full-batch training, so its normalization can be cached
_FIXED_GRAPH_KWARGS: dict[str, dict[str, Any]] = {
    "gcn": {"cached": True},
    "appnp": {"cached": True},
}


def normalize_features(x: Tensor, how: str = "standardize") -> Tensor:
    r"""Preprocesses node embeddings.

    Args:
        x (Tensor): Node features :obj:`[N, d]`.
        how (str): ``"standardize"`` (per-dimension zero mean, unit variance over all :obj:`N`
            nodes), ``"l2"`` (every row scaled to unit Euclidean norm) or ``"none"``.

    Returns:
        Tensor: :obj:`[N, d]` float tensor.
    """
    x = x.float()
    if how == "none":
        return x
    if how == "standardize":
        return (x - x.mean(0)) / x.std(0, unbiased=False).clamp_min(1e-12)
    if how == "l2":
        return F.normalize(x, p=2.0, dim=-1)
    raise ConfigError(f"unknown feature_norm {how!r}; use one of {', '.join(FEATURE_NORMS)}")


def _as_index(split: Tensor, num_nodes: int, name: str) -> Tensor:
    split = torch.as_tensor(split)
    if split.dtype == torch.bool:
        if split.numel() != num_nodes:
            raise ConfigError(
                f"split {name!r}: mask has {split.numel()} entries, expected {num_nodes}"
            )
        split = split.nonzero().view(-1)
    split = split.long().view(-1)
    if split.numel() == 0:
        raise ConfigError(f"split {name!r} is empty")
    if int(split.min()) < 0 or int(split.max()) >= num_nodes:
        raise ConfigError(f"split {name!r} contains node ids outside [0, {num_nodes})")
    return split


@contextlib.contextmanager
def torch_num_threads(num_threads: int | None) -> Iterator[None]:
    r"""Sets :func:`torch.set_num_threads` for the duration of a block (:obj:`None`: unchanged)
    and restores the previous setting afterwards."""
    threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _fit(
    model: torch.nn.Module,
    x: Tensor,
    edge_index: Tensor,
    y_train: Tensor,
    train_idx: Tensor,
    y_valid: Tensor,
    valid_idx: Tensor,
    lr: float,
    weight_decay: float,
    epochs: int,
    patience: int,
) -> dict[str, Any]:
    r"""Trains one model; returns the selected epoch, its validation scores and the predictions
    (and logits) of all nodes at that epoch. Only training and validation labels are passed in."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best_acc, best_loss, best_epoch, best_pred, best_out = -1.0, math.inf, 0, None, None
    since_best, epoch = 0, 0
    for epoch in range(1, epochs + 1):
        model.train()
        optimizer.zero_grad()
        out = model(x, edge_index)
        F.cross_entropy(out[train_idx], y_train).backward()
        optimizer.step()

        model.eval()
        with torch.no_grad():
            out = model(x, edge_index)
            valid_loss = float(F.cross_entropy(out[valid_idx], y_valid))
            valid_acc = accuracy(out[valid_idx], y_valid)
        if valid_acc > best_acc or (valid_acc == best_acc and valid_loss < best_loss):
            best_acc, best_loss, best_epoch = valid_acc, valid_loss, epoch
            best_pred, best_out = out.argmax(dim=-1), out
            since_best = 0
        else:
            since_best += 1
            if patience and since_best >= patience:
                break
    return {
        "valid_acc": best_acc,
        "valid_loss": best_loss,
        "best_epoch": best_epoch,
        "epochs_run": epoch,
        "pred": best_pred,
        "logits": best_out,
    }


def fit_downstream(
    gnn: str,
    x: Tensor,
    edge_index: Tensor,
    num_classes: int,
    train_idx: Tensor,
    y_train: Tensor,
    valid_idx: Tensor,
    y_valid: Tensor,
    seed: int = 0,
    config: DownstreamConfig | None = None,
    predict_idx: Tensor | None = None,
) -> dict[str, Any]:
    r"""Trains one GNN on fixed node features for every configuration of the grid and keeps the
    best on validation (see the module docstring); no test label is passed in. Each
    configuration starts from :obj:`torch.manual_seed(seed)` in a forked random state.

    Full batch or mini-batch as :meth:`DownstreamConfig.mode_for` decides for the graph's size.

    :func:`evaluate_downstream` runs it per GNN and scores the winner on the test nodes; GLEM's
    GNN steps (:mod:`leading.train.glem`) run it with pseudo-labels among the training targets.

    Args:
        gnn (str): A :func:`~leading.graph.gnn.build_gnn` name.
        x (Tensor): Node features :obj:`[N, d]`, already preprocessed
            (:func:`normalize_features`); the caller sets the thread count
            (:func:`torch_num_threads`).
        edge_index (Tensor): Edges :obj:`[2, E]` on :obj:`x`'s device.
        num_classes (int): Output width.
        train_idx (Tensor): Training targets :obj:`[n]` and :obj:`y_train` their labels.
        y_train (Tensor): :obj:`[n]`.
        valid_idx (Tensor): Validation nodes :obj:`[m]` and :obj:`y_valid` their labels.
        y_valid (Tensor): :obj:`[m]`.
        seed (int): Seed of weight initialization, dropout and (mini-batch) sampling.
        config (DownstreamConfig, optional): Training settings and grid (the thread setting
            and the feature normalization are the caller's).
        predict_idx (Tensor, optional): The nodes whose predictions are returned, in this
            order; :obj:`None`: every node. Mini-batch mode infers only these.

    Returns:
        dict: For the chosen configuration: ``valid_acc``, ``valid_loss``, ``best_epoch``,
        ``epochs_run``, ``pred`` and ``logits`` (rows of :obj:`predict_idx`, every node by
        default, at the selected epoch) and ``hparams``; ``grid``, the validation results of
        every configuration; and ``mode`` (``"full"`` or ``"minibatch"``).
    """
    config = config or DownstreamConfig()
    key = str(gnn).lower()
    mode = config.mode_for(x.size(0), edge_index.size(1))
    if mode == "minibatch":
        sampled = fit_downstream_minibatch(
            key, x, edge_index, num_classes, train_idx, y_train, valid_idx, y_valid, seed,
            config, predict_idx,
        )
        return {**sampled, "mode": mode}
    kwargs = {**_FIXED_GRAPH_KWARGS.get(key, {}), **config.gnn_kwargs.get(key, {})}
    best: dict[str, Any] | None = None
    grid = []
    for hp in config.grid():
        with seeded(seed, x.device):
            model = build_gnn(
                key, x.size(1), hp["hidden_channels"], num_classes,
                num_layers=hp["num_layers"], dropout=hp["dropout"],
                input_dropout=hp["input_dropout"], **kwargs,
            ).to(x.device)
            run = _fit(
                model, x, edge_index, y_train, train_idx, y_valid, valid_idx, hp["lr"],
                hp["weight_decay"], config.epochs, config.patience,
            )
        grid.append(
            {"hparams": hp, **{k: run[k] for k in ("valid_acc", "valid_loss", "best_epoch")}}
        )
        if best is None or (run["valid_acc"], -run["valid_loss"]) > (
            best["valid_acc"], -best["valid_loss"]
        ):
            best = {**run, "hparams": hp}
    assert best is not None
    if predict_idx is not None:
        best["pred"], best["logits"] = best["pred"][predict_idx], best["logits"][predict_idx]
    return {**best, "grid": grid, "mode": mode}


def evaluate_downstream(
    x: Tensor,
    edge_index: Tensor,
    y: Tensor,
    splits: Mapping[str, Tensor],
    gnns: Sequence[str] = ("gcn", "gat"),
    seed: int = 0,
    config: DownstreamConfig | None = None,
) -> dict[str, dict[str, Any]]:
    r"""Trains downstream GNNs on frozen node embeddings and scores them (see the module
    docstring for the protocol).

    Args:
        x (Tensor): Node embeddings :obj:`[N, d]`.
        edge_index (Tensor): Edges :obj:`[2, E]` (both directions for an undirected graph).
        y (Tensor): Class labels :obj:`[N]`.
        splits (Mapping[str, Tensor]): ``train``, ``valid`` and ``test`` node ids (or boolean
            masks of length :obj:`N`).
        gnns (Sequence[str]): Names accepted by :func:`~leading.graph.gnn.build_gnn`.
            (default: :obj:`("gcn", "gat")`)
        seed (int): Seed of weight initialization and dropout. (default: :obj:`0`)
        config (DownstreamConfig, optional): Training settings and hyperparameter grid.

    Returns:
        dict: For each GNN name, ``mode`` (``"full"`` or ``"minibatch"``, see
        :attr:`DownstreamConfig.mode`), ``valid_acc`` and ``valid_loss`` (selected epoch of
        the chosen configuration), ``test_acc`` (at that epoch), ``best_epoch`` (1-based),
        ``epochs_run``, ``hparams`` (the chosen configuration), ``grid`` (validation results of
        every configuration, no test scores) and ``time_s``.
    """
    config = config or DownstreamConfig()
    missing = [k for k in ("train", "valid", "test") if k not in splits]
    if missing:
        raise ConfigError(f"splits lack {missing}; need 'train', 'valid' and 'test'")
    if x.dim() != 2:
        raise ConfigError(f"x must be [N, d], got {tuple(x.shape)}")
    num_nodes = x.size(0)
    y = torch.as_tensor(y).view(-1).long().to(x.device)
    if y.numel() != num_nodes:
        raise ConfigError(f"y has {y.numel()} labels for {num_nodes} nodes")
    idx = {k: _as_index(splits[k], num_nodes, k).to(x.device) for k in ("train", "valid", "test")}
    num_classes = int(y.max()) + 1
    x = normalize_features(x, config.feature_norm)
    edge_index = torch.as_tensor(edge_index).long().to(x.device)
    results = {}
    with torch_num_threads(config.num_threads):
        for name in gnns:
            start = time.perf_counter()
            best = fit_downstream(
                str(name), x, edge_index, num_classes, idx["train"], y[idx["train"]],
                idx["valid"], y[idx["valid"]], seed, config, predict_idx=idx["test"],
            )
            # the only place test labels are read
            test_acc = accuracy(best["pred"], y[idx["test"]])
            results[str(name)] = {
                "mode": best["mode"],
                "valid_acc": best["valid_acc"],
                "valid_loss": best["valid_loss"],
                "test_acc": test_acc,
                "best_epoch": best["best_epoch"],
                "epochs_run": best["epochs_run"],
                "hparams": dict(best["hparams"]),
                "grid": best["grid"],
                "time_s": time.perf_counter() - start,
            }
    return results
