r"""The two-pipeline LEADING trainer (paper Algorithm 1).

Each training step:

1. **Pipeline 2** encodes a batch of node texts drawn from a cycling random order of *all* nodes,
   without gradient, and writes the embeddings to the :class:`~leading.train.memory.EmbeddingMemory`
   (lines 5-6).
2. **Pipeline 1** takes a batch of target (training) nodes, encodes only them with gradient, writes
   them to memory (lines 7-8), reads every other node of the computation graph from memory
   (line 9), runs the graph head on ``[targets | neighbors]`` (lines 10-11), and back-propagates the
   loss on the targets into the LM through the target embeddings only.

Before the LM is updated, the head is trained on the frozen, prefilled memory (``head_epochs``):
the LM's first gradients then come from a head that already fits the graph, instead of from a
random one. Validation accuracy (of the head's propagated predictions over the memory) is measured
after the head warm-up (epoch 0, the pretrained LM) and after every LM epoch; the best LM epoch's
LM and head are kept (epoch 0 only with ``select_pretrained``).

Beyond the paper (settings, off with ``pseudo_labels=0`` and ``refit_head=False``): the most
confident unlabelled nodes, labelled by the warmed-up head's propagated predictions (renewed before
every LM epoch with ``pseudo_relabel``), become targets too; and the head is refit on the final
embeddings before its own accuracy is reported.
"""

from __future__ import annotations

import copy
import math
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from leading.config import Config
from leading.data.graph import TextAttributedGraph
from leading.graph.head import EndToEndHead
from leading.graph.sampler import NeighborSampler
from leading.text.encoder import TextEncoder
from leading.text.tokens import TokenizedTexts
from leading.train.memory import EmbeddingMemory
from leading.train.optim import build_optimizer
from leading.train.refresh import MemoryRefresh, influence_weights, refresh_size

__all__ = ["LeadingTrainer", "TrainResult", "peak_rss_mb"]


def peak_rss_mb() -> float:
    r"""Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class TrainResult:
    r"""What a fine-tuning run returns.

    Args:
        encoder (TextEncoder): The LM at the best epoch.
        embeddings (Tensor): Every node encoded by that LM, :obj:`[N, d]`.
        best_epoch (int): Best epoch by validation accuracy (0 = before any LM update).
        history (list[dict]): One row of metrics per epoch.
        stats (dict): Cost figures (time per epoch, peak RSS, LM encodings per node / target).
        e2e (dict): Accuracy of the end-to-end model's own propagated predictions over
            :obj:`embeddings` (after the head is refit on them, ``refit_head``), per split.
    """

    encoder: TextEncoder
    embeddings: Tensor
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    e2e: dict = field(default_factory=dict)


class LeadingTrainer:
    r"""Fine-tunes :obj:`encoder` on :obj:`graph` with LEADING.

    Args:
        graph (TextAttributedGraph): The graph (with labels).
        splits (dict): ``train``/``valid``/``test`` node ids; the targets are ``train``, plus
            the most confident unlabelled nodes with pseudo-labels when ``pseudo_labels > 0``.
        encoder (TextEncoder): The LM to fine-tune (modified in place).
        config (Config): Settings (training, head, refresh and propagation groups).
        run_dir (str or Path, optional): Where checkpoints and ``metrics.csv`` go.
        seed (int): Seed of every random choice (batches, sampling, dropout, head init).
        tokens (TokenizedTexts, optional): The node texts already tokenized.
        pseudo_labels (tuple[Tensor, Tensor], optional): Pseudo-labels given from outside as
            ``(node ids, labels)`` (GLEM's, :mod:`leading.train.glem`): these nodes become
            targets after the head warm-up instead of the head's most confident ones (then
            ``config.pseudo_labels`` is ignored). No training node may be among them.
    """

    def __init__(
        self,
        graph: TextAttributedGraph,
        splits: dict[str, Tensor],
        encoder: TextEncoder,
        config: Config,
        run_dir: str | Path | None = None,
        seed: int = 0,
        tokens: TokenizedTexts | None = None,
        pseudo_labels: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        if graph.y is None:
            raise ValueError(f"{graph.name}: node classification needs labels")
        self.graph, self.splits, self.encoder, self.cfg = graph, splits, encoder, config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.seed = seed
        self.tokens = tokens if tokens is not None else encoder.tokenize(graph.texts)
        n = graph.num_nodes
        torch.manual_seed(seed)
        # The head, the memory and every index live on the encoder's device.
        self.device = encoder.device
        self.memory = EmbeddingMemory(n, encoder.hidden_size, device=self.device)
        self.head = EndToEndHead.from_config(
            config, n, encoder.hidden_size, graph.num_classes
        ).to(self.device)
        self._graph_on_device: tuple[Tensor, Tensor] | None = None
        self.sampler = NeighborSampler(graph.edge_index, n, config.fanouts, seed=seed)
        self.gen = torch.Generator().manual_seed(seed)
        # Training labels: the train split's labels, plus (after the head warm-up) pseudo-labels
        # of confident unlabeled nodes; -1 elsewhere, so no validation/test label is ever read.
        self.labels = torch.full((n,), -1, dtype=torch.long)
        self.labels[splits["train"]] = graph.y[splits["train"]]
        num_unlabeled = n - splits["train"].numel()
        self.num_pseudo = int(round(config.pseudo_labels * num_unlabeled))
        self.given_pseudo = None
        if pseudo_labels is not None:
            ids, labels = (torch.as_tensor(t).long().view(-1).cpu() for t in pseudo_labels)
            if ids.numel() != labels.numel() or ids.unique().numel() != ids.numel():
                raise ValueError("pseudo_labels: expected distinct node ids, one label each")
            if bool(torch.isin(ids, splits["train"]).any()):
                raise ValueError("pseudo_labels: training nodes keep their own labels")
            if ids.numel() and (labels.min() < 0 or labels.max() >= graph.num_classes):
                raise ValueError(f"pseudo_labels: labels outside [0, {graph.num_classes})")
            self.given_pseudo, self.num_pseudo = (ids, labels), ids.numel()
        num_targets = splits["train"].numel() + self.num_pseudo
        self.steps_per_epoch = math.ceil(num_targets / config.batch_size)
        self.refresh = MemoryRefresh(
            n, refresh_size(config, n, self.steps_per_epoch), self.gen, config.encode_batch_size
        )
        self.optimizer, self.scheduler = build_optimizer(
            (p for p in encoder.parameters() if p.requires_grad),
            self.head.parameters(),
            config,
            self.steps_per_epoch,
        )
        self._set_targets(splits["train"][:0])
        self.history: list[dict] = []
        self.epoch = 0
        self.best: dict | None = None
        self.epoch_times: list[float] = []
        self.epoch_encodings: list[int] = []

    # --------------------------------------------------------------- pieces
    def _full_graph(self) -> tuple[Tensor, Tensor]:
        if self._graph_on_device is None:
            self._graph_on_device = (
                torch.arange(self.graph.num_nodes, device=self.device),
                self.graph.edge_index.to(self.device),
            )
        return self._graph_on_device

    @property
    def refresh_size(self) -> int:
        r"""Nodes pipeline 2 re-encodes per step (0: off)."""
        return self.refresh.size

    def _computation_graph(self, targets: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
        r"""The nodes the head sees for a batch of targets: global :obj:`node_ids`, local
        :obj:`edge_index`, the targets' positions in :obj:`node_ids`, and how many leading
        nodes of :obj:`node_ids` are encoded with gradient besides the targets (``grad_hops``
        0: none; with the subgraph scope the nodes of the first ``grad_hops`` hops, -1 = all)."""
        if self.cfg.scope == "full":
            node_ids, edge_index = self._full_graph()
            return node_ids, edge_index, targets.to(self.device), 0
        sub = self.sampler.sample(targets).to(self.device)
        hops = self.cfg.grad_hops
        num_grad = 0
        if hops != 0:
            num_grad = sum(sub.num_sampled_nodes[: hops + 1]) if hops > 0 else sub.num_nodes
        pos = torch.arange(targets.numel(), device=self.device)
        return sub.node_ids, sub.edge_index, pos, num_grad

    def _train_step(self, targets: Tensor, with_lm: bool) -> float:
        y = self.labels[targets].to(self.device)
        node_ids, edge_index, pos, num_grad = self._computation_graph(targets)
        if with_lm:
            self.refresh(self.encoder, self.tokens, self.memory)
        h = self.memory.read(node_ids)
        if with_lm:
            self.encoder.train(self.cfg.lm_dropout)
            # Pipeline 1: only these rows carry gradient into the LM, every other row comes
            # from memory (neighbor decoupling); grad_hops != 0 widens them (GAS, coupled).
            grad_ids, grad_pos = (targets, pos) if num_grad == 0 else (
                node_ids[:num_grad], torch.arange(num_grad, device=self.device)
            )
            h_grad = self.encoder.encode(self.tokens, grad_ids)
            self.memory.write(grad_ids, h_grad, with_grad=True)
            h = h.index_put((grad_pos,), h_grad)
        self.head.train()
        loss = F.cross_entropy(self.head(h, edge_index, node_ids)[pos], y)
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
    def evaluate(self, embeddings: Tensor | None = None) -> dict[str, float]:
        r"""Accuracy of the head's propagated predictions on every split, over the memory (or
        over :obj:`embeddings` :obj:`[N, d]` when given)."""
        self.head.eval()
        node_ids, edge_index = self._full_graph()
        h = self.memory.read(node_ids) if embeddings is None else embeddings.to(self.device)
        pred = self.head(h, edge_index, node_ids).argmax(-1).cpu()
        return {
            f"{k}_acc": float((pred[v] == self.graph.y[v]).float().mean())
            for k, v in self.splits.items()
        }

    # --------------------------------------------------------------- epochs
    def _head_warmup(self) -> None:
        r"""Trains the head on the frozen memory, full batch over the labelled targets (LM
        untouched); keeps the head of the best validation epoch, the starting head included."""
        best_acc, best_state = self.evaluate()["valid_acc"], copy.deepcopy(self.head.state_dict())
        group = self.optimizer.param_groups[1]
        group["lr"] = self.cfg.lr_head
        for _ in range(self.cfg.head_epochs):
            self._train_step(self.splits["train"], with_lm=False)
            self._optimizer_step(with_lm=False)
            acc = self.evaluate()["valid_acc"]
            if acc > best_acc:
                best_acc, best_state = acc, copy.deepcopy(self.head.state_dict())
        group["lr"] = self.cfg.lr_head_finetune
        self.head.load_state_dict(best_state)

    def _set_targets(self, pseudo: Tensor) -> None:
        r"""Makes the training nodes and the :obj:`pseudo`-labelled node ids the targets, and
        updates each memory row's weight on their predictions (:obj:`influence`,
        :func:`~leading.train.refresh.influence_weights`): for the influence-weighted staleness
        metric and, with ``refresh_order="influence"``, for pipeline 2's draws. The targets
        themselves are left to pipeline 1, which re-encodes them every epoch, unless too few
        other nodes remain."""
        self.targets = torch.cat([self.splits["train"], pseudo.sort().values])
        w = influence_weights(
            self.graph.edge_index, self.graph.num_nodes, self.targets, self.cfg.alpha
        )
        if self.cfg.refresh_order == "influence" and self.refresh.size > 0:
            others = w.clone()
            others[self.targets] = 0.0
            enough = int((others > 0).sum()) >= self.refresh.size
            self.refresh.set_weights(others if enough else w)
        self.influence = w

    @torch.no_grad()
    def _add_pseudo_labels(self) -> None:
        r"""Labels the :obj:`num_pseudo` most confident non-training nodes with the head's
        propagated predictions over the memory and makes them targets too (after the head
        warm-up; again before every later LM epoch with ``pseudo_relabel``, replacing the
        previous pseudo-labels)."""
        if self.num_pseudo == 0:
            return
        self.labels.fill_(-1)
        self.labels[self.splits["train"]] = self.graph.y[self.splits["train"]]
        if self.given_pseudo is not None:  # from outside (GLEM), not from this head
            ids, labels = self.given_pseudo
            self.labels[ids] = labels
            self._set_targets(ids)
            return
        self.head.eval()
        node_ids, edge_index = self._full_graph()
        prob = self.head(self.memory.read(node_ids), edge_index, node_ids).softmax(-1).cpu()
        conf, pred = prob.max(-1)
        conf[self.splits["train"]] = -1.0
        chosen = conf.argsort(descending=True)[: self.num_pseudo]
        self.labels[chosen] = pred[chosen]
        self._set_targets(chosen)

    def _lm_epoch(self, bar: tqdm | None) -> float:
        perm = self.targets[torch.randperm(self.targets.numel(), generator=self.gen)]
        losses = []
        for i, start in enumerate(range(0, perm.numel(), self.cfg.batch_size)):
            losses.append(self._train_step(perm[start : start + self.cfg.batch_size], True))
            if (i + 1) % self.cfg.grad_accum == 0 or start + self.cfg.batch_size >= perm.numel():
                self._optimizer_step(with_lm=True)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
        return sum(losses) / len(losses)

    @torch.no_grad()
    def _evaluate_epoch(self) -> dict[str, float]:
        r"""Validation after an epoch: over the memory, or with ``eval_reencode`` over nodes
        re-encoded by the current LM (the validation and test nodes for the graph-free head,
        every node otherwise). Those encodings are neither written to memory, nor counted, nor
        timed: they measure the model, they are not part of its training."""
        if not self.cfg.eval_reencode or self.epoch == 0:
            return self.evaluate()
        n = self.graph.num_nodes
        ids = torch.arange(n)
        if self.head.kind == "mlp":
            ids = torch.cat([self.splits["valid"], self.splits["test"]])
        h = self.memory.read(torch.arange(n, device=self.device))
        h[ids.to(self.device)] = self.encoder.encode_all(
            self.tokens, ids, batch_size=self.cfg.encode_batch_size, progress=False
        ).to(self.device)
        return self.evaluate(h)

    def _record(self, loss: float, epoch_time: float, encodings: int) -> dict:
        staleness = self.memory.staleness().float().cpu()
        row = {
            "epoch": self.epoch,
            "train_loss": loss,
            **self._evaluate_epoch(),
            "epoch_time_s": epoch_time,
            "lm_encodings": encodings,
            "memory_staleness_mean": float(staleness.mean()),
            # staleness weighted by each row's weight on the targets' predictions
            "memory_staleness_influence": float(
                (staleness * self.influence).sum() / self.influence.sum()
            ),
        }
        self.history.append(row)
        # Epoch 0 is the un-tuned LM; it stays the best only with --select-pretrained (or when
        # no LM epoch runs), otherwise LEADING always returns a fine-tuned LM.
        replace_pretrained = (
            self.best is not None and self.best["epoch"] == 0 and not self.cfg.select_pretrained
        )
        if self.best is None or replace_pretrained or row["valid_acc"] > self.best["valid_acc"]:
            self.best = {
                "epoch": self.epoch,
                "valid_acc": row["valid_acc"],
                "encoder": {k: v.detach().clone() for k, v in self.encoder.state_dict().items()},
                "head": copy.deepcopy(self.head.state_dict()),
            }
        return row

    def fit(self) -> TrainResult:
        r"""Runs (or resumes) training and returns the best epoch's encoder and embeddings."""
        cfg = self.cfg
        if not (cfg.resume and self._load_checkpoint()):
            if cfg.prefill:
                emb = self.encoder.encode_all(
                    self.tokens,
                    batch_size=cfg.encode_batch_size,
                    progress=cfg.progress,
                    desc="prefill memory",
                )
                self.memory.write(torch.arange(self.graph.num_nodes), emb, with_grad=False)
            self._head_warmup()
            self._add_pseudo_labels()
            self._record(float("nan"), 0.0, 0)
            self._save_checkpoint()
        bar = tqdm(
            total=cfg.lm_epochs * self.steps_per_epoch,
            initial=self.epoch * self.steps_per_epoch,
            desc=f"seed {self.seed} LEADING",
            unit="step",
            disable=not cfg.progress,
        )
        while self.epoch < cfg.lm_epochs and self.epoch - self.best["epoch"] < cfg.patience:
            self.epoch += 1
            before = self.memory.counters()["total"]
            t0 = time.perf_counter()
            if cfg.pseudo_relabel and self.epoch > 1 and self.given_pseudo is None:
                self._add_pseudo_labels()
            loss = self._lm_epoch(bar)
            dt = time.perf_counter() - t0
            encodings = self.memory.counters()["total"] - before
            self.epoch_times.append(dt)
            self.epoch_encodings.append(encodings)
            row = self._record(loss, dt, encodings)
            bar.set_postfix(loss=f"{loss:.3f}", val=f"{row['valid_acc']:.3f}")
            self._save_checkpoint()
        bar.close()
        return self._finish()

    def _finish(self) -> TrainResult:
        assert self.best is not None
        self.encoder.load_state_dict(self.best["encoder"])
        self.head.load_state_dict(self.best["head"])
        emb = self.encoder.encode_all(
            self.tokens, batch_size=self.cfg.encode_batch_size, progress=self.cfg.progress,
            desc="encode (fine-tuned)",
        )
        if self.cfg.refit_head:
            # The head was trained against a memory written while the LM moved; fit it again
            # (LM frozen, labelled nodes only, best validation epoch) on the final embeddings.
            self.memory.write(torch.arange(self.graph.num_nodes), emb, with_grad=False)
            self._head_warmup()
        e2e = self.evaluate(emb)
        n_targets = self.targets.numel()
        enc = sum(self.epoch_encodings) / max(1, len(self.epoch_encodings))
        stats = {
            "epoch_time_s": sum(self.epoch_times) / max(1, len(self.epoch_times)),
            "peak_rss_mb": peak_rss_mb(),
            "encodings_per_target_per_epoch": enc / n_targets,
            "encodings_per_node_per_epoch": enc / self.graph.num_nodes,
            "refresh_batch_size": self.refresh_size,
            "lm_epochs_run": len(self.epoch_times),
        }
        if self.run_dir is not None:
            self._write_metrics()
            ckpt = self.run_dir / "checkpoint.pt"
            if ckpt.exists():
                ckpt.unlink()
        return TrainResult(self.encoder, emb, self.best["epoch"], self.history, stats, e2e)

    # ---------------------------------------------------------- persistence
    def _write_metrics(self) -> None:
        assert self.run_dir is not None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        keys = list(self.history[0])
        lines = [",".join(keys)]
        lines += [",".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k]) for k in keys)
                  for r in self.history]
        (self.run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "encoder": self.encoder.state_dict(),
            "head": self.head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "memory": self.memory.state_dict(),
            "sampler_rng": self.sampler.generator.get_state(),
            "gen": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "refresh": self.refresh.state_dict(),
            "labels": self.labels,
            "targets": self.targets,
            "influence": self.influence,
            "history": self.history,
            "best": self.best,
            "epoch_times": self.epoch_times,
            "epoch_encodings": self.epoch_encodings,
        }

    def load_state_dict(self, state: dict) -> None:
        self.epoch = state["epoch"]
        self.encoder.load_state_dict(state["encoder"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.memory.load_state_dict(state["memory"])
        self.sampler.generator.set_state(state["sampler_rng"])
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        self.refresh.load_state_dict(state["refresh"])
        self.labels = state["labels"]
        self.targets = state["targets"]
        self.influence = state["influence"]
        self.history = state["history"]
        self.best = state["best"]
        self.epoch_times = state["epoch_times"]
        self.epoch_encodings = state["epoch_encodings"]

    def _save_checkpoint(self) -> None:
        if self.run_dir is None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.run_dir / "checkpoint.pt.tmp"
        torch.save(self.state_dict(), tmp)
        tmp.replace(self.run_dir / "checkpoint.pt")
        self._write_metrics()

    def _load_checkpoint(self) -> bool:
        if self.run_dir is None or not (self.run_dir / "checkpoint.pt").exists():
            return False
        self.load_state_dict(torch.load(self.run_dir / "checkpoint.pt", weights_only=False))
        return True
