r"""GLEM (``--method glem``): variational EM between a language model and a GNN.

GLEM (Zhao et al., "Learning on Large-scale Text-attributed Graphs via Variational Inference",
ICLR 2023) trains the LM and the GNN separately and lets each teach the other: in the E-step the
LM (with a classifier head, no graph) learns the gold training labels plus the GNN's
pseudo-labels; in the M-step a GNN learns, on the LM's frozen node embeddings, the gold labels
plus the LM's pseudo-labels. The schedule follows the official code (github.com/AndyJZhao/GLEM,
``src/models/GLEM/GLEM_trainer.py``, ``glem_train`` with its default ``em_order='LM-first'``):

1. pre-train the LM on the training labels (here: the supervised baseline, ``epochs`` epochs);
2. pre-train the GNN on its embeddings with the training labels;
3. ``glem_rounds`` times: an LM step (``glem_lm_epochs`` epochs; training labels + the last
   GNN's pseudo-labels), then a GNN step (on the new embeddings; training labels + the LM's
   pseudo-labels).

The output is the final LM's embeddings :obj:`[N, d]` (the shared downstream evaluation trains
its GNNs on them) and, as ``e2e``, the accuracy of the final GNN's own predictions.

Details, and where they differ from the official code:

* **Which nodes get pseudo-labels**: the candidates are all nodes outside the training set (the
  official ``pl_nodes = ~is_gold``: validation and test nodes included, with their *predicted*
  labels); the ``glem_pseudo_ratio`` fraction of them with the most confident prediction is
  pseudo-labelled (the official ``pl_filter`` keeps such a top fraction, then samples
  ``pl_ratio`` times the number of training nodes from it at random, anew in every GNN epoch;
  here the set is fixed per step, the same for both directions). A training node is never
  pseudo-labelled: it keeps its gold label.
* **Hard labels** (argmax) instead of the official soft ones (softmax with temperature
  ``pseudo_temp``).
* **Weight of the pseudo-labels**: the official loss is ``(1 - a) * CE(gold) + a * CE(pseudo)``
  (``pl_weight`` ``a``, 0.5 to 0.8 in its scripts); here it is the mean cross-entropy over gold
  and pseudo-labelled targets, so ``a`` is the pseudo-labels' share of the targets (on Cora with
  the default ratio 0.2: 514 of 654 targets, ``a`` = 0.79).
* **LM steps** reuse :class:`~leading.train.node.LeadingTrainer` with the supervised
  configuration (:data:`~leading.train.methods.METHOD_OVERRIDES`, ``"glem"``): graph-less MLP
  head, no pipeline 2, the same optimizer, schedule, head warm-up (training labels only), early
  stopping and selection of the best epoch on validation accuracy (the official LM step keeps
  its best checkpoint on validation too). Each step continues the previous step's LM (the
  official ``lm_init_ckpt=PrevEM``) with a fresh head, warmed up on the frozen embeddings; the
  LM's predictions come from the head trained with it (no refit).
* **GNN steps** train ``glem_gnn`` exactly as the downstream evaluation does
  (:class:`~leading.eval.downstream.DownstreamConfig`: full batch, the same grid, epoch and
  configuration chosen on validation accuracy; the official GNN stops early on validation
  accuracy), on the training labels plus the pseudo-labels.
* **Labels**: training labels are the only labels learnt from. Validation labels are read only to
  choose models (the LM epoch and head warm-up epoch, the GNN epoch and learning rate) and test
  labels only for the reported accuracies (``tests/train/test_glem.py`` checks both).
* **Resume**: with a run directory, every finished step (LM or GNN) is saved in
  ``glem_state.pt`` and each LM step checkpoints its epochs under ``lm_step{k}/``, so
  ``--resume`` after a crash continues from the last finished epoch (the GNN step it was in
  starts over) and reaches the uninterrupted result.
* **Several processes** (``torchrun``): the LM steps are data parallel as any
  :class:`~leading.train.trainer.Trainer`; every rank trains the same GNN step and rank 0's
  probabilities are broadcast, so every rank hands over the same pseudo-labels; rank 0 alone
  writes the step files.

Round 0 is therefore exactly the supervised baseline followed by the downstream evaluation's
GNN (same embeddings, same GNN predictions; tested), and ``glem_rounds`` EM rounds are what GLEM
adds to it.

Cost on Cora (2,708 nodes, 140 training labels, MiniLM, 128 tokens) with the defaults
(``glem_rounds=1``, ``glem_pseudo_ratio=0.2``, ``glem_lm_epochs=1``, ``epochs=2``): two LM steps,
of 140 targets x 2 epochs and 654 targets x 1 epoch (21 steps of 32), each ending with one
gradient-free pass over every node for its embeddings (the next step reuses it instead of its own
prefill), plus the first step's prefill and a validation re-encoding (1,500 nodes) per epoch:
about five full-graph passes' worth of encoding and 31 training steps. That is three minutes per
seed on an idle 2-core CPU (about 20 s a pass, 2 s a step) with the GNN steps (seconds) and the
downstream GCN/GAT; about five and a half minutes with one thread on a busy one (48 s a pass,
2.5 s a step, measured).
Every further round adds an LM step (1 pass, 21 steps and a validation: about 75 s idle) and a
GNN step.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import Tensor

from leading.config import Config
from leading.data.graph import TextAttributedGraph
from leading.distributed import broadcast, is_main, shard
from leading.errors import ConfigError
from leading.eval.downstream import (
    DownstreamConfig,
    fit_downstream,
    normalize_features,
    torch_num_threads,
)
from leading.text.encoder import TextEncoder
from leading.train.checkpoint import load_checkpoint, save_checkpoint, write_metrics
from leading.train.methods import method_overrides
from leading.train.node import LeadingTrainer
from leading.train.result import TrainResult, peak_rss_mb

__all__ = ["GlemTrainer", "pseudo_label"]


def pseudo_label(prob: Tensor, train: Tensor, ratio: float) -> tuple[Tensor, Tensor]:
    r"""The :obj:`ratio` fraction of the non-training nodes with the most confident predictions.

    Args:
        prob (Tensor): Class probabilities :obj:`[N, C]` of the teaching model.
        train (Tensor): Training node ids (never pseudo-labelled).
        ratio (float): Fraction of the :obj:`N - len(train)` other nodes to label.

    Returns:
        tuple[Tensor, Tensor]: Node ids (most confident first; ties: lower id) and their
        predicted labels.
    """
    conf, pred = prob.detach().float().cpu().max(-1)
    candidates = torch.ones(prob.size(0), dtype=torch.bool)
    candidates[train.cpu()] = False
    candidates = candidates.nonzero().view(-1)
    k = int(round(ratio * candidates.numel()))
    order = torch.argsort(conf[candidates], descending=True, stable=True)[:k]
    ids = candidates[order]
    return ids, pred[ids]


class GlemTrainer:
    r"""Runs GLEM on :obj:`graph` (see the module docstring).

    Args:
        graph (TextAttributedGraph): The graph (with labels).
        splits (dict): ``train``/``valid``/``test`` node ids.
        encoder (TextEncoder): The LM to fine-tune (modified in place).
        config (Config): Settings; the LM steps use it with the overrides of ``"glem"``.
        run_dir (str or Path, optional): Where ``metrics.csv`` (every LM epoch) goes.
        seed (int): Seed of LM step :obj:`k` is :obj:`seed + 1000 k`; the GNN steps use
            :obj:`seed` as the downstream evaluation does.
        gnn_config (DownstreamConfig, optional): Training of the GNN steps (default: the
            downstream evaluation's, one thread).

    After :meth:`fit`, :attr:`pseudo` lists every hand-over: ``(step, node ids, labels, prob)``
    with the teaching model's probabilities :obj:`[N, C]`.
    """

    def __init__(
        self,
        graph: TextAttributedGraph,
        splits: dict[str, Tensor],
        encoder: TextEncoder,
        config: Config,
        run_dir: str | Path | None = None,
        seed: int = 0,
        gnn_config: DownstreamConfig | None = None,
    ) -> None:
        if graph.y is None:
            raise ValueError(f"{graph.name}: node classification needs labels")
        if config.fsdp:  # every LM step would shard the LM again
            raise ConfigError("--fsdp is not supported with --method glem; drop --fsdp")
        self.graph, self.splits, self.encoder = graph, splits, encoder
        self.cfg = config
        self.lm_cfg = config.replace(method="glem", resume=False, **method_overrides("glem"))
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.seed = seed
        self.gnn_config = gnn_config or DownstreamConfig(num_threads=1)
        self.tokens = encoder.tokenize(graph.texts)
        self.train = splits["train"].cpu()
        self.history: list[dict] = []  # one row per step
        self.lm_rows: list[dict] = []  # one row per LM epoch, every step
        self.pseudo: list[tuple[str, Tensor, Tensor, Tensor]] = []
        self.lm_trainers: list[LeadingTrainer] = []  # the LM steps run by this process
        self.lm_costs: list[dict] = []  # every LM step's epoch times and encodings

    # ------------------------------------------------------------------ labels
    def _eval_labels(self, ids: Tensor) -> Tensor:
        r"""The labels of validation / test nodes: model selection and reports only."""
        return self.graph.y[ids.cpu()]

    def _accuracy(self, pred: Tensor) -> dict[str, float]:
        return {
            f"{k}_acc": float((pred[v.cpu()] == self._eval_labels(v)).float().mean())
            for k, v in self.splits.items()
        }

    # ------------------------------------------------------------------- steps
    def _lm_step(
        self, step: int, epochs: int, emb: Tensor | None, pseudo: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, Tensor, TrainResult]:
        r"""E-step: fine-tunes the LM on the training labels (+ :obj:`pseudo`); returns its
        embeddings of every node, its class probabilities and the trainer's result."""
        cfg = self.lm_cfg.replace(epochs=epochs, prefill=emb is None, resume=self.cfg.resume)
        t0 = time.perf_counter()
        trainer = LeadingTrainer(
            self.graph, self.splits, self.encoder, cfg, seed=self.seed + 1000 * step,
            run_dir=None if self.run_dir is None else self.run_dir / f"lm_step{step}",
            tokens=self.tokens, pseudo_labels=pseudo,
        )
        if emb is not None:  # this LM encoded every node at the end of the previous step
            ids = shard(torch.arange(self.graph.num_nodes))  # several processes: a part each
            trainer.memory.write(ids, emb[ids], with_grad=False)
        res = trainer.fit()
        trainer.head.eval()
        with torch.no_grad():
            dev = trainer.device
            logits = trainer.head(
                res.embeddings.to(dev), self.graph.edge_index.to(dev),
                torch.arange(self.graph.num_nodes, device=dev),
            )
        self.lm_trainers.append(trainer)
        self.lm_costs.append({
            "epoch_times": trainer.epoch_times, "epoch_encodings": trainer.epoch_encodings,
            "targets": trainer.targets.numel(), "refresh_size": trainer.refresh_size,
        })
        self.lm_rows += [{"step": step, **row} for row in res.history]
        self.history.append({
            "step": step, "model": "lm", "pseudo_labels": 0 if pseudo is None else len(pseudo[0]),
            "targets": int(trainer.targets.numel()), "best_epoch": res.best_epoch,
            "time_s": time.perf_counter() - t0, **res.e2e,
        })
        return res.embeddings, logits.float().softmax(-1).cpu(), res

    def _gnn_step(self, step: int, emb: Tensor, pseudo: tuple[Tensor, Tensor] | None) -> Tensor:
        r"""M-step: trains ``glem_gnn`` on the frozen embeddings with the training labels (+
        :obj:`pseudo`), chosen on validation like the downstream evaluation; returns its class
        probabilities :obj:`[N, C]` at the chosen epoch."""
        gcfg, graph = self.gnn_config, self.graph
        t0 = time.perf_counter()
        with torch_num_threads(gcfg.num_threads):
            x = normalize_features(emb, gcfg.feature_norm)
            train_idx, y_train = self.train, graph.y[self.train]
            if pseudo is not None:
                train_idx = torch.cat([train_idx, pseudo[0]])
                y_train = torch.cat([y_train, pseudo[1]])
            valid = self.splits["valid"].cpu()
            best = fit_downstream(
                self.cfg.glem_gnn, x, graph.edge_index.long().to(x.device), graph.num_classes,
                train_idx.to(x.device), y_train.to(x.device), valid.to(x.device),
                self._eval_labels(valid).to(x.device), self.seed, gcfg,
            )
        # several processes: every rank trains the same GNN; rank 0's hand-over is used
        prob = broadcast(best["logits"].float().softmax(-1).cpu())
        self.history.append({
            "step": step, "model": "gnn", "pseudo_labels": 0 if pseudo is None else len(pseudo[0]),
            "targets": int(train_idx.numel()), "best_epoch": best["best_epoch"],
            "time_s": time.perf_counter() - t0, **self._accuracy(prob.argmax(-1)),
        })
        return prob

    def _hand_over(self, step: str, prob: Tensor) -> tuple[Tensor, Tensor]:
        ids, labels = pseudo_label(prob, self.train, self.cfg.glem_pseudo_ratio)
        self.pseudo.append((step, ids, labels, prob))
        return ids, labels

    # --------------------------------------------------------------------- fit
    def fit(self) -> TrainResult:
        r"""Runs the pre-training and the EM rounds; returns the final LM, its embeddings, the
        last LM step's best epoch, one history row per step, the cost figures of the LM steps
        and (``e2e``) the final GNN's accuracy per split."""
        cfg = self.cfg
        phases = [("lm", 0), ("gnn", 0)]
        phases += [(m, r) for r in range(1, cfg.glem_rounds + 1) for m in ("lm", "gnn")]
        done = self._load_state()
        for i, (model, r) in enumerate(phases):
            if i < done:
                continue
            if model == "lm":
                pseudo = None if r == 0 else self._hand_over(f"gnn{r - 1}->lm{r}", self.gnn_prob)
                epochs = cfg.lm_epochs if r == 0 else cfg.glem_lm_epochs
                self.emb, self.lm_prob, res = self._lm_step(r, epochs, self.emb, pseudo)
                self.best_epoch = res.best_epoch
            else:
                pseudo = None if r == 0 else self._hand_over(f"lm{r}->gnn{r}", self.lm_prob)
                self.gnn_prob = self._gnn_step(r, self.emb, pseudo)
            self._save_state(i + 1)
        e2e = {k: v for k, v in self.history[-1].items() if k.endswith("_acc")}
        if self.run_dir is not None and is_main():
            write_metrics(self.lm_rows, self.run_dir / "metrics.csv")
            (self.run_dir / "glem_state.pt").unlink(missing_ok=True)
        return TrainResult(self.encoder, self.emb, self.best_epoch, self.history, self._stats(),
                           e2e)

    #: What :meth:`_save_state` keeps between steps.
    _STATE = ("emb", "lm_prob", "gnn_prob", "best_epoch", "history", "lm_rows", "pseudo",
              "lm_costs")

    def _save_state(self, done: int) -> None:
        if self.run_dir is not None and is_main():
            save_checkpoint({"done": done, "encoder": self.encoder.state_dict(),
                             **{k: getattr(self, k) for k in self._STATE}},
                            self.run_dir / "glem_state.pt")

    def _load_state(self) -> int:
        r"""Restores the steps a stopped run finished (with ``resume``); returns their number."""
        self.emb = self.lm_prob = self.gnn_prob = None
        self.best_epoch = 0
        if self.run_dir is None or not self.cfg.resume:
            return 0
        state = load_checkpoint(self.run_dir / "glem_state.pt")
        if state is None:
            return 0
        self.encoder.load_state_dict(state["encoder"])
        for k in self._STATE:
            setattr(self, k, state[k])
        return state["done"]

    def _stats(self) -> dict:
        r"""Cost of the LM steps: time and encodings per LM epoch over all of them."""
        times = [t for c in self.lm_costs for t in c["epoch_times"]]
        encodings = [e for c in self.lm_costs for e in c["epoch_encodings"]]
        target_epochs = sum(c["targets"] * len(c["epoch_times"]) for c in self.lm_costs)
        epochs = max(1, len(times))
        return {
            "epoch_time_s": sum(times) / epochs,
            "peak_rss_mb": peak_rss_mb(),
            "encodings_per_target_per_epoch": sum(encodings) / max(1, target_epochs),
            "encodings_per_node_per_epoch": sum(encodings) / epochs / self.graph.num_nodes,
            "refresh_batch_size": self.lm_costs[-1]["refresh_size"],
            "lm_epochs_run": len(times),
            "lm_steps": len(self.lm_costs),
            "lm_time_s": sum(h["time_s"] for h in self.history if h["model"] == "lm"),
            "gnn_time_s": sum(h["time_s"] for h in self.history if h["model"] == "gnn"),
        }
