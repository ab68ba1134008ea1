r"""The main job behind ``leading run``: per seed, split -> fine-tune (or not) -> encode every
node -> downstream GNNs; then a table and a run directory. The methods (``--method``: leading,
pretrained, shallow, supervised) are described in :mod:`leading.train.methods`.

Run directory layout::

    OUT/config.yaml              the resolved configuration (``leading run --config`` reloads it)
    OUT/results.json             per-seed and mean ± std figures (rewritten after every seed)
    OUT/seed_S/metrics.csv       per-epoch metrics of the fine-tuning
    OUT/seed_S/embeddings.pt     [N, d] node embeddings from the (fine-tuned) LM, or the
                                 shallow features [N, F]
    OUT/seed_S/model/            the fine-tuned LM (``transformers.AutoModel.from_pretrained``)
    OUT/seed_S/adapter/          with --lora-r R > 0: the LoRA adapter alone (``peft``)
    OUT/seed_S/result.json       this seed's figures; a finished seed is skipped with --resume
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from leading.config import Config
from leading.data import load_dataset, make_split
from leading.data.graph import TextAttributedGraph
from leading.eval.downstream import DownstreamConfig, evaluate_downstream, format_table, summarize
from leading.text.encoder import TextEncoder
from leading.text.lora import maybe_apply_lora, save_encoder
from leading.text.shallow import shallow_features
from leading.train.glem import GlemTrainer
from leading.train.leading import LeadingTrainer, peak_rss_mb
from leading.train.methods import FINETUNING_METHODS, method_overrides

__all__ = ["run", "run_seed", "run_seeds"]


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }


def run_seed(
    cfg: Config,
    graph: TextAttributedGraph,
    seed: int,
    seed_dir: Path | None,
    frozen: dict[str, Any],
) -> dict[str, Any]:
    r"""One seed of the protocol. :obj:`frozen` caches the un-tuned embeddings (or the shallow
    features) across seeds."""
    splits = make_split(graph, cfg.split, seed)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"seed": seed, "method": cfg.method}
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
                enc.tokenize(graph.texts),
                batch_size=cfg.encode_batch_size,
                progress=cfg.progress,
                desc="encode (frozen)",
            )
        x = frozen["x"]
    elif cfg.method == "glem":  # variational EM between the LM and a GNN (leading.train.glem)
        enc = TextEncoder.from_pretrained(
            cfg.lm, cfg.pooling, cfg.max_length, cfg.bf16, cfg.torch_device()
        )
        torch.manual_seed(seed)
        out["trainable_params"] = maybe_apply_lora(enc, cfg)
        res = GlemTrainer(graph, splits, enc, cfg, run_dir=seed_dir, seed=seed).fit()
        x = res.embeddings
        out.update(best_epoch=res.best_epoch, train=res.stats, e2e=res.e2e, glem=res.history)
        if seed_dir is not None and cfg.save_model:
            save_encoder(enc, seed_dir, inplace=True)
    else:
        enc = TextEncoder.from_pretrained(
            cfg.lm, cfg.pooling, cfg.max_length, cfg.bf16, cfg.torch_device()
        )
        torch.manual_seed(seed)
        out["trainable_params"] = maybe_apply_lora(enc, cfg)  # LoRA adapters if cfg.lora_r > 0
        tcfg = cfg.replace(**method_overrides(cfg.method))  # supervised: MLP head, no pipeline 2
        trainer = LeadingTrainer(graph, splits, enc, tcfg, run_dir=seed_dir, seed=seed)
        res = trainer.fit()
        x = res.embeddings
        out.update(best_epoch=res.best_epoch, train=res.stats, e2e=res.e2e)
        if seed_dir is not None and cfg.save_model:
            save_encoder(enc, seed_dir, inplace=True)  # model/ (and adapter/ with LoRA)
    out["finetune_time_s"] = time.perf_counter() - t0
    if seed_dir is not None:
        seed_dir.mkdir(parents=True, exist_ok=True)
        torch.save(x, seed_dir / "embeddings.pt")
    # Full-batch GNNs on a small graph are many tiny ops: one thread avoids oversubscription.
    out["downstream"] = evaluate_downstream(
        x, graph.edge_index, graph.y, splits, cfg.downstream, seed=seed,
        config=DownstreamConfig(num_threads=1),
    )
    out["wall_time_s"] = time.perf_counter() - t0
    return out


def _aggregate(cfg: Config, graph: TextAttributedGraph, per_seed: list[dict]) -> dict[str, Any]:
    seeds = [r["seed"] for r in per_seed]
    result: dict[str, Any] = {
        "dataset": graph.name,
        "lm": cfg.lm,
        "method": cfg.method,
        "method_overrides": method_overrides(cfg.method),
        "split": cfg.split,
        "seeds": seeds,
        "downstream": {},
    }
    for gnn in cfg.downstream:
        accs = [r["downstream"][gnn]["test_acc"] for r in per_seed]
        s = summarize(accs)
        result["downstream"][gnn] = {
            "test_acc": accs,
            "valid_acc": [r["downstream"][gnn]["valid_acc"] for r in per_seed],
            "mean": s["mean"],
            "std": s["std"],
        }
    if cfg.method == "shallow":
        result["shallow"] = {"kind": cfg.shallow_kind, "max_features": cfg.shallow_max_features}
    if cfg.method in FINETUNING_METHODS:
        e2e = [r["e2e"]["test_acc"] for r in per_seed]
        s = summarize(e2e)
        result["e2e"] = {
            "test_acc": e2e,
            "valid_acc": [r["e2e"]["valid_acc"] for r in per_seed],
            "mean": s["mean"],
            "std": s["std"],
        }
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


def run_seeds(
    cfg: Config,
    run_one: Callable[[Config, TextAttributedGraph, int, Path, dict], dict[str, Any]],
    aggregate: Callable[[Config, TextAttributedGraph, list[dict]], dict[str, Any]],
) -> tuple[dict[str, Any], TextAttributedGraph]:
    r"""The seed loop that every task shares: saves the configuration, loads the dataset, runs
    :obj:`run_one(cfg, graph, seed, seed_dir, frozen)` per seed (``--resume`` skips seeds whose
    ``seed_S/result.json`` exists) and rewrites ``results.json`` from :obj:`aggregate` after
    every seed, so that a stopped run still leaves the finished seeds' figures.

    Returns:
        tuple: The content of ``results.json`` and the graph.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.yaml")
    graph = load_dataset(cfg.dataset, root=cfg.data_dir)
    per_seed: list[dict] = []
    frozen: dict[str, Any] = {}  # what seeds share (frozen embeddings, shallow features)

    def write_results() -> dict[str, Any]:
        result = aggregate(cfg, graph, per_seed)
        result.update(machine=_machine(), wall_time_s=time.perf_counter() - t0)
        (out / "results.json").write_text(json.dumps(result, indent=1))
        return result

    for seed in range(cfg.seed, cfg.seed + cfg.seeds):
        seed_dir = out / f"seed_{seed}"
        done = seed_dir / "result.json"
        if cfg.resume and done.exists():
            per_seed.append(json.loads(done.read_text()))
            continue
        r = run_one(cfg, graph, seed, seed_dir, frozen)
        seed_dir.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps(r, indent=1))
        per_seed.append(r)
        write_results()
    return write_results(), graph


def run(cfg: Config) -> dict[str, Any]:
    r"""Runs the whole protocol over ``cfg.seeds`` seeds and writes the run directory.

    Returns:
        dict: The content of ``results.json``.
    """
    if cfg.task == "link":  # link prediction: its own protocol (leading.run_link)
        from leading.run_link import run_link

        return run_link(cfg)
    t0 = time.perf_counter()
    result, _ = run_seeds(cfg, run_seed, _aggregate)
    name = f"{cfg.method} ({cfg.shallow_kind if cfg.method == 'shallow' else cfg.lm})"
    table = {name: {g: result["downstream"][g]["test_acc"] for g in cfg.downstream}}
    if "e2e" in result:
        table[name]["e2e head"] = result["e2e"]["test_acc"]
    print(format_table(table))
    print(f"wrote {cfg.out_dir}/results.json ({time.perf_counter() - t0:.0f} s)")
    return result
