r"""Mini-batch (neighbour-sampling) training and inference of the downstream GNNs; the rule that
picks it over full-batch training is :func:`~leading.eval.downstream_config.choose_mode`.

:func:`~leading.eval.downstream.fit_downstream` trains full batch while the graph is small and
switches to this module's :func:`fit_minibatch` on large graphs; the protocol, the rule and the
measurements behind the defaults are documented in :mod:`leading.eval.downstream`.

* **Training**: an epoch is :obj:`steps_per_epoch` optimizer steps on batches of
  :obj:`batch_size` training targets, taken in a random order (a seeded generator) that is
  reshuffled after every pass over the targets; each batch samples its
  :obj:`len(fanouts)`-hop computation subgraph with the project's
  :class:`~leading.graph.sampler.NeighborSampler` (targets first, local edges), runs the model
  on the subgraph's features and takes the cross-entropy of the target rows. A GCN on a sampled
  subgraph normalizes by the subgraph's degrees (the usual approximation, as with PyG's
  :obj:`NeighborLoader`).
* **Inference** (validation during selection, then the predicted nodes) is *sampled inference*
  with the wider :obj:`eval_fanouts`: the computation subgraph of each batch of nodes is sampled
  from a generator seeded with :obj:`seed`. The validation subgraphs are sampled once and reused
  at every epoch and for every configuration, so validation scores differ between epochs only
  through the weights.
* Everything random comes from :obj:`seed`: the samplers' and the shuffle's own generators, and
  dropout from :func:`torch.manual_seed` in a forked RNG (set by the caller); results are
  deterministic per seed on CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leading.errors import ConfigError
from leading.eval.downstream_config import DownstreamConfig
from leading.eval.metrics import accuracy
from leading.graph.gnn import build_gnn
from leading.graph.sampler import CSRGraph, NeighborSampler, SampledSubgraph
from leading.seeding import seeded

__all__ = [
    "fit_downstream_minibatch",
    "hop_fanouts",
    "model_fanouts",
    "fit_minibatch",
    "predict_sampled",
    "sample_fixed",
]

def hop_fanouts(fanouts: Sequence[int], hops: int) -> list[int]:
    r"""The first :obj:`hops` fanouts, the last one repeated if there are fewer."""
    fanouts = [int(k) for k in fanouts]
    if hops <= 0:
        return []
    if not fanouts:
        raise ConfigError("fanouts: need at least one value (one per layer)")
    return (fanouts + [fanouts[-1]] * hops)[:hops]


def _forward(model: nn.Module, x: Tensor, sub: SampledSubgraph) -> Tensor:
    r"""Logits of the subgraph's targets."""
    return model(x[sub.node_ids], sub.edge_index)[: sub.num_targets]


def sample_fixed(
    sampler: NeighborSampler, nodes: Tensor, batch_size: int
) -> list[SampledSubgraph]:
    r"""Samples the computation subgraphs of :obj:`nodes` in consecutive batches, once (for
    inference repeated with changing weights)."""
    return [sampler.sample(nodes[i : i + batch_size]) for i in range(0, nodes.numel(), batch_size)]


@torch.no_grad()
def predict_sampled(
    model: nn.Module,
    x: Tensor,
    subgraphs: Sequence[SampledSubgraph] | None = None,
    sampler: NeighborSampler | None = None,
    nodes: Tensor | None = None,
    batch_size: int = 4096,
) -> Tensor:
    r"""Logits :obj:`[M, C]` of nodes in eval mode, by sampled inference: over pre-sampled
    :obj:`subgraphs`, or over :obj:`nodes` sampled batch by batch with :obj:`sampler` (nothing
    is kept between batches)."""
    model.eval()
    if subgraphs is not None:
        return torch.cat([_forward(model, x, sub) for sub in subgraphs])
    assert sampler is not None and nodes is not None
    outs = [
        _forward(model, x, sampler.sample(nodes[i : i + batch_size]))
        for i in range(0, nodes.numel(), batch_size)
    ]
    return torch.cat(outs) if outs else x.new_empty(0, 0)


def fit_minibatch(
    model: nn.Module,
    x: Tensor,
    graph: CSRGraph,
    y_train: Tensor,
    train_idx: Tensor,
    y_valid: Tensor,
    valid_subgraphs: Sequence[SampledSubgraph],
    lr: float,
    weight_decay: float,
    epochs: int,
    patience: int,
    fanouts: Sequence[int],
    batch_size: int,
    steps_per_epoch: int,
    seed: int,
) -> dict[str, Any]:
    r"""Trains one model on sampled mini-batches and keeps the weights of the epoch with the best
    validation accuracy (ties: lower validation loss, then the earlier epoch), loaded into
    :obj:`model` on return.

    Args:
        model (nn.Module): A fresh :func:`~leading.graph.gnn.build_gnn` model.
        x (Tensor): Preprocessed features :obj:`[N, d]`.
        graph (CSRGraph): The graph, for the training sampler.
        y_train (Tensor): Labels :obj:`[n]` of :obj:`train_idx` :obj:`[n]` (ids may repeat).
        train_idx (Tensor): Training targets.
        y_valid (Tensor): Labels of the targets of :obj:`valid_subgraphs`, in their order.
        valid_subgraphs (Sequence[SampledSubgraph]): Validation nodes, sampled once.
        lr (float): Adam learning rate.
        weight_decay (float): Adam's L2 penalty.
        epochs (int): Maximum number of epochs.
        patience (int): Epochs without a better validation result before stopping (:obj:`0`:
            never).
        fanouts (Sequence[int]): Neighbours sampled per hop for the training batches.
        batch_size (int): Training targets per step.
        steps_per_epoch (int): Optimizer steps between two validations. The steps walk through
            the training targets in a random order, reshuffled after every pass, so an epoch
            is a fraction of a pass on a large training set and several passes on a small one.
        seed (int): Seed of the training sampler and of the shuffle (dropout is the caller's
            global RNG).

    Returns:
        dict: ``valid_acc``, ``valid_loss``, ``best_epoch`` (1-based) and ``epochs_run``.
    """
    sampler = NeighborSampler(graph, fanouts=fanouts, seed=seed)
    shuffle = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = train_idx.numel()
    order, pos = torch.empty(0, dtype=torch.long), n  # the current pass over the targets
    best_acc, best_loss, best_epoch, best_state = -1.0, math.inf, 0, None
    since_best, epoch = 0, 0
    for epoch in range(1, epochs + 1):
        model.train()
        for _ in range(steps_per_epoch):
            if pos >= n:  # a new pass: reshuffle
                order, pos = torch.randperm(n, generator=shuffle).to(train_idx.device), 0
            batch = order[pos : pos + batch_size]
            pos += batch_size
            # the sampler wants distinct targets; a repeated id (e.g. a pseudo-label on a
            # training node) is sampled once and its logits are used for every occurrence
            targets, inverse = torch.unique(train_idx[batch], return_inverse=True)
            sub = sampler.sample(targets)
            optimizer.zero_grad()
            out = _forward(model, x, sub)[inverse]
            F.cross_entropy(out, y_train[batch]).backward()
            optimizer.step()
        out = predict_sampled(model, x, valid_subgraphs)
        valid_loss = float(F.cross_entropy(out, y_valid))
        valid_acc = accuracy(out, y_valid)
        if valid_acc > best_acc or (valid_acc == best_acc and valid_loss < best_loss):
            best_acc, best_loss, best_epoch = valid_acc, valid_loss, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            since_best = 0
        else:
            since_best += 1
            if patience and since_best >= patience:
                break
    assert best_state is not None
    model.load_state_dict(best_state)
    return {
        "valid_acc": best_acc,
        "valid_loss": best_loss,
        "best_epoch": best_epoch,
        "epochs_run": epoch,
    }


def model_fanouts(key: str, num_layers: int, fanouts: Sequence[int]) -> list[int]:
    r"""Fanouts of the sampled subgraphs of a model: one hop per layer of a message-passing GNN,
    every given fanout for APPNP (its layers are an MLP's), none for the MLP."""
    if key == "mlp":
        return []
    if key == "appnp":
        return [int(k) for k in fanouts]
    return hop_fanouts(fanouts, num_layers)


def fit_downstream_minibatch(
    key: str,
    x: Tensor,
    edge_index: Tensor,
    num_classes: int,
    train_idx: Tensor,
    y_train: Tensor,
    valid_idx: Tensor,
    y_valid: Tensor,
    seed: int,
    config: DownstreamConfig,
    predict_idx: Tensor | None,
) -> dict[str, Any]:
    r""":func:`~leading.eval.downstream.fit_downstream` on sampled mini-batches (this module)."""
    graph = CSRGraph(edge_index, x.size(0))
    kwargs = config.gnn_kwargs.get(key, {})  # no cached normalization: every batch differs
    epochs = config.minibatch_epochs or config.epochs
    patience = config.patience if config.minibatch_patience is None else config.minibatch_patience
    if config.max_valid_nodes is not None and valid_idx.numel() > config.max_valid_nodes:
        # selection on a fixed, seeded subset of the validation nodes (their labels only)
        pick = torch.randperm(valid_idx.numel(), generator=torch.Generator().manual_seed(seed))
        pick = pick[: config.max_valid_nodes].sort().values.to(valid_idx.device)
        valid_idx, y_valid = valid_idx[pick], y_valid[pick]
    eval_subgraphs: dict[tuple[int, ...], list] = {}  # validation subgraphs per fanouts
    best: dict[str, Any] | None = None
    best_model: torch.nn.Module | None = None
    grid = []
    for hp in config.grid():
        hops = tuple(model_fanouts(key, hp["num_layers"], config.eval_fanouts))
        if hops not in eval_subgraphs:
            sampler = NeighborSampler(graph, fanouts=hops, seed=seed)
            eval_subgraphs[hops] = sample_fixed(sampler, valid_idx, config.eval_batch_size)
        with seeded(seed, x.device):
            model = build_gnn(
                key, x.size(1), hp["hidden_channels"], num_classes,
                num_layers=hp["num_layers"], dropout=hp["dropout"],
                input_dropout=hp["input_dropout"], **kwargs,
            ).to(x.device)
            run = fit_minibatch(
                model, x, graph, y_train, train_idx, y_valid, eval_subgraphs[hops], hp["lr"],
                hp["weight_decay"], epochs, patience,
                model_fanouts(key, hp["num_layers"], config.fanouts), config.batch_size,
                config.steps_per_epoch, seed,
            )
        grid.append(
            {"hparams": hp, **{k: run[k] for k in ("valid_acc", "valid_loss", "best_epoch")}}
        )
        if best is None or (run["valid_acc"], -run["valid_loss"]) > (
            best["valid_acc"], -best["valid_loss"]
        ):
            best, best_model = {**run, "hparams": hp}, model
    assert best is not None and best_model is not None
    del eval_subgraphs
    nodes = torch.arange(x.size(0), device=x.device) if predict_idx is None else predict_idx
    hops = model_fanouts(key, best["hparams"]["num_layers"], config.eval_fanouts)
    sampler = NeighborSampler(graph, fanouts=hops, seed=seed)
    # targets must be distinct for the sampler: infer the unique ids, then map back
    uniq, inverse = torch.unique(nodes, return_inverse=True)
    logits = predict_sampled(
        best_model, x, sampler=sampler, nodes=uniq, batch_size=config.eval_batch_size
    )[inverse]
    return {**best, "pred": logits.argmax(dim=-1), "logits": logits, "grid": grid}
