r"""The task-specific steps of ``leading run``: what the per-seed protocol of :mod:`leading.run`
asks of node classification (:class:`NodeProtocol`) and of link prediction
(:class:`LinkProtocol`), one object per ``--task``.

The protocol is the same for both: per seed, **split** (:meth:`TaskProtocol.split`), **embed**
every node by the method (shallow features, the frozen LM, or an LM fine-tuned by the task's
trainer, :meth:`TaskProtocol.trainer`), **downstream** GNNs on the frozen embeddings
(:meth:`TaskProtocol.downstream`); over the seeds, **aggregate**
(:meth:`TaskProtocol.summarize`, :meth:`TaskProtocol.result_fields`) and print the **table**
(:meth:`TaskProtocol.table`). A protocol object supplies these steps and nothing else.

Node classification (``--task node``, the default):

1. split: :func:`~leading.data.splits.make_split` (``--split``, e.g. 20 labels per class);
2. trainer: :class:`~leading.train.node.LeadingTrainer` with the method's overrides
   (:mod:`leading.train.methods`), or :class:`~leading.train.glem.GlemTrainer` for ``glem``;
3. downstream: :func:`~leading.eval.downstream.evaluate_downstream`, one classifier per GNN
   of ``--downstream``, figures ``test_acc`` / ``valid_acc``.

Link prediction (``--task link``, the paper's Appendix C; methods ``leading``, ``pretrained``,
``shallow``, ``supervised``):

1. split the edges (:func:`~leading.data.link_splits.make_link_split`, ``--link-split``: Cora
   ``low`` 10/30/60 or ``high`` 85/5/10 train/valid/test; ``ogbl-citation2`` its official
   split), with fixed negatives for the held-out edges;
2. trainer: :class:`~leading.train.link.LinkTrainer`, edges as targets (``supervised``: an MLP
   head per node + the link decoder, no graph, pipeline 2 off);
3. downstream: per GNN of ``--downstream`` (GCN in the paper) a link predictor (2-layer GNN
   over the *training* edges + the ``--link-decoder``) on the frozen embeddings, its epoch
   chosen on validation AUC (:func:`~leading.eval.link.evaluate_link_downstream`).

   Metrics: ``auc`` (test positives against as many fixed negative pairs; the metric of the
   paper's Table 9, :data:`~leading.eval.link.HEADLINE_METRIC`), ``mrr`` and ``hits@K`` (each
   test positive ranked among its ``--link-eval-negatives`` fixed corrupted destinations, OGB's
   tie convention; on ``ogbl-citation2`` the official 1,000 negatives, and ``mrr`` is the metric
   of Table 10), each with ``test`` and ``valid`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor

from leading.config import Config
from leading.data.graph import TextAttributedGraph
from leading.data.link_splits import LinkSplit, make_link_split
from leading.data.splits import make_split
from leading.eval import (
    HEADLINE_METRIC,
    DownstreamConfig,
    LinkPredictorConfig,
    evaluate_downstream,
    evaluate_link_downstream,
    format_table,
    metric_names,
    summarize,
)
from leading.text.encoder import TextEncoder
from leading.train import LeadingTrainer, LinkTrainer
from leading.train.glem import GlemTrainer
from leading.train.methods import method_overrides

__all__ = ["PROTOCOLS", "LinkProtocol", "NodeProtocol", "TaskProtocol", "protocol_of"]

#: ``get(seed_result)``: one block of a seed's ``result.json`` (a GNN's figures, or ``e2e``).
Getter = Callable[[dict[str, Any]], dict[str, Any]]


def _cell(test: list[float], valid: list[float], names: tuple[str, str]) -> dict[str, Any]:
    r"""The figures of every seed and the test mean and std, as ``results.json`` stores them."""
    s = summarize(test)
    return {names[0]: test, names[1]: valid, "mean": s["mean"], "std": s["std"]}


class TaskProtocol:
    r"""The steps of ``leading run`` that differ between tasks (see the module docstring)."""

    #: ``--task``.
    name: str = ""
    #: Fields that open ``results.json``.
    header: dict[str, Any] = {}

    def split(self, cfg: Config, graph: TextAttributedGraph, seed: int) -> Any:
        r"""This seed's split."""
        raise NotImplementedError

    def seed_fields(self, split: Any) -> dict[str, Any]:
        r"""What ``seed_S/result.json`` records of the split (after ``seed`` and ``method``)."""
        return {}

    def trainer(
        self, cfg: Config, graph: TextAttributedGraph, split: Any, encoder: TextEncoder,
        run_dir: Path | None, seed: int,
    ) -> Any:
        r"""The trainer that fine-tunes :obj:`encoder` (its ``fit()`` returns a
        :class:`~leading.train.trainer.TrainResult`)."""
        raise NotImplementedError

    def e2e(self, e2e: dict[str, float]) -> dict[str, Any]:
        r"""The trainer's own figures (``TrainResult.e2e``) as ``result.json`` stores them."""
        return e2e

    def downstream(
        self, cfg: Config, x: Tensor, graph: TextAttributedGraph, split: Any, seed: int
    ) -> dict[str, Any]:
        r"""Per GNN of ``cfg.downstream``: its figures on the frozen embeddings :obj:`x`."""
        raise NotImplementedError

    def result_fields(self, cfg: Config, per_seed: list[dict]) -> dict[str, Any]:
        r"""What ``results.json`` records of the split (after ``method_overrides``)."""
        return {}

    def summarize(self, cfg: Config, per_seed: list[dict], get: Getter) -> dict[str, Any]:
        r"""One block of ``results.json`` (a GNN, or ``e2e``) over the seeds."""
        raise NotImplementedError

    def table(
        self, cfg: Config, graph: TextAttributedGraph, name: str, result: dict[str, Any]
    ) -> str:
        r"""The text ``leading run`` prints: test figures, one row :obj:`name`."""
        raise NotImplementedError


class NodeProtocol(TaskProtocol):
    r"""Node classification (see the module docstring)."""

    name = "node"

    def split(self, cfg: Config, graph: TextAttributedGraph, seed: int) -> dict[str, Tensor]:
        return make_split(graph, cfg.split, seed)

    def trainer(
        self, cfg: Config, graph: TextAttributedGraph, split: dict[str, Tensor],
        encoder: TextEncoder, run_dir: Path | None, seed: int,
    ) -> GlemTrainer | LeadingTrainer:
        if cfg.method == "glem":  # variational EM between the LM and a GNN (leading.train.glem)
            return GlemTrainer(graph, split, encoder, cfg, run_dir=run_dir, seed=seed)
        tcfg = cfg.replace(**method_overrides(cfg.method))  # supervised: MLP head, no pipeline 2
        return LeadingTrainer(graph, split, encoder, tcfg, run_dir=run_dir, seed=seed)

    def downstream(
        self, cfg: Config, x: Tensor, graph: TextAttributedGraph, split: dict[str, Tensor],
        seed: int,
    ) -> dict[str, Any]:
        # Full-batch GNNs on a small graph are many tiny ops: one thread avoids oversubscription.
        return evaluate_downstream(
            x, graph.edge_index, graph.y, split, cfg.downstream, seed=seed,
            config=DownstreamConfig(num_threads=1),
        )

    def result_fields(self, cfg: Config, per_seed: list[dict]) -> dict[str, Any]:
        return {"split": cfg.split}

    def summarize(self, cfg: Config, per_seed: list[dict], get: Getter) -> dict[str, Any]:
        test = [get(r)["test_acc"] for r in per_seed]
        return _cell(test, [get(r)["valid_acc"] for r in per_seed], ("test_acc", "valid_acc"))

    def table(
        self, cfg: Config, graph: TextAttributedGraph, name: str, result: dict[str, Any]
    ) -> str:
        columns = {g: result["downstream"][g]["test_acc"] for g in cfg.downstream}
        if "e2e" in result:
            columns["e2e head"] = result["e2e"]["test_acc"]
        return format_table({name: columns})


class LinkProtocol(TaskProtocol):
    r"""Link prediction (see the module docstring)."""

    name = "link"
    header = {"task": "link"}

    def split(self, cfg: Config, graph: TextAttributedGraph, seed: int) -> LinkSplit:
        return make_link_split(graph, cfg.link_split, seed, cfg.link_eval_negatives)

    def seed_fields(self, split: LinkSplit) -> dict[str, Any]:
        return {"link_split": split.spec, "split": split.sizes()}

    def trainer(
        self, cfg: Config, graph: TextAttributedGraph, split: LinkSplit, encoder: TextEncoder,
        run_dir: Path | None, seed: int,
    ) -> LinkTrainer:
        tcfg = cfg.replace(**method_overrides(cfg.method))  # supervised: MLP head, no graph
        return LinkTrainer(graph, split, encoder, tcfg, run_dir=run_dir, seed=seed)

    def e2e(self, e2e: dict[str, float]) -> dict[str, Any]:
        r"""``{"valid_auc": a, ...}`` -> ``{"valid": {"auc": a, ...}, ...}``."""
        out: dict[str, dict[str, float]] = {}
        for key, value in e2e.items():
            part, metric = key.split("_", 1)
            out.setdefault(part, {})[metric] = value
        return out

    def downstream(
        self, cfg: Config, x: Tensor, graph: TextAttributedGraph, split: LinkSplit, seed: int
    ) -> dict[str, Any]:
        # Full-batch GNNs on a small graph are many tiny ops: one thread avoids oversubscription.
        pcfg = LinkPredictorConfig(
            decoder=cfg.link_decoder, hits_k=tuple(cfg.hits_k), num_threads=1
        )
        return evaluate_link_downstream(x, split, cfg.downstream, seed, pcfg)

    def result_fields(self, cfg: Config, per_seed: list[dict]) -> dict[str, Any]:
        return {
            "split_sizes": per_seed[0]["split"] if per_seed else {},
            "link_split_spec": per_seed[0]["link_split"] if per_seed else cfg.link_split,
            "link_decoder": cfg.link_decoder,
            "headline_metric": HEADLINE_METRIC,
        }

    def summarize(self, cfg: Config, per_seed: list[dict], get: Getter) -> dict[str, Any]:
        r"""Per metric: the ``test`` and ``valid`` values of every seed, their mean and std."""
        return {
            m: _cell([get(r)["test"][m] for r in per_seed],
                     [get(r)["valid"][m] for r in per_seed], ("test", "valid"))
            for m in metric_names(cfg.hits_k)
        }

    def table(
        self, cfg: Config, graph: TextAttributedGraph, name: str, result: dict[str, Any]
    ) -> str:
        metrics = metric_names(cfg.hits_k)
        columns = {f"{g} {m}": result["downstream"][g][m]["test"]
                   for g in cfg.downstream for m in metrics}
        if "e2e" in result:
            columns.update({f"e2e {m}": result["e2e"][m]["test"] for m in metrics})
        return (
            f"link prediction on {graph.name}, split {result['link_split_spec']} "
            f"({result['split_sizes'].get('train', 0)} train edges); test, percent\n"
            + format_table({name: columns})
        )


#: The protocol objects by ``--task`` name.
PROTOCOLS: dict[str, TaskProtocol] = {t.name: t for t in (NodeProtocol(), LinkProtocol())}


def protocol_of(cfg: Config) -> TaskProtocol:
    r"""The protocol object of ``cfg.task``."""
    return PROTOCOLS[cfg.task]
