r"""``leading run --task link``: the link-prediction protocol of the paper's Appendix C.

Per seed:

1. **Split** the edges (:func:`~leading.data.link_splits.make_link_split`, ``--link-split``:
   Cora ``low`` 10/30/60 or ``high`` 85/5/10 train/valid/test; ``ogbl-citation2`` its official
   split), with fixed negatives for the held-out edges.
2. **Embed** every node with the method (``--method``):

   * ``shallow``: TF-IDF (or bag-of-words) of the node texts (:mod:`leading.text.shallow`);
   * ``pretrained``: the frozen LM;
   * ``supervised``: the LM fine-tuned on the training edges without the graph (an MLP head
     per node + the link decoder, :class:`~leading.train.link.LinkTrainer` with the
     ``supervised`` overrides of :mod:`leading.train.methods`: graph-free head, pipeline 2 off,
     validation on freshly re-encoded nodes);
   * ``leading``: the LM fine-tuned end to end with LEADING, edges as targets
     (:class:`~leading.train.link.LinkTrainer`).

3. **Downstream**: for each GNN of ``--downstream`` (GCN in the paper), train a link predictor
   (2-layer GNN over the *training* edges + the ``--link-decoder``) on the frozen embeddings,
   select its epoch on validation AUC and score the test edges
   (:func:`~leading.eval.link.evaluate_link_downstream`).

Metrics: ``auc`` (test positives against as many fixed negative pairs; the metric of the
paper's Table 9, see :data:`~leading.eval.link.HEADLINE_METRIC`), ``mrr`` and ``hits@K``
(each test positive ranked among its ``--link-eval-negatives`` fixed corrupted destinations,
OGB's tie convention; on ``ogbl-citation2`` the official 1,000 negatives, and ``mrr`` is the
metric of Table 10).

Run directory: as for node classification (:mod:`leading.run`), ``config.yaml``,
``results.json`` (per-seed and mean ± std of every metric), ``seed_S/result.json``,
``seed_S/embeddings.pt``, ``seed_S/metrics.csv`` and ``seed_S/model/`` for fine-tuning methods.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from leading.config import LINK_METHODS, Config
from leading.data.graph import TextAttributedGraph
from leading.data.link_splits import make_link_split
from leading.errors import ConfigError
from leading.eval.downstream import format_table, summarize
from leading.eval.link import (
    HEADLINE_METRIC,
    LinkPredictorConfig,
    evaluate_link_downstream,
    metric_names,
)
from leading.run import run_seeds
from leading.text.encoder import TextEncoder
from leading.text.lora import maybe_apply_lora, save_encoder
from leading.text.shallow import shallow_features
from leading.train.leading import peak_rss_mb
from leading.train.link import LinkTrainer
from leading.train.methods import method_overrides

__all__ = ["run_link", "run_link_seed"]

#: Methods that fine-tune the LM with :class:`~leading.train.link.LinkTrainer`.
LINK_FINETUNING_METHODS = ("leading", "supervised")


def _check(cfg: Config) -> None:
    if cfg.task != "link":
        raise ConfigError(f"run_link needs task 'link', got {cfg.task!r}")
    if cfg.method not in LINK_METHODS:
        raise ConfigError(f"task link supports methods {LINK_METHODS}, got {cfg.method!r}")


def run_link_seed(
    cfg: Config,
    graph: TextAttributedGraph,
    seed: int,
    seed_dir: Path | None,
    frozen: dict[str, Any],
) -> dict[str, Any]:
    r"""One seed of the protocol; :obj:`frozen` caches the un-tuned embeddings (or the shallow
    features) across seeds.

    Returns:
        dict: ``seed``, ``method``, ``link_split`` (the resolved specification), ``split``
        (sizes), ``downstream`` (per GNN: ``valid`` and
        ``test`` metrics), times, and for fine-tuning methods ``e2e`` (the LEADING head's own
        metrics), ``train`` (cost figures) and ``best_epoch``.
    """
    _check(cfg)
    split = make_link_split(graph, cfg.link_split, seed, cfg.link_eval_negatives)
    t0 = time.perf_counter()
    out: dict[str, Any] = {
        "seed": seed, "method": cfg.method, "link_split": split.spec, "split": split.sizes()
    }
    if cfg.method == "shallow":
        if "x" not in frozen:  # unsupervised, from every node text: the same for every seed
            frozen["x"] = shallow_features(graph.texts, cfg.shallow_kind, cfg.shallow_max_features)
        x = frozen["x"]
    elif cfg.method == "pretrained":
        if "x" not in frozen:
            enc = TextEncoder.from_pretrained(
                cfg.lm, cfg.pooling, cfg.max_length, cfg.bf16, cfg.torch_device()
            )
            frozen["x"] = enc.encode_all(
                enc.tokenize(graph.texts), batch_size=cfg.encode_batch_size,
                progress=cfg.progress, desc="encode (frozen)",
            )
        x = frozen["x"]
    else:
        enc = TextEncoder.from_pretrained(
            cfg.lm, cfg.pooling, cfg.max_length, cfg.bf16, cfg.torch_device()
        )
        torch.manual_seed(seed)
        out["trainable_params"] = maybe_apply_lora(enc, cfg)
        tcfg = cfg.replace(**method_overrides(cfg.method))  # supervised: MLP head, no graph
        res = LinkTrainer(graph, split, enc, tcfg, run_dir=seed_dir, seed=seed).fit()
        x = res.embeddings
        out.update(best_epoch=res.best_epoch, train=res.stats, e2e=_by_part(res.e2e))
        if seed_dir is not None and cfg.save_model:
            save_encoder(enc, seed_dir, inplace=True)
    out["finetune_time_s"] = time.perf_counter() - t0
    if seed_dir is not None:
        seed_dir.mkdir(parents=True, exist_ok=True)
        torch.save(x, seed_dir / "embeddings.pt")
    # Full-batch GNNs on a small graph are many tiny ops: one thread avoids oversubscription.
    pcfg = LinkPredictorConfig(decoder=cfg.link_decoder, hits_k=tuple(cfg.hits_k), num_threads=1)
    out["downstream"] = evaluate_link_downstream(x, split, cfg.downstream, seed, pcfg)
    out["wall_time_s"] = time.perf_counter() - t0
    return out


def _by_part(flat: dict[str, float]) -> dict[str, dict[str, float]]:
    r"""``{"valid_auc": a, ...}`` -> ``{"valid": {"auc": a, ...}, ...}``."""
    out: dict[str, dict[str, float]] = {}
    for key, value in flat.items():
        part, metric = key.split("_", 1)
        out.setdefault(part, {})[metric] = value
    return out


def _collect(per_seed: list[dict], get, metrics: list[str]) -> dict[str, Any]:
    r"""Per metric: the ``test`` and ``valid`` values of every seed, their mean and std."""
    out = {}
    for m in metrics:
        test = [get(r)["test"][m] for r in per_seed]
        s = summarize(test)
        out[m] = {
            "test": test,
            "valid": [get(r)["valid"][m] for r in per_seed],
            "mean": s["mean"],
            "std": s["std"],
        }
    return out


def _aggregate(cfg: Config, graph: TextAttributedGraph, per_seed: list[dict]) -> dict[str, Any]:
    metrics = metric_names(cfg.hits_k)
    result: dict[str, Any] = {
        "task": "link",
        "dataset": graph.name,
        "lm": cfg.lm,
        "method": cfg.method,
        "method_overrides": method_overrides(cfg.method),
        "split_sizes": per_seed[0]["split"] if per_seed else {},
        "link_split_spec": per_seed[0]["link_split"] if per_seed else cfg.link_split,
        "link_decoder": cfg.link_decoder,
        "headline_metric": HEADLINE_METRIC,
        "seeds": [r["seed"] for r in per_seed],
        "downstream": {
            g: _collect(per_seed, lambda r, g=g: r["downstream"][g], metrics)
            for g in cfg.downstream
        },
    }
    if cfg.method == "shallow":
        result["shallow"] = {"kind": cfg.shallow_kind, "max_features": cfg.shallow_max_features}
    if cfg.method in LINK_FINETUNING_METHODS:
        result["e2e"] = _collect(per_seed, lambda r: r["e2e"], metrics)
        keys = per_seed[0]["train"].keys()
        result["train"] = {k: sum(r["train"][k] for r in per_seed) / len(per_seed) for k in keys}
        result["train"]["peak_rss_mb"] = max(r["train"]["peak_rss_mb"] for r in per_seed)
        result["best_epoch"] = [r["best_epoch"] for r in per_seed]
    else:
        result["train"] = {"epoch_time_s": 0.0, "peak_rss_mb": peak_rss_mb(),
                           "encodings_per_target_per_epoch": 0.0,
                           "encodings_per_node_per_epoch": 0.0}
    result["per_seed"] = per_seed
    return result


def run_link(cfg: Config) -> dict[str, Any]:
    r"""Runs the link-prediction protocol over ``cfg.seeds`` seeds and writes the run directory
    (``--resume`` skips seeds whose ``seed_S/result.json`` exists).

    Returns:
        dict: The content of ``results.json``: per GNN (and ``e2e`` for fine-tuning methods),
        per metric, ``test`` and ``valid`` values per seed, and the test ``mean`` and ``std``.
    """
    _check(cfg)
    t0 = time.perf_counter()
    result, graph = run_seeds(cfg, run_link_seed, _aggregate)
    name = f"{cfg.method} ({cfg.shallow_kind if cfg.method == 'shallow' else cfg.lm})"
    metrics = metric_names(cfg.hits_k)
    table = {name: {f"{g} {m}": result["downstream"][g][m]["test"]
                    for g in cfg.downstream for m in metrics}}
    if "e2e" in result:
        table[name].update({f"e2e {m}": result["e2e"][m]["test"] for m in metrics})
    print(f"link prediction on {graph.name}, split {result['link_split_spec']} "
          f"({result['split_sizes'].get('train', 0)} train edges); test, percent")
    print(format_table(table))
    print(f"wrote {cfg.out_dir}/results.json ({time.perf_counter() - t0:.0f} s)")
    return result
