r"""Node classification on the two-pipeline trainer: target nodes, cross-entropy, accuracy.

The targets are the training nodes and, beyond the paper (off with ``pseudo_labels=0``), the most
confident unlabelled nodes, labelled by the warmed-up head's propagated predictions over the
memory (renewed before every LM epoch with ``pseudo_relabel``, or given from outside: GLEM's).
No validation or test label is read by training: the labels of pseudo-labelled nodes are the
head's predictions.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leading.data.graph import TextAttributedGraph
from leading.text.encoder import TextEncoder
from leading.text.tokens import TokenizedTexts
from leading.train.refresh import influence_weights
from leading.train.task import Task
from leading.train.trainer import Trainer

__all__ = ["LeadingTrainer", "NodeTask"]


class NodeTask(Task):
    r"""Node classification: batches of target nodes, cross-entropy on their logits.

    Args:
        graph (TextAttributedGraph): The graph (with labels).
        splits (dict): ``train``/``valid``/``test`` node ids.
        pseudo_fraction (float): Fraction of the non-training nodes labelled by the head after
            its warm-up and added to the targets (``pseudo_labels``).
        relabel (bool): Renew those pseudo-labels before every LM epoch after the first.
        alpha (float): Teleport probability of the propagation (for :attr:`influence`).
        pseudo_labels (tuple[Tensor, Tensor], optional): ``(node ids, labels)`` given from
            outside (GLEM's): these nodes become targets after the head warm-up instead of the
            head's most confident ones. No training node may be among them.

    Attributes:
        labels (Tensor): :obj:`[N]` training labels (train split and pseudo-labels; -1 elsewhere).
        targets (Tensor): The current target node ids.
        influence (Tensor): :obj:`[N]` weight of each memory row on the targets' predictions
            (:func:`~leading.train.refresh.influence_weights`).
    """

    name = "LEADING"
    select_metric = "acc"

    def __init__(
        self,
        graph: TextAttributedGraph,
        splits: dict[str, Tensor],
        pseudo_fraction: float = 0.0,
        relabel: bool = False,
        alpha: float = 0.1,
        pseudo_labels: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        if graph.y is None:
            raise ValueError(f"{graph.name}: node classification needs labels")
        self.graph, self.splits, self.relabel, self.alpha = graph, splits, relabel, alpha
        self.edge_index, self.num_nodes = graph.edge_index, graph.num_nodes
        self.out_channels = graph.num_classes
        self.eval_parts = tuple(splits)
        n, train = graph.num_nodes, splits["train"]
        # Training labels: the train split's, plus (after the head warm-up) pseudo-labels of
        # confident unlabelled nodes; -1 elsewhere, so no validation/test label is ever read.
        self.labels = torch.full((n,), -1, dtype=torch.long)
        self.labels[train] = graph.y[train]
        self.num_pseudo = int(round(pseudo_fraction * (n - train.numel())))
        self.given_pseudo = None
        if pseudo_labels is not None:
            ids, labels = (torch.as_tensor(t).long().view(-1).cpu() for t in pseudo_labels)
            if ids.numel() != labels.numel() or ids.unique().numel() != ids.numel():
                raise ValueError("pseudo_labels: expected distinct node ids, one label each")
            if bool(torch.isin(ids, train).any()):
                raise ValueError("pseudo_labels: training nodes keep their own labels")
            if ids.numel() and (labels.min() < 0 or labels.max() >= graph.num_classes):
                raise ValueError(f"pseudo_labels: labels outside [0, {graph.num_classes})")
            self.given_pseudo, self.num_pseudo = (ids, labels), ids.numel()
        self.refresh = None
        self.budget: int | None = None

    # ------------------------------------------------------------- targets
    def set_epoch_budget(self, targets: int | None) -> None:
        self.budget = targets

    def num_items(self) -> int:
        num_targets = self.splits["train"].numel() + self.num_pseudo
        return num_targets if self.budget is None else min(self.budget, num_targets)

    def setup(self, trainer: Trainer) -> None:
        self.refresh = trainer.refresh
        self.influence_order = trainer.cfg.refresh_order == "influence"
        self.set_targets(self.splits["train"][:0])

    def set_targets(self, pseudo: Tensor) -> None:
        r"""Makes the training nodes and the :obj:`pseudo`-labelled node ids the targets, and
        updates each memory row's weight on their predictions (:attr:`influence`): for the
        influence-weighted staleness metric and, with ``refresh_order="influence"``, for
        pipeline 2's draws. The targets themselves are left to pipeline 1, which re-encodes them
        every epoch, unless too few other nodes remain."""
        self.targets = torch.cat([self.splits["train"], pseudo.sort().values])
        w = influence_weights(self.edge_index, self.num_nodes, self.targets, self.alpha)
        if self.influence_order and self.refresh.size > 0:
            others = w.clone()
            others[self.targets] = 0.0
            enough = int((others > 0).sum()) >= self.refresh.size
            self.refresh.set_weights(others if enough else w)
        self.influence = w

    @torch.no_grad()
    def pseudo_label(self, trainer: Trainer) -> None:
        r"""Labels the :obj:`num_pseudo` most confident non-training nodes with the head's
        propagated predictions over the memory and makes them targets too (or the given
        pseudo-labels), replacing any previous pseudo-labels."""
        if self.num_pseudo == 0:
            return
        train = self.splits["train"]
        self.labels.fill_(-1)
        self.labels[train] = self.graph.y[train]
        if self.given_pseudo is not None:  # from outside (GLEM), not from this head
            ids, labels = self.given_pseudo
            self.labels[ids] = labels
            self.set_targets(ids)
            return
        conf, pred = trainer.predict().softmax(-1).cpu().max(-1)
        conf[train] = -1.0
        chosen = conf.argsort(descending=True)[: self.num_pseudo]
        self.labels[chosen] = pred[chosen]
        self.set_targets(chosen)

    def after_warmup(self, trainer: Trainer) -> None:
        self.pseudo_label(trainer)

    def before_epoch(self, trainer: Trainer) -> None:
        if self.relabel and trainer.epoch > 1 and self.given_pseudo is None:
            self.pseudo_label(trainer)

    # ------------------------------------------------------------- batches
    def warmup_batch(self) -> Tensor:
        return self.splits["train"]

    def epoch_targets(self, generator: torch.Generator) -> Tensor:
        r"""The targets of one LM epoch: all of them, or within the budget a fresh random subset,
        training nodes first (then pseudo-labelled ones)."""
        if self.budget is None or self.targets.numel() <= self.budget:
            return self.targets
        k, train = self.budget, self.splits["train"]
        if train.numel() >= k:
            return train[torch.randperm(train.numel(), generator=generator)[:k]]
        pseudo = self.targets[train.numel():]
        pick = torch.randperm(pseudo.numel(), generator=generator)[: k - train.numel()]
        return torch.cat([train, pseudo[pick]])

    def epoch_batches(self, generator: torch.Generator, batch_size: int) -> list[Tensor]:
        targets = self.epoch_targets(generator)
        perm = targets[torch.randperm(targets.numel(), generator=generator)]
        return list(perm.split(batch_size))

    def batch_targets(self, batch: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return batch, self.labels[batch]

    def loss(self, out: Tensor, info: Tensor, model: nn.ModuleDict) -> Tensor:
        return F.cross_entropy(out, info.to(out.device))

    # ---------------------------------------------------------- evaluation
    def metrics(self, out: Tensor, parts: tuple[str, ...], model: nn.ModuleDict) -> dict:
        pred = out.argmax(-1).cpu()
        return {
            f"{k}_acc": float((pred[self.splits[k]] == self.graph.y[self.splits[k]]).float().mean())
            for k in parts
        }

    def reencode_ids(self, head_kind: str) -> Tensor | None:
        # the graph-free head reads only a node's own embedding
        if head_kind == "mlp":
            return torch.cat([self.splits["valid"], self.splits["test"]])
        return None

    def record(self, staleness: Tensor) -> dict[str, float]:
        # staleness weighted by each row's weight on the targets' predictions
        w = self.influence
        return {"memory_staleness_influence": float((staleness * w).sum() / w.sum())}

    def stats(self, encodings: float, grad_encodings: float) -> dict:
        return {"encodings_per_target_per_epoch": encodings / self.num_items()}

    def state_dict(self) -> dict:
        return {"labels": self.labels, "targets": self.targets, "influence": self.influence}

    def load_state_dict(self, state: dict) -> None:
        self.labels, self.targets = state["labels"], state["targets"]
        self.influence = state["influence"]


class LeadingTrainer(Trainer):
    r"""Fine-tunes :obj:`encoder` for node classification on :obj:`graph` with LEADING: the
    :class:`~leading.train.trainer.Trainer` on a :class:`NodeTask`.

    Args:
        graph (TextAttributedGraph): The graph (with labels).
        splits (dict): ``train``/``valid``/``test`` node ids; the targets are ``train``, plus
            the most confident unlabelled nodes with pseudo-labels when ``pseudo_labels > 0``.
        encoder (TextEncoder): The LM to fine-tune (modified in place).
        config (Config): Settings (training, head, refresh and propagation groups).
        run_dir (str or Path, optional): Where checkpoints and ``metrics.csv`` go.
        seed (int): Seed of every random choice (batches, sampling, dropout, head init).
        tokens (TokenizedTexts, optional): The node texts already tokenized.
        pseudo_labels (tuple[Tensor, Tensor], optional): Pseudo-labels given from outside
            (:class:`NodeTask`); then ``config.pseudo_labels`` is ignored.
    """

    def __init__(
        self,
        graph: TextAttributedGraph,
        splits: dict[str, Tensor],
        encoder: TextEncoder,
        config,
        run_dir: str | Path | None = None,
        seed: int = 0,
        tokens: TokenizedTexts | None = None,
        pseudo_labels: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        task = NodeTask(
            graph, splits, config.pseudo_labels, config.pseudo_relabel, config.alpha,
            pseudo_labels,
        )
        tokens = tokens if tokens is not None else encoder.tokenize(graph.texts)
        super().__init__(task, encoder, tokens, config, run_dir, seed)

    @property
    def targets(self) -> Tensor:
        r"""The current target node ids (training nodes, then pseudo-labelled ones)."""
        return self.task.targets

    @property
    def labels(self) -> Tensor:
        r""":obj:`[N]` training labels (-1 where a node is not a target)."""
        return self.task.labels
