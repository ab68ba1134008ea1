"""How concentrated the targets' influence is on Cora: the share of the personalized PageRank
mass (leading.train.refresh.influence_weights) that the targets hold, how many other nodes share
the rest, and how much of it the top-k other nodes cover (k = what pipeline 2 can refresh).

    python benchmarks/node_classification/influence_mass.py --seeds 10 11 --top 160 480 1000
"""

from __future__ import annotations

import argparse

from leading.data import load_dataset, make_split
from leading.train.refresh import influence_weights


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[10, 11])
    p.add_argument("--top", type=int, nargs="+", default=[160, 480, 1000])
    p.add_argument("--alpha", type=float, default=0.1)
    args = p.parse_args()
    graph = load_dataset("cora")
    for seed in args.seeds:
        train = make_split(graph, "per_class", seed)["train"]
        w = influence_weights(graph.edge_index, graph.num_nodes, train, args.alpha)
        others = w.clone()
        others[train] = 0.0
        ranked = others.sort(descending=True).values
        tops = ", ".join(
            f"top {k}: {float(ranked[:k].sum() / others.sum()):.3f}" for k in args.top
        )
        print(f"seed {seed}: targets hold {float(w[train].sum() / w.sum()):.3f} of the mass; "
              f"{int((others > 0).sum())} other nodes share the rest; {tops}")


if __name__ == "__main__":
    main()
