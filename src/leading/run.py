r"""The main job behind ``leading run``: one protocol for every task. Per seed: split -> embed
every node by the method -> downstream GNNs on the embeddings; over the seeds: aggregate ->
``results.json`` and a table. What differs between node classification and link prediction
(``--task``: the split, the trainer, the downstream models, the figures) comes from the
protocol objects of :mod:`leading.protocols`; the methods (``--method``: leading, pretrained,
shallow, supervised, glem, ...) are described in :mod:`leading.train.methods`.

Embedding by method (:func:`embed`): ``shallow`` (TF-IDF / bag-of-words of the node texts,
:mod:`leading.text.shallow`) and ``pretrained`` (the frozen LM) are computed once and shared by
every seed; the other methods load the LM, add LoRA adapters with ``--lora-r R > 0``, and
fine-tune it with the task's trainer from the seed's random state.

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

import contextlib
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from leading.config import Config
from leading.data import load_dataset
from leading.data.graph import TextAttributedGraph
from leading.distributed import init_distributed, is_main
from leading.protocols import TaskProtocol, protocol_of
from leading.rundir import RunLock, prepare_run_dir, read_json, write_json
from leading.text.encoder import TextEncoder
from leading.text.lora import maybe_apply_lora, save_encoder
from leading.text.precision import resolve_precision
from leading.text.shallow import shallow_features
from leading.train import peak_rss_mb
from leading.train.methods import FINETUNING_METHODS, method_overrides

__all__ = ["aggregate", "embed", "lm_precision", "run", "run_seed", "run_seeds"]


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }


def lm_precision(cfg: Config) -> dict[str, Any]:
    r"""``results.json``'s ``precision``: what was asked (``cfg.precision``), what the LM runs
    in (``used``: ``"bf16"`` or ``"fp32"``; :obj:`None` for ``--method shallow``, which has no
    LM) and why (:func:`~leading.text.precision.resolve_precision`, the rule every encoder of
    the run follows)."""
    if cfg.method == "shallow":
        return {"asked": cfg.precision, "used": None, "reason": "no LM (method shallow)"}
    used, reason = resolve_precision(cfg.precision, cfg.torch_device())
    return {"asked": cfg.precision, "used": used, "reason": reason}


def embed(
    cfg: Config,
    protocol: TaskProtocol,
    graph: TextAttributedGraph,
    split: Any,
    seed: int,
    seed_dir: Path | None,
    frozen: dict[str, Any],
    out: dict[str, Any],
) -> Tensor:
    r"""Node embeddings :obj:`[N, d]` by ``cfg.method``; :obj:`frozen` caches the un-tuned
    embeddings (or the shallow features) across seeds. A fine-tuning method records its figures
    in :obj:`out` (``trainable_params``, ``best_epoch``, ``train``, ``e2e``, GLEM's ``glem``)
    and, with ``save_model``, saves the LM under :obj:`seed_dir`."""
    if cfg.method in ("shallow", "pretrained"):
        if "x" not in frozen:  # unsupervised, from every node text: the same for every seed
            frozen["x"] = (
                shallow_features(graph.texts, cfg.shallow_kind, cfg.shallow_max_features)
                if cfg.method == "shallow" else _encode_frozen(cfg, graph)
            )
        return frozen["x"]
    enc = TextEncoder.from_pretrained(
        cfg.lm, cfg.pooling, cfg.max_length, cfg.precision, cfg.torch_device()
    )
    torch.manual_seed(seed)
    out["trainable_params"] = maybe_apply_lora(  # LoRA adapters if cfg.lora_r > 0
        enc, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules
    )
    res = protocol.trainer(cfg, graph, split, enc, seed_dir, seed).fit()
    out.update(best_epoch=res.best_epoch, train=res.stats, e2e=protocol.e2e(res.e2e))
    if cfg.method == "glem":  # one row per LM / GNN step
        out["glem"] = res.history
    if seed_dir is not None and cfg.save_model and (is_main() or enc.sharded):
        save_encoder(enc, seed_dir, inplace=True)  # model/ (and adapter/ with LoRA)
    return res.embeddings


def _encode_frozen(cfg: Config, graph: TextAttributedGraph) -> Tensor:
    enc = TextEncoder.from_pretrained(
        cfg.lm, cfg.pooling, cfg.max_length, cfg.precision, cfg.torch_device()
    )
    return enc.encode_all(
        enc.tokenize(graph.texts),
        batch_size=cfg.encode_batch_size,
        progress=cfg.progress,
        desc="encode (frozen)",
    )


def run_seed(
    cfg: Config,
    graph: TextAttributedGraph,
    seed: int,
    seed_dir: Path | None,
    frozen: dict[str, Any],
) -> dict[str, Any]:
    r"""One seed of the protocol for ``cfg.task``: split, :func:`embed`, save the embeddings,
    downstream GNNs. :obj:`frozen` caches the un-tuned embeddings (or the shallow features)
    across seeds.

    Returns:
        dict: This seed's ``result.json``: ``seed``, ``method``, the task's split fields (link:
        ``link_split``, the resolved specification, and ``split``, its sizes), for fine-tuning
        methods ``trainable_params``, ``best_epoch``, ``train`` (cost figures) and ``e2e`` (the
        trainer's own figures), ``finetune_time_s``, ``downstream`` (per GNN) and
        ``wall_time_s``.
    """
    protocol = protocol_of(cfg)
    split = protocol.split(cfg, graph, seed)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"seed": seed, "method": cfg.method, **protocol.seed_fields(split)}
    x = embed(cfg, protocol, graph, split, seed, seed_dir, frozen, out)
    out["finetune_time_s"] = time.perf_counter() - t0
    if not is_main():  # several processes: rank 0 evaluates and writes
        return out
    if seed_dir is not None:
        seed_dir.mkdir(parents=True, exist_ok=True)
        torch.save(x, seed_dir / "embeddings.pt")
    out["downstream"] = protocol.downstream(cfg, x, graph, split, seed)
    out["wall_time_s"] = time.perf_counter() - t0
    return out


def aggregate(cfg: Config, graph: TextAttributedGraph, per_seed: list[dict]) -> dict[str, Any]:
    r"""The content of ``results.json`` (but ``machine`` and ``wall_time_s``) from the seeds'
    results: per GNN (and ``e2e`` for fine-tuning methods) the figures of every seed with their
    mean and std (:meth:`~leading.protocols.TaskProtocol.summarize`), the mean cost figures
    (``train``) and the seeds' own results (``per_seed``)."""
    protocol = protocol_of(cfg)
    result: dict[str, Any] = {
        **protocol.header,
        "dataset": graph.name,
        "lm": cfg.lm,
        "method": cfg.method,
        "method_overrides": method_overrides(cfg.method),
        **protocol.result_fields(cfg, per_seed),
        "seeds": [r["seed"] for r in per_seed],
        "downstream": {
            g: protocol.summarize(cfg, per_seed, lambda r, g=g: r["downstream"][g])
            for g in cfg.downstream
        },
    }
    if cfg.method == "shallow":
        result["shallow"] = {"kind": cfg.shallow_kind, "max_features": cfg.shallow_max_features}
    if cfg.method in FINETUNING_METHODS:
        result["e2e"] = protocol.summarize(cfg, per_seed, lambda r: r["e2e"])
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


def run_seeds(cfg: Config) -> tuple[dict[str, Any], TextAttributedGraph]:
    r"""The seed loop: saves the configuration, loads the dataset, runs :func:`run_seed` per
    seed (``--resume`` skips seeds whose ``seed_S/result.json`` exists) and rewrites
    ``results.json`` from :func:`aggregate` after every seed, so that a stopped run still
    leaves the finished seeds' figures. Prints the LM precision once to stderr
    (:func:`lm_precision`, also saved in ``results.json``).

    Returns:
        tuple: The content of ``results.json`` and the graph.
    """
    init_distributed(cfg.device)  # under torchrun: join the process group
    out = prepare_run_dir(cfg.out_dir)
    with RunLock(out, "leading run") if is_main() else contextlib.nullcontext():
        return _run_seeds(cfg, out)


def _run_seeds(cfg: Config, out: Path) -> tuple[dict[str, Any], TextAttributedGraph]:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    main = is_main()  # several processes: rank 0 alone writes
    if main:
        cfg.save(out / "config.yaml")
    precision = lm_precision(cfg)
    if precision["used"] is not None and main:
        print(f"leading: LM precision {precision['used']} ({precision['reason']})",
              file=sys.stderr, flush=True)
    graph = load_dataset(cfg.dataset, root=cfg.data_dir)
    per_seed: list[dict] = []
    frozen: dict[str, Any] = {}  # what seeds share (frozen embeddings, shallow features)

    def write_results() -> dict[str, Any]:
        result = aggregate(cfg, graph, per_seed)
        result.update(precision=precision, machine=_machine(),
                      wall_time_s=time.perf_counter() - t0)
        write_json(result, out / "results.json")
        return result

    for seed in range(cfg.seed, cfg.seed + cfg.seeds):
        seed_dir = out / f"seed_{seed}"
        done = seed_dir / "result.json"
        if cfg.resume and done.exists():
            per_seed.append(read_json(done, "seed result"))
            continue
        r = run_seed(cfg, graph, seed, seed_dir, frozen)
        per_seed.append(r)
        if main:
            seed_dir.mkdir(parents=True, exist_ok=True)
            write_json(r, done)
            write_results()
    return (write_results() if main else {"per_seed": per_seed}), graph


def run(cfg: Config) -> dict[str, Any]:
    r"""Runs the whole protocol over ``cfg.seeds`` seeds, writes the run directory and prints the
    table of test figures.

    Returns:
        dict: The content of ``results.json``: per GNN (and ``e2e`` for fine-tuning methods)
        the figures of every seed with the test mean and std (node classification:
        ``test_acc``, ``valid_acc``; link prediction: per metric ``test``, ``valid``).
    """
    t0 = time.perf_counter()
    result, graph = run_seeds(cfg)
    if not is_main():
        return result
    name = f"{cfg.method} ({cfg.shallow_kind if cfg.method == 'shallow' else cfg.lm})"
    print(protocol_of(cfg).table(cfg, graph, name, result))
    print(f"wrote {cfg.out_dir}/results.json ({time.perf_counter() - t0:.0f} s)")
    return result
