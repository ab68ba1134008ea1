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

As in the node-classification trainer (:class:`~leading.train.leading.LeadingTrainer`): the memory
is prefilled, the head (and decoder) are first trained on the frozen memory (``head_epochs``,
full batch over all training edges, best validation epoch kept), validation metrics are measured
after that warm-up (epoch 0) and after every LM epoch, the best LM epoch by validation AUC is kept
(epoch 0 only with ``select_pretrained``), early stopping uses ``patience``, and with
``refit_head`` the head is refit on the final embeddings before its own metrics (``e2e``) are
reported.

Cost cap: an LM epoch visits at most ``link_edges_per_epoch`` training edges (a fresh random
subset each epoch), so the cost of an epoch does not grow with the training split: Cora's "high"
split (4,486 training edges) costs per epoch what its "low" split (527) does.

Not supported here: ``grad_hops != 0`` (GAS / coupled variants) and mid-seed checkpoints
(``leading run --resume`` skips finished seeds).
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from leading.config import Config
from leading.data.graph import TextAttributedGraph
from leading.data.link_splits import LinkSplit
from leading.data.negative_sampling import EdgeSet, sample_negative_targets
from leading.errors import ConfigError, DataError
from leading.eval.link import evaluate_link, metric_names
from leading.graph.head import EndToEndHead
from leading.graph.link_decoder import build_link_decoder
from leading.graph.sampler import NeighborSampler
from leading.text.encoder import TextEncoder
from leading.text.tokens import TokenizedTexts
from leading.train.leading import TrainResult, peak_rss_mb
from leading.train.memory import EmbeddingMemory
from leading.train.optim import build_optimizer
from leading.train.refresh import MemoryRefresh, refresh_size

__all__ = ["LinkTrainer", "SELECT_METRIC"]

#: Validation metric of model selection (head warm-up and LM epochs).
SELECT_METRIC = "auc"


class LinkTrainer:
    r"""Fine-tunes :obj:`encoder` for link prediction on :obj:`graph` with LEADING.

    Args:
        graph (TextAttributedGraph): The graph (its texts; labels are not used).
        split (LinkSplit): Training positives, held-out positives and their fixed negatives.
        encoder (TextEncoder): The LM to fine-tune (modified in place).
        config (Config): Settings: the training, head, refresh, propagation groups and the
            ``link_*`` fields.
        run_dir (str or Path, optional): Where ``metrics.csv`` goes.
        seed (int): Seed of every random choice (batches, negatives, sampling, dropout, init).
        tokens (TokenizedTexts, optional): The tokenized node texts (default: tokenized here).

    Attributes:
        edge_index (Tensor): The message-passing graph :obj:`[2, E]`: training edges only.
        memory (EmbeddingMemory): LM embeddings of every node and the encoding counters.
        head (EndToEndHead): Graph head, LM embedding :obj:`[n, d]` -> :obj:`[n, link_dim]`.
        decoder (LinkDecoder): Pair scores from the head's output embeddings.
    """

    def __init__(
        self,
        graph: TextAttributedGraph,
        split: LinkSplit,
        encoder: TextEncoder,
        config: Config,
        run_dir: str | Path | None = None,
        seed: int = 0,
        tokens: TokenizedTexts | None = None,
    ) -> None:
        cfg = config
        if cfg.grad_hops != 0:
            raise ConfigError(
                f"link prediction trains with neighbor decoupling only (grad_hops 0), got "
                f"grad_hops {cfg.grad_hops}"
            )
        n = graph.num_nodes
        if split.num_nodes != n:
            raise DataError(
                f"{graph.name}: the link split is over {split.num_nodes} nodes, the graph has {n}"
            )
        self.graph, self.split, self.encoder, self.cfg = graph, split, encoder, cfg
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.seed = seed
        self.tokens = tokens if tokens is not None else encoder.tokenize(graph.texts)
        torch.manual_seed(seed)
        self.device = encoder.device
        self.edge_index = split.message_passing_edge_index()
        self.train_edges = split.train
        self.exclude = EdgeSet(self.edge_index, n, "training edges")
        self.memory = EmbeddingMemory(n, encoder.hidden_size, device=self.device)
        self.head = EndToEndHead.from_config(cfg, n, encoder.hidden_size, cfg.link_dim)
        self.decoder = build_link_decoder(cfg.link_decoder, cfg.link_dim, cfg.hidden, cfg.dropout)
        # one module for state copies (model selection) and the optimizer's head group
        self.model = nn.ModuleDict({"head": self.head, "decoder": self.decoder}).to(self.device)
        self.sampler = NeighborSampler(self.edge_index, n, cfg.fanouts, seed=seed)
        self.gen = torch.Generator().manual_seed(seed)
        num_train = self.train_edges.size(1)
        cap = cfg.link_edges_per_epoch
        self.edges_per_epoch = num_train if cap is None else min(num_train, cap)
        self.steps_per_epoch = math.ceil(self.edges_per_epoch / cfg.batch_size)
        self.refresh = MemoryRefresh(
            n, refresh_size(cfg, n, self.steps_per_epoch), self.gen, cfg.encode_batch_size
        )
        self.optimizer, self.scheduler = build_optimizer(
            (p for p in encoder.parameters() if p.requires_grad),
            self.model.parameters(),
            cfg,
            self.steps_per_epoch,
        )
        self._graph_on_device: tuple[Tensor, Tensor] | None = None
        self.history: list[dict] = []
        self.epoch = 0
        self.best: dict | None = None
        self.epoch_times: list[float] = []
        self.epoch_encodings: list[int] = []
        self.epoch_grad_encodings: list[int] = []

    # --------------------------------------------------------------- pieces
    def _full_graph(self) -> tuple[Tensor, Tensor]:
        if self._graph_on_device is None:
            self._graph_on_device = (
                torch.arange(self.graph.num_nodes, device=self.device),
                self.edge_index.to(self.device),
            )
        return self._graph_on_device

    @property
    def refresh_size(self) -> int:
        r"""Nodes pipeline 2 re-encodes per step (0: off)."""
        return self.refresh.size

    def pairs(self, edges: Tensor) -> tuple[Tensor, Tensor]:
        r"""The supervised pairs of a batch of training edges :obj:`[2, B]`: the edges, each
        oriented at random, then :obj:`link_negatives` corrupted destinations per edge.

        Returns:
            tuple: pairs :obj:`[2, B (1 + k)]` and their labels :obj:`[B (1 + k)]` (1, then 0).
        """
        k = self.cfg.link_negatives
        flip = torch.rand(edges.size(1), generator=self.gen) < 0.5
        pos = torch.where(flip, edges.flip(0), edges)
        dst = sample_negative_targets(pos[0], k, self.exclude, self.gen).reshape(-1)
        neg = torch.stack([pos[0].repeat_interleave(k), dst])
        labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))])
        return torch.cat([pos, neg], dim=1), labels

    def _computation_graph(self, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        r"""Global :obj:`node_ids`, local :obj:`edge_index` and the targets' positions in
        :obj:`node_ids` of the graph the head runs on (the full training graph, or the sampled
        subgraph of the targets with ``scope="subgraph"``)."""
        if self.cfg.scope == "full":
            node_ids, edge_index = self._full_graph()
            return node_ids, edge_index, targets.to(self.device)
        sub = self.sampler.sample(targets).to(self.device)
        return sub.node_ids, sub.edge_index, torch.arange(targets.numel(), device=self.device)

    def _train_step(self, edges: Tensor, with_lm: bool) -> float:
        pairs, labels = self.pairs(edges)
        targets, inverse = torch.unique(pairs, return_inverse=True)  # distinct endpoints
        node_ids, edge_index, pos = self._computation_graph(targets)
        if with_lm:
            self.refresh(self.encoder, self.tokens, self.memory)
        h = self.memory.read(node_ids)
        if with_lm:
            self.encoder.train(self.cfg.lm_dropout)
            # Pipeline 1: only the endpoints carry gradient into the LM (neighbor decoupling)
            h_grad = self.encoder.encode(self.tokens, targets)
            self.memory.write(targets, h_grad, with_grad=True)
            h = h.index_put((pos,), h_grad)
        self.model.train()
        z = self.head(h, edge_index, node_ids)[pos]  # [num targets, link_dim]
        inverse = inverse.to(self.device)
        logits = self.decoder(z[inverse[0]], z[inverse[1]])
        loss = F.binary_cross_entropy_with_logits(logits, labels.to(self.device))
        (loss / self.cfg.grad_accum).backward()
        if with_lm:  # the staleness clock counts LM training steps only
            self.memory.tick()
        return float(loss.detach())

    def _optimizer_step(self, with_lm: bool) -> None:
        if self.cfg.grad_clip > 0:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if with_lm:
            self.scheduler.step()

    @torch.no_grad()
    def embed(self, embeddings: Tensor | None = None) -> Tensor:
        r"""The head's output embeddings :obj:`[N, link_dim]` of every node, propagated over the
        training graph from the memory (or from :obj:`embeddings` :obj:`[N, d]`)."""
        self.model.eval()
        node_ids, edge_index = self._full_graph()
        h = self.memory.read(node_ids) if embeddings is None else embeddings.to(self.device)
        return self.head(h, edge_index, node_ids)

    @torch.no_grad()
    def evaluate(
        self, embeddings: Tensor | None = None, parts: tuple[str, ...] = ("valid", "test")
    ) -> dict[str, float]:
        r"""AUC, MRR and Hits@K of the head + decoder on the held-out parts, over the memory (or
        :obj:`embeddings`), as ``{part}_{metric}``."""
        z = self.embed(embeddings)
        out = {}
        for part in parts:
            res = evaluate_link(
                lambda s, d: self.decoder.score(z, s, d), self.split, part, self.cfg.hits_k
            )
            out.update({f"{part}_{k}": v for k, v in res.items()})
        return out

    # --------------------------------------------------------------- epochs
    def _head_warmup(self) -> None:
        r"""Trains head and decoder on the frozen memory, full batch over all training edges
        (fresh negatives every epoch; LM untouched); keeps the best validation epoch, the
        starting weights included."""
        key = f"valid_{SELECT_METRIC}"
        best = self.evaluate(parts=("valid",))[key]
        best_state = copy.deepcopy(self.model.state_dict())
        group = self.optimizer.param_groups[1]
        group["lr"] = self.cfg.lr_head
        for _ in range(self.cfg.head_epochs):
            self._train_step(self.train_edges, with_lm=False)
            self._optimizer_step(with_lm=False)
            score = self.evaluate(parts=("valid",))[key]
            if score > best:
                best, best_state = score, copy.deepcopy(self.model.state_dict())
        group["lr"] = self.cfg.lr_head_finetune
        self.model.load_state_dict(best_state)

    def _lm_epoch(self, bar: tqdm | None) -> float:
        num_train = self.train_edges.size(1)
        perm = torch.randperm(num_train, generator=self.gen)[: self.edges_per_epoch]
        edges = self.train_edges[:, perm]
        bs = self.cfg.batch_size
        losses = []
        for i, start in enumerate(range(0, edges.size(1), bs)):
            losses.append(self._train_step(edges[:, start : start + bs], True))
            if (i + 1) % self.cfg.grad_accum == 0 or start + bs >= edges.size(1):
                self._optimizer_step(with_lm=True)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
        return sum(losses) / len(losses)

    @torch.no_grad()
    def _evaluate_epoch(self) -> dict[str, float]:
        r"""Validation after an epoch: over the memory, or with ``eval_reencode`` (set by the
        ``supervised`` baseline, whose pipeline 2 is off) over every node re-encoded by the
        current LM; those encodings are neither written to memory, nor counted, nor timed."""
        if not self.cfg.eval_reencode or self.epoch == 0:
            return self.evaluate()
        emb = self.encoder.encode_all(
            self.tokens, batch_size=self.cfg.encode_batch_size, progress=False
        )
        return self.evaluate(emb)

    def _record(self, loss: float, epoch_time: float, encodings: int) -> dict:
        row = {
            "epoch": self.epoch,
            "train_loss": loss,
            **self._evaluate_epoch(),
            "epoch_time_s": epoch_time,
            "lm_encodings": encodings,
            "memory_staleness_mean": float(self.memory.staleness().float().mean()),
        }
        self.history.append(row)
        key = f"valid_{SELECT_METRIC}"
        replace_pretrained = (
            self.best is not None and self.best["epoch"] == 0 and not self.cfg.select_pretrained
        )
        if self.best is None or replace_pretrained or row[key] > self.best[key]:
            self.best = {
                "epoch": self.epoch,
                key: row[key],
                "encoder": {k: v.detach().clone() for k, v in self.encoder.state_dict().items()},
                "model": copy.deepcopy(self.model.state_dict()),
            }
        return row

    def fit(self) -> TrainResult:
        r"""Prefill, head warm-up, LM epochs, then the best epoch's encoder and embeddings.

        Returns:
            TrainResult: :obj:`e2e` holds the head + decoder's own ``valid_*`` / ``test_*``
            metrics over the final embeddings.
        """
        cfg = self.cfg
        if cfg.prefill:
            emb = self.encoder.encode_all(
                self.tokens, batch_size=cfg.encode_batch_size, progress=cfg.progress,
                desc="prefill memory",
            )
            self.memory.write(torch.arange(self.graph.num_nodes), emb, with_grad=False)
        self._head_warmup()
        self._record(float("nan"), 0.0, 0)
        bar = tqdm(
            total=cfg.lm_epochs * self.steps_per_epoch,
            desc=f"seed {self.seed} LEADING (links)",
            unit="step",
            disable=not cfg.progress,
        )
        key = f"valid_{SELECT_METRIC}"
        while self.epoch < cfg.lm_epochs and self.epoch - self.best["epoch"] < cfg.patience:
            self.epoch += 1
            before = self.memory.counters()
            t0 = time.perf_counter()
            loss = self._lm_epoch(bar)
            dt = time.perf_counter() - t0
            after = self.memory.counters()
            self.epoch_times.append(dt)
            self.epoch_encodings.append(after["total"] - before["total"])
            self.epoch_grad_encodings.append(after["with_grad"] - before["with_grad"])
            row = self._record(loss, dt, self.epoch_encodings[-1])
            bar.set_postfix(loss=f"{loss:.3f}", val=f"{row[key]:.3f}")
        bar.close()
        return self._finish()

    def _finish(self) -> TrainResult:
        assert self.best is not None
        self.encoder.load_state_dict(self.best["encoder"])
        self.model.load_state_dict(self.best["model"])
        emb = self.encoder.encode_all(
            self.tokens, batch_size=self.cfg.encode_batch_size, progress=self.cfg.progress,
            desc="encode (fine-tuned)",
        )
        if self.cfg.refit_head:
            self.memory.write(torch.arange(self.graph.num_nodes), emb, with_grad=False)
            self._head_warmup()
        e2e = self.evaluate(emb)
        epochs = max(1, len(self.epoch_times))
        enc = sum(self.epoch_encodings) / epochs
        grad = sum(self.epoch_grad_encodings) / epochs
        stats = {
            "epoch_time_s": sum(self.epoch_times) / epochs,
            "peak_rss_mb": peak_rss_mb(),
            # "targets" are the endpoints encoded with gradient (pipeline 1)
            "encodings_per_target_per_epoch": enc / grad if grad else 0.0,
            "encodings_per_node_per_epoch": enc / self.graph.num_nodes,
            "grad_encodings_per_epoch": grad,
            "edges_per_epoch": self.edges_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "refresh_batch_size": self.refresh_size,
            "lm_epochs_run": len(self.epoch_times),
        }
        if self.run_dir is not None:
            self._write_metrics()
        return TrainResult(self.encoder, emb, self.best["epoch"], self.history, stats, e2e)

    def _write_metrics(self) -> None:
        assert self.run_dir is not None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        keys = list(self.history[0])
        lines = [",".join(keys)]
        lines += [
            ",".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k]) for k in keys)
            for r in self.history
        ]
        (self.run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")

    def metric_names(self) -> list[str]:
        r"""``auc``, ``mrr`` and ``hits@K`` for the configured :obj:`hits_k`."""
        return metric_names(self.cfg.hits_k)
