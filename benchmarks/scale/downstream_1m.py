r"""Time and peak RSS of the downstream evaluation on a large random graph; prints JSON.

A random graph with a planted label signal: :obj:`--nodes` nodes, :obj:`--classes` classes
drawn uniformly, :obj:`nodes * degree / 2` undirected edges (stored in both directions), each
edge to a node of the same class with probability :obj:`--homophily` and to a uniform node
otherwise; features :obj:`[N, dim]` are standard normal plus :obj:`--signal` times a random
class mean. Split: 20 labelled nodes per class, 500 validation and 1000 test nodes
(``per_class``), or a 1% / 1% / rest ratio split (``--split ratio``).

Example (the figures in :mod:`leading.eval.downstream`)::

    python benchmarks/scale/downstream_1m.py --nodes 1000000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from leading.data.splits import per_class_split, ratio_split
from leading.eval import DownstreamConfig, downstream_mode, evaluate_downstream


def planted_graph(
    num_nodes: int,
    avg_degree: int = 10,
    dim: int = 32,
    num_classes: int = 5,
    homophily: float = 0.7,
    signal: float = 0.2,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Features :obj:`[N, dim]`, symmetric edges :obj:`[2, E]` and labels :obj:`[N]`."""
    g = torch.Generator().manual_seed(seed)
    n, c = num_nodes, num_classes
    y = torch.randint(0, c, (n,), generator=g)
    m = n * avg_degree // 2
    src = torch.randint(0, n, (m,), generator=g)
    order = torch.argsort(y)
    counts = torch.bincount(y, minlength=c)
    start = torch.cumsum(counts, 0) - counts
    ys = y[src]
    offset = (torch.rand(m, generator=g) * counts[ys]).long().clamp_max(counts[ys] - 1)
    same = order[start[ys] + offset]
    rand = torch.randint(0, n, (m,), generator=g)
    dst = torch.where(torch.rand(m, generator=g) < homophily, same, rand)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    means = torch.randn(c, dim, generator=g)
    x = torch.randn(n, dim, generator=g) + signal * means[y]
    return x, edge_index, y


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=1_000_000)
    p.add_argument("--degree", type=int, default=10)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--split", choices=("per_class", "ratio"), default="per_class")
    p.add_argument("--gnns", nargs="+", default=["gcn", "gat"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--mode", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fanouts", type=int, nargs="+", default=None)
    p.add_argument("--eval-fanouts", type=int, nargs="+", default=None)
    args = p.parse_args()

    t0 = time.perf_counter()
    x, edge_index, y = planted_graph(args.nodes, args.degree, args.dim, args.classes,
                                     seed=args.seed)
    if args.split == "per_class":
        splits = per_class_split(y, seed=args.seed)
    else:
        splits = ratio_split(args.nodes, (0.01, 0.01, 0.98), seed=args.seed)
    gen_s = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    extra = {k: tuple(v) for k, v in (("fanouts", args.fanouts),
                                      ("eval_fanouts", args.eval_fanouts)) if v}
    config = DownstreamConfig(num_threads=args.threads, mode=args.mode, **extra)
    t0 = time.perf_counter()
    res = evaluate_downstream(x, edge_index, y, splits, args.gnns, seed=args.seed, config=config)
    total_s = time.perf_counter() - t0
    print(json.dumps({
        "nodes": args.nodes,
        "edges": edge_index.size(1),
        "dim": args.dim,
        "split": {k: int(v.numel()) for k, v in splits.items()},
        "threads": args.threads,
        "fanouts": list(config.fanouts),
        "eval_fanouts": list(config.eval_fanouts),
        "mode": downstream_mode(args.nodes, edge_index.size(1), config),
        "graph_s": round(gen_s, 1),
        "downstream_s": round(total_s, 1),
        "peak_rss_mb_before": round(rss_before),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "gnns": {
            g: {
                "test_acc": round(r["test_acc"], 4),
                "valid_acc": round(r["valid_acc"], 4),
                "best_epoch": r["best_epoch"],
                "epochs_run": r["epochs_run"],
                "hparams_lr": r["hparams"]["lr"],
                "time_s": round(r["time_s"], 1),
            }
            for g, r in res.items()
        },
    }, indent=1))


if __name__ == "__main__":
    main()
