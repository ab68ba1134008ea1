r"""LEADING for link prediction: the two-pipeline trainer with edges as targets.

Each LM training step takes a mini-batch of :obj:`batch_size` training edges :math:`(u, v)`
(each randomly oriented) and :obj:`link_negatives` corrupted destinations :math:`(u, w)` per
edge, with :math:`\{u, w\}` not a training edge. Then, as in Algorithm 1 of the paper:

1. **Pipeline 2** encodes a batch of nodes from a cycling random order of all nodes, without
   gradient, into the :class:`~leading.train.memory.EmbeddingMemory` (lines 5-6).
2. **Pipeline 1** encodes the *targets*, the distinct endpoints of the positive and negative
   pairs (at most :math:`(2 + k)\,B` nodes), with gradient and writes them to memory (lines 7-8);
   every other node is read from memory (line 9); the graph head
   (:class:`~leading.graph.head.EndToEndHead`, by default MLP + implicit APPNP propagation,
   output size :obj:`link_dim`) runs on ``[targets | memory]`` over the *training* edges only
   (lines 10-11); a link decoder (dot product or MLP, :mod:`leading.graph.link_decoder`) scores
   the pairs, and the binary cross-entropy

   .. math::
       \mathcal{L} = -\frac{1}{|P| + |N|} \Big( \sum_{(u,v) \in P} \log \sigma(s_{uv}) +
       \sum_{(u,w) \in N} \log (1 - \sigma(s_{uw})) \Big)

   back-propagates into the LM through the target rows only.

The message-passing graph is :meth:`LinkSplit.message_passing_edge_index`: validation and test
edges are never propagated over, in training or in evaluation.

Everything else is the loop of :class:`~leading.train.trainer.Trainer`, as for node
classification: prefill, head (and decoder) warm-up on the frozen memory (full batch over all
training edges, fresh negatives every epoch), model selection by validation AUC, early stopping,
checkpoints and ``resume``, head refit.

Cost cap: an LM epoch visits at most ``link_edges_per_epoch`` training edges (a fresh random
subset each epoch), so the cost of an epoch does not grow with the training split: Cora's "high"
split (4,486 training edges) costs per epoch what its "low" split (527) does.

Not supported here: ``grad_hops != 0`` (GAS / coupled variants).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leading.data.graph import TextAttributedGraph
from leading.data.link_splits import LinkSplit
from leading.data.negative_sampling import EdgeSet, sample_negative_targets
from leading.errors import ConfigError, DataError
from leading.eval.link import evaluate_link, metric_names
from leading.graph.link_decoder import build_link_decoder
from leading.text.encoder import TextEncoder
from leading.text.tokens import TokenizedTexts
from leading.train.task import Task
from leading.train.trainer import Trainer

__all__ = ["LinkTask", "LinkTrainer", "SELECT_METRIC"]

#: Validation metric of model selection (head warm-up and LM epochs).
SELECT_METRIC = "auc"


class LinkTask(Task):
    r"""Link prediction: batches of training edges, each with :obj:`negatives` corrupted
    destinations; binary cross-entropy on the decoder's pair scores; AUC, MRR and Hits@K.

    Args:
        split (LinkSplit): Training positives, held-out positives and their fixed negatives.
        negatives (int): Corrupted destinations per positive edge (``link_negatives``).
        edges_per_epoch (int, optional): Training edges per LM epoch (a fresh random subset
            each epoch; :obj:`None`: all).
        hits_k (list[int]): The :math:`K` of the reported Hits@K.

    Attributes:
        edge_index (Tensor): The message-passing graph :obj:`[2, E]`: training edges only.
    """

    name = "LEADING (links)"
    select_metric = SELECT_METRIC
    eval_parts = ("valid", "test")

    def __init__(
        self,
        split: LinkSplit,
        negatives: int = 1,
        edges_per_epoch: int | None = None,
        hits_k: list[int] | tuple[int, ...] = (10,),
        out_channels: int = 64,
    ) -> None:
        self.split, self.negatives, self.hits_k = split, negatives, hits_k
        self.num_nodes, self.out_channels = split.num_nodes, out_channels
        self.edge_index = split.message_passing_edge_index()
        self.train_edges = split.train
        self.exclude = EdgeSet(self.edge_index, split.num_nodes, "training edges")
        num_train = self.train_edges.size(1)
        self.edges_per_epoch = num_train if edges_per_epoch is None else min(
            num_train, edges_per_epoch
        )

    def build_modules(self, cfg) -> dict[str, nn.Module]:
        return {"decoder": build_link_decoder(cfg.link_decoder, cfg.link_dim, cfg.hidden,
                                              cfg.dropout)}

    def num_items(self) -> int:
        return self.edges_per_epoch

    def pairs(self, edges: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        r"""The supervised pairs of a batch of training edges :obj:`[2, B]`: the edges, each
        oriented at random, then :obj:`negatives` corrupted destinations per edge, drawn from
        :obj:`generator`.

        Returns:
            tuple: pairs :obj:`[2, B (1 + k)]` and their labels :obj:`[B (1 + k)]` (1, then 0).
        """
        k = self.negatives
        flip = torch.rand(edges.size(1), generator=generator) < 0.5
        pos = torch.where(flip, edges.flip(0), edges)
        dst = sample_negative_targets(pos[0], k, self.exclude, generator).reshape(-1)
        neg = torch.stack([pos[0].repeat_interleave(k), dst])
        labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))])
        return torch.cat([pos, neg], dim=1), labels

    def warmup_batch(self) -> Tensor:
        return self.train_edges

    def epoch_batches(self, generator: torch.Generator, batch_size: int) -> list[Tensor]:
        perm = torch.randperm(self.train_edges.size(1), generator=generator)
        return list(self.train_edges[:, perm[: self.edges_per_epoch]].split(batch_size, dim=1))

    def batch_targets(
        self, batch: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        pairs, labels = self.pairs(batch, generator)
        targets, inverse = torch.unique(pairs, return_inverse=True)  # distinct endpoints
        return targets, (inverse, labels)

    def loss(self, out: Tensor, info: tuple[Tensor, Tensor], model: nn.ModuleDict) -> Tensor:
        inverse, labels = (t.to(out.device) for t in info)
        logits = model["decoder"](out[inverse[0]], out[inverse[1]])
        return F.binary_cross_entropy_with_logits(logits, labels)

    def metrics(self, out: Tensor, parts: tuple[str, ...], model: nn.ModuleDict) -> dict:
        decoder, res = model["decoder"], {}
        for part in parts:
            scores = evaluate_link(
                lambda s, d: decoder.score(out, s, d), self.split, part, self.hits_k
            )
            res.update({f"{part}_{k}": v for k, v in scores.items()})
        return res

    def stats(self, encodings: float, grad_encodings: float) -> dict:
        return {
            # "targets" are the endpoints encoded with gradient (pipeline 1)
            "encodings_per_target_per_epoch": encodings / grad_encodings if grad_encodings else 0.0,
            "grad_encodings_per_epoch": grad_encodings,
            "edges_per_epoch": self.edges_per_epoch,
        }


class LinkTrainer(Trainer):
    r"""Fine-tunes :obj:`encoder` for link prediction on :obj:`graph` with LEADING: the
    :class:`~leading.train.trainer.Trainer` on a :class:`LinkTask`.

    Args:
        graph (TextAttributedGraph): The graph (its texts; labels are not used).
        split (LinkSplit): Training positives, held-out positives and their fixed negatives.
        encoder (TextEncoder): The LM to fine-tune (modified in place).
        config (Config): Settings: the training, head, refresh, propagation groups and the
            ``link_*`` fields.
        run_dir (str or Path, optional): Where checkpoints and ``metrics.csv`` go.
        seed (int): Seed of every random choice (batches, negatives, sampling, dropout, init).
        tokens (TokenizedTexts, optional): The tokenized node texts (default: tokenized here).

    Attributes:
        decoder (LinkDecoder): Pair scores from the head's output embeddings.
    """

    def __init__(
        self,
        graph: TextAttributedGraph,
        split: LinkSplit,
        encoder: TextEncoder,
        config,
        run_dir: str | Path | None = None,
        seed: int = 0,
        tokens: TokenizedTexts | None = None,
    ) -> None:
        if config.grad_hops != 0:
            raise ConfigError(
                f"link prediction trains with neighbor decoupling only (grad_hops 0), got "
                f"grad_hops {config.grad_hops}"
            )
        if split.num_nodes != graph.num_nodes:
            raise DataError(
                f"{graph.name}: the link split is over {split.num_nodes} nodes, the graph has "
                f"{graph.num_nodes}"
            )
        tokens = tokens if tokens is not None else encoder.tokenize(graph.texts)
        task = LinkTask(split, config.link_negatives, config.link_edges_per_epoch,
                        config.hits_k, config.link_dim)
        super().__init__(task, encoder, tokens, config, run_dir, seed)
        self.graph, self.split = graph, split
        self.decoder = self.model["decoder"]

    @property
    def edges_per_epoch(self) -> int:
        return self.task.edges_per_epoch

    def pairs(self, edges: Tensor) -> tuple[Tensor, Tensor]:
        r"""The task's :meth:`LinkTask.pairs`, drawn from the trainer's generator."""
        return self.task.pairs(edges, self.gen)

    def embed(self, embeddings: Tensor | None = None) -> Tensor:
        r"""The head's output embeddings :obj:`[N, link_dim]` of every node (see
        :meth:`~leading.train.trainer.Trainer.predict`)."""
        return self.predict(embeddings)

    def metric_names(self) -> list[str]:
        r"""``auc``, ``mrr`` and ``hits@K`` for the configured :obj:`hits_k`."""
        return metric_names(self.cfg.hits_k)
