r"""The two-pipeline LEADING trainer (paper Algorithm 1), one loop for every task.

Each LM training step (:meth:`Trainer.training_step`):

1. **Pipeline 2** encodes a batch of node texts without gradient and writes the embeddings to the
   :class:`~leading.train.memory.EmbeddingMemory` (lines 5-6; which nodes:
   :class:`~leading.train.refresh.MemoryRefresh`).
2. **Pipeline 1** encodes only the batch's *targets*
   (:meth:`~leading.train.task.Task.batch_targets`) with gradient and writes them to memory
   (lines 7-8), reads every other node of the computation graph from memory (line 9), runs the
   graph head on ``[targets | neighbors]`` (lines 10-11) and back-propagates the task's loss into
   the LM through the target embeddings only. ``grad_hops != 0`` widens the rows encoded with
   gradient (GAS, coupled training) on a sampled subgraph.

Around the steps (:meth:`Trainer.fit`): the memory is prefilled by one gradient-free pass; the
head is trained on the frozen memory (``head_epochs``, full batch, best validation epoch kept) so
that the LM's first gradients come from a head that already fits the graph; validation is
measured after the warm-up (epoch 0, the un-tuned LM) and after every LM epoch; the best LM
epoch's LM and head are kept (epoch 0 only with ``select_pretrained``), with early stopping after
``patience`` epochs without improvement; a checkpoint is written after every epoch and
``resume`` continues from it; with ``refit_head`` the head is refit on the final embeddings
before its own metrics are reported. A :class:`~leading.train.task.Task` supplies what differs
between node classification and link prediction.
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from leading.distributed import (
    TRAFFIC,
    all_gather_rows,
    average_gradients,
    is_main,
    rank,
    shard,
    world_size,
)
from leading.fsdp import FullState, clip_grad_norm, load_module_state, shard_lm, to_full
from leading.graph.head import build_head
from leading.graph.inference import layerwise
from leading.graph.sampler import NeighborSampler
from leading.text.encoder import TextEncoder
from leading.text.lora import is_lora
from leading.text.tokens import TokenizedTexts
from leading.train.checkpoint import Checkpointed, write_metrics
from leading.train.memory import EmbeddingMemory, ReplicatedMemory, ShardedMemory, memory_dtype
from leading.train.numerics import check_finite
from leading.train.optim import build_optimizer
from leading.train.refresh import MemoryRefresh
from leading.train.result import TrainResult, cost_stats
from leading.train.scale import resolve_scale
from leading.train.task import Task

__all__ = ["Trainer"]


class Trainer(Checkpointed):
    r"""Fine-tunes :obj:`encoder` end to end with a graph head on :obj:`task` (LEADING).

    Args:
        task (Task): What is predicted, from which batches, with which loss and metrics.
        encoder (TextEncoder): The LM to fine-tune (modified in place).
        tokens (TokenizedTexts): The tokenized node texts.
        config (Config): Settings (training, head, refresh and propagation groups).
        run_dir (str or Path, optional): Where ``checkpoint.pt`` and ``metrics.csv`` go.
        seed (int): Seed of every random choice (batches, sampling, dropout, head init).

    Attributes:
        memory (EmbeddingMemory): LM embeddings of every node and the encoding counters.
        head (EndToEndHead): The graph head; :attr:`model` holds it with the task's modules.
        refresh (MemoryRefresh): Pipeline 2.
    """

    #: Rows per chunk of whole-graph inference (the head's MLP on the memory).
    PREDICT_CHUNK = 65_536

    def __init__(
        self,
        task: Task,
        encoder: TextEncoder,
        tokens: TokenizedTexts,
        config: Any,
        run_dir: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        n = task.num_nodes
        # several processes (leading.distributed): a step's global batch is batch_size x world
        self.world, self.rank = world_size(), rank()
        batch = config.batch_size * self.world
        sized = config if self.world == 1 else config.replace(batch_size=batch)
        # the size rule (leading.train.scale): the steps and the head see the resolved scope
        self.scale = resolve_scale(sized, n)
        if config.scope != self.scale.scope:
            config = config.replace(scope=self.scale.scope)
        task.set_epoch_budget(self.scale.targets_per_epoch)
        if config.progress:
            print(f"leading: {self.scale.describe()}", file=sys.stderr)
        self.task, self.encoder, self.tokens, self.cfg = task, encoder, tokens, config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.seed = seed
        torch.manual_seed(seed)
        # The head, the memory and every index live on the encoder's device.
        self.device = encoder.device
        layout = {"replicated": ReplicatedMemory, "sharded": ShardedMemory}
        self.memory = (EmbeddingMemory if self.world == 1 else layout[config.memory_layout])(
            n, encoder.hidden_size, dtype=memory_dtype(config.memory_dtype), device=self.device,
            pin_memory="auto",
        )
        self.head = build_head(config, n, encoder.hidden_size, task.out_channels)
        self.model = nn.ModuleDict({"head": self.head, **task.build_modules(config)})
        if self.world > 1:
            self.head.replicate_history()
        self.model.to(self.device)
        # per rank: neighbour samples and the batches' own draws (link negatives); shared: the
        # epoch order (gen), identical on every rank
        rank_seed = seed + 104_729 * self.rank
        self.sampler = NeighborSampler(task.edge_index, n, config.fanouts, seed=rank_seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.rank_gen = self.gen if self.world == 1 else torch.Generator().manual_seed(rank_seed)
        self.steps_per_epoch = -(-task.num_items() // batch)
        if config.fsdp:  # the LM sharded over the ranks, before its optimizer (leading.fsdp)
            shard_lm(encoder, lora=is_lora(encoder))
        self.refresh = MemoryRefresh(
            n, self.scale.refresh_size(sized, self.steps_per_epoch), self.gen,
            config.encode_batch_size,
        )
        self.optimizer, self.scheduler = build_optimizer(
            (p for p in encoder.parameters() if p.requires_grad),
            self.model.parameters(),
            config,
            self.steps_per_epoch,
        )
        self._full: tuple[Tensor, Tensor] | None = None
        self.history: list[dict] = []
        self.epoch = 0
        self.best: dict | None = None
        self.epoch_times: list[float] = []
        self.step_times: list[float] = []
        self.epoch_encodings: list[int] = []
        self.epoch_grad_encodings: list[int] = []
        task.setup(self)

    @property
    def refresh_size(self) -> int:
        r"""Nodes pipeline 2 re-encodes per step (0: off)."""
        return self.refresh.size

    # --------------------------------------------------------------- steps
    def full_graph(self) -> tuple[Tensor, Tensor]:
        r"""Every node id and the task's message-passing edges, on the device (cached)."""
        if self._full is None:
            self._full = (
                torch.arange(self.task.num_nodes, device=self.device),
                self.task.edge_index.to(self.device),
            )
        return self._full

    def computation_graph(self, targets: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
        r"""The nodes the head sees for a batch of targets: global :obj:`node_ids`, local
        :obj:`edge_index`, the targets' positions in :obj:`node_ids`, and how many leading
        nodes of :obj:`node_ids` are encoded with gradient besides the targets (``grad_hops``
        0: none; with the subgraph scope the nodes of the first ``grad_hops`` hops, -1 = all)."""
        if self.cfg.scope == "full":
            node_ids, edge_index = self.full_graph()
            return node_ids, edge_index, targets.to(self.device), 0
        sub = self.sampler.sample(targets).to(self.device)
        hops = self.cfg.grad_hops
        num_grad = 0
        if hops != 0:
            num_grad = sum(sub.num_sampled_nodes[: hops + 1]) if hops > 0 else sub.num_nodes
        pos = torch.arange(targets.numel(), device=self.device)
        return sub.node_ids, sub.edge_index, pos, num_grad

    def training_step(self, batch: Any, with_lm: bool) -> float:
        r"""One step on :obj:`batch` (LM frozen and pipeline 2 off unless :obj:`with_lm`);
        accumulates gradients and returns the loss."""
        targets, info = self.task.batch_targets(batch, self.rank_gen)
        node_ids, edge_index, pos, num_grad = self.computation_graph(targets)
        if with_lm:
            self.refresh(self.encoder, self.tokens, self.memory)
            self.encoder.train(self.cfg.lm_dropout)
            # Pipeline 1: only these rows carry gradient into the LM, every other row comes
            # from memory (neighbor decoupling); grad_hops != 0 widens them (GAS, coupled).
            grad_ids, grad_pos = (targets, pos) if num_grad == 0 else (
                node_ids[:num_grad], torch.arange(num_grad, device=self.device)
            )
            h_grad = self.encoder.encode(self.tokens, grad_ids.cpu())
            # written before the read: with several processes the write brings in every
            # rank's fresh rows, so the other ranks' targets are read fresh too
            self.memory.write(grad_ids, h_grad, with_grad=True)
        h = self.memory.read(node_ids)
        if with_lm:
            h = h.index_put((grad_pos,), h_grad)
        self.model.train()
        loss = self.task.loss(self.head(h, edge_index, node_ids)[pos], info, self.model)
        self.check_finite("loss", loss, with_lm)
        (loss / self.cfg.grad_accum).backward()
        if with_lm:  # the staleness clock counts LM training steps only
            self.memory.tick()
        return float(loss.detach())

    def optimizer_step(self, with_lm: bool) -> None:
        r"""Clips, steps and zeroes the gradients; advances the LM's schedule with
        :obj:`with_lm`."""
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        average_gradients(params)  # several processes: the mean over the ranks
        # the norm is also the check for non-finite gradients (no clipping with grad_clip 0)
        norm = clip_grad_norm(params, self.cfg.grad_clip or float("inf"))
        self.check_finite("gradient norm", norm, with_lm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if with_lm:
            self.scheduler.step()

    def check_finite(self, what: str, value: Tensor, with_lm: bool) -> None:
        r"""Stops the run on a non-finite :obj:`value` (:func:`~leading.train.numerics.
        check_finite`); the last checkpoint (the previous epoch's) is left as it is."""
        cfg = self.cfg
        check_finite(
            value, what, f"seed {self.seed}, " + (
                f"LM epoch {self.epoch}, LM step {len(self.step_times) + 1}" if with_lm
                else "head warm-up"),
            (f"--lr-lm {cfg.lr_lm:g}, --lr-head-finetune {cfg.lr_head_finetune:g}" if with_lm
             else f"--lr-head {cfg.lr_head:g}"),
            getattr(self.encoder, "precision", "?"),
            None if self.run_dir is None else self.run_dir / "checkpoint.pt",
        )

    # ---------------------------------------------------------- evaluation
    @torch.no_grad()
    def predict(self, embeddings: Tensor | None = None) -> Tensor:
        r"""The head's outputs :obj:`[N, out_channels]` over the whole message-passing graph,
        from the memory (or from :obj:`embeddings` :obj:`[N, d]`)."""
        self.model.eval()
        node_ids, edge_index = self.full_graph()
        n = node_ids.numel()
        if self.head.mlp is None or n <= self.PREDICT_CHUNK:
            h = self.memory.read(node_ids) if embeddings is None else embeddings.to(self.device)
            if n <= self.PREDICT_CHUNK:
                return self.head(h, edge_index, node_ids)
            # a large graph and a GNN head: layer by layer, on chunks of destinations
            return layerwise(self.head.gnn, h, edge_index, self.PREDICT_CHUNK)
        # a large graph: the MLP on chunks of memory rows, then one propagation over every node
        x_in = torch.cat([
            self.head.mlp(
                self.memory.read(ids) if embeddings is None else embeddings[ids].to(self.device)
            )
            for ids in node_ids.split(self.PREDICT_CHUNK)
        ])
        return self.head.propagate(x_in, edge_index, node_ids)

    @torch.no_grad()
    def evaluate(
        self, embeddings: Tensor | None = None, parts: tuple[str, ...] | None = None
    ) -> dict[str, float]:
        r"""The task's metrics ``{part}_{metric}`` of the head's outputs over the memory (or
        over :obj:`embeddings`), for :obj:`parts` (default: the task's)."""
        parts = self.task.eval_parts if parts is None else parts
        return self.task.metrics(self.predict(embeddings), parts, self.model)

    @torch.no_grad()
    def evaluate_epoch(self) -> dict[str, float]:
        r"""Validation after an epoch: over the memory, or with ``eval_reencode`` over nodes
        re-encoded by the current LM (the task's :meth:`~leading.train.task.Task.reencode_ids`,
        default every node). Those encodings are neither written to memory, nor counted, nor
        timed: they measure the model, they are not part of its training."""
        if not self.cfg.eval_reencode or self.epoch == 0:
            return self.evaluate()
        n = self.task.num_nodes
        ids = self.task.reencode_ids(self.head.kind)
        ids = torch.arange(n) if ids is None else ids
        h = self.memory.read(torch.arange(n, device=self.device))
        h[ids.to(self.device)] = self.encoder.encode_all(
            self.tokens, ids, batch_size=self.cfg.encode_batch_size, progress=False
        ).to(self.device)
        return self.evaluate(h)

    # -------------------------------------------------------------- epochs
    def head_warmup(self) -> None:
        r"""Trains the head (and the task's modules) on the frozen memory, full batch (LM
        untouched); keeps the best validation epoch, the starting weights included."""
        key = self.task.select_key
        best = self.evaluate(parts=("valid",))[key]
        best_state = copy.deepcopy(self.model.state_dict())
        group = self.optimizer.param_groups[1]
        group["lr"] = self.cfg.lr_head
        for epoch in range(1, self.cfg.head_epochs + 1):
            self.training_step(self.task.warmup_batch(), with_lm=False)
            self.optimizer_step(with_lm=False)
            if not self.scale.validates_after(epoch, self.cfg.head_epochs):
                continue  # a large graph: a whole-graph validation every few epochs
            score = self.evaluate(parts=("valid",))[key]
            if score > best:
                best, best_state = score, copy.deepcopy(self.model.state_dict())
        group["lr"] = self.cfg.lr_head_finetune
        self.model.load_state_dict(best_state)

    def lm_epoch(self, bar: tqdm | None = None) -> float:
        r"""One LM epoch over the task's batches; returns the mean loss."""
        batches = self.task.epoch_batches(self.gen, self.cfg.batch_size * self.world)
        if self.world > 1:  # each rank trains on its part of every global batch
            batches = [shard(b) for b in batches if b.size(-1) >= self.world]
        losses = []
        for i, batch in enumerate(batches):
            t0 = time.perf_counter()
            losses.append(self.training_step(batch, with_lm=True))
            if (i + 1) % self.cfg.grad_accum == 0 or i + 1 == len(batches):
                self.optimizer_step(with_lm=True)
            self.step_times.append(time.perf_counter() - t0)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
        return sum(losses) / len(losses)

    def record_epoch(self, loss: float, epoch_time: float, encodings: int) -> dict:
        r"""Appends the epoch's metrics row to :attr:`history` and keeps the LM and head when
        the validation metric improves."""
        staleness = self.memory.staleness().float().cpu()
        row = {
            "epoch": self.epoch,
            "train_loss": loss,
            **self.evaluate_epoch(),
            "epoch_time_s": epoch_time,
            "lm_encodings": encodings,
            "memory_staleness_mean": float(staleness.mean()),
            **self.task.record(staleness),
        }
        self.history.append(row)
        key = self.task.select_key
        # Epoch 0 is the un-tuned LM; it stays the best only with --select-pretrained (or when
        # no LM epoch runs), otherwise training always returns a fine-tuned LM.
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

    def encode_share(self, desc: str) -> tuple[Tensor, Tensor]:
        r"""This rank's part of the node ids (every node for one process) and their
        embeddings :obj:`[n_r, d]`, without gradient."""
        ids = shard(torch.arange(self.task.num_nodes))
        return ids, self.encoder.encode_all(
            self.tokens, None if self.world == 1 else ids, batch_size=self.cfg.encode_batch_size,
            progress=self.cfg.progress, desc=desc,
        )

    def prefill(self) -> None:
        r"""Fills the memory with one gradient-free pass over every node."""
        self.memory.write(*self.encode_share("prefill memory"), with_grad=False)

    def encode_every_node(self, desc: str) -> Tensor:
        r"""Every node's embedding :obj:`[N, d]` without gradient (several processes: each
        encodes its part, the parts are gathered)."""
        ids, part = self.encode_share(desc)
        if self.world == 1:
            return part
        ids, rows = all_gather_rows(ids, part)
        return rows.new_empty(self.task.num_nodes, rows.size(1)).index_copy_(0, ids, rows)

    def fit(self) -> TrainResult:
        r"""Runs (or, with ``resume``, continues) training and returns the best epoch's encoder,
        its embeddings of every node and the end-to-end metrics."""
        cfg = self.cfg
        if not (cfg.resume and self.load_checkpoint()):
            if cfg.prefill:
                self.prefill()
            self.head_warmup()
            self.task.after_warmup(self)
            self.record_epoch(float("nan"), 0.0, 0)
            self.save_checkpoint()
        bar = tqdm(
            total=cfg.lm_epochs * self.steps_per_epoch,
            initial=self.epoch * self.steps_per_epoch,
            desc=f"seed {self.seed} {self.task.name}",
            unit="step",
            disable=not cfg.progress,
        )
        key = self.task.select_key
        sent, steps = sum(TRAFFIC.values()), len(self.step_times)
        while self.epoch < cfg.lm_epochs and self.epoch - self.best["epoch"] < cfg.patience:
            self.epoch += 1
            before = self.memory.counters()
            t0 = time.perf_counter()
            self.task.before_epoch(self)
            loss = self.lm_epoch(bar)
            dt = time.perf_counter() - t0
            after = self.memory.counters()
            self.epoch_times.append(dt)
            self.epoch_encodings.append(after["total"] - before["total"])
            self.epoch_grad_encodings.append(after["with_grad"] - before["with_grad"])
            row = self.record_epoch(loss, dt, self.epoch_encodings[-1])
            bar.set_postfix(loss=f"{loss:.3f}", val=f"{row[key]:.3f}")
            self.save_checkpoint()
        bar.close()
        if self.world > 1:  # bytes this rank sent per LM step (memory rows, gradients)
            self.comm_bytes_per_step = (sum(TRAFFIC.values()) - sent) / max(
                1, len(self.step_times) - steps)
        return self.finish()

    def finish(self) -> TrainResult:
        r"""Loads the best epoch, encodes every node, refits the head (``refit_head``) and
        reports; removes the checkpoint of the finished run."""
        assert self.best is not None
        load_module_state(self.encoder, self.best["encoder"])  # after a resume: in full
        self.model.load_state_dict(self.best["model"])
        emb = self.encode_every_node("encode (fine-tuned)")
        if self.cfg.refit_head:
            # The head was trained against a memory written while the LM moved; fit it again
            # (LM frozen, best validation epoch) on the final embeddings.
            ids = shard(torch.arange(self.task.num_nodes))  # one process: every node
            self.memory.write(ids, emb if self.world == 1 else emb[ids], with_grad=False)
            self.head_warmup()
        e2e = self.evaluate(emb)
        stats = cost_stats(self)
        if self.run_dir is not None and is_main():
            write_metrics(self.history, self.run_dir / "metrics.csv")
            (self.run_dir / "checkpoint.pt").unlink(missing_ok=True)
            self.remove_shards()
        return TrainResult(self.encoder, emb, self.best["epoch"], self.history, stats, e2e)

    # --------------------------------------------------------- persistence
    #: Plain values of the training state; the objects with their own state are in
    #: :meth:`_stateful`.
    _PLAIN_STATE = ("epoch", "history", "best", "epoch_times", "step_times", "epoch_encodings",
                    "epoch_grad_encodings")

    def _stateful(self) -> dict[str, Any]:
        modules: dict[str, Any] = {"encoder": self.encoder, "model": self.model,
                                   "optimizer": self.optimizer}
        if self.encoder.sharded:  # FSDP: the LM, head and optimizer state in full, on rank 0
            modules = {"full": FullState(nn.ModuleDict({"encoder": self.encoder,
                                                        "model": self.model}), self.optimizer)}
        return {**modules, "scheduler": self.scheduler, "memory": self.memory,
                "refresh": self.refresh, "task": self.task}

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.encoder.sharded and state["best"] is not None:  # the best LM in full too
            state["best"] = {**state["best"], "encoder": to_full(state["best"]["encoder"])}
        return state

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(task={self.task.name!r}, nodes={self.task.num_nodes}, "
                f"steps_per_epoch={self.steps_per_epoch}, refresh_size={self.refresh_size}, "
                f"head={self.head.kind!r})")
