"""Print the link-prediction table (mean ± std over seeds, percent) from the result files.

    python benchmarks/link_prediction/summarize.py [RESULTS_DIR]

Reads RESULTS_DIR/<method>_<split>.json (default benchmarks/results/link_prediction, written by
cora_5_seeds.sh) and prints markdown: one row per method, for each split the test AUC (the
metric of the paper's Table 9), MRR and Hits@K of the downstream GCN link predictor, then the
end-to-end LEADING head's own test AUC and the fine-tuning cost.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

METHODS = ("shallow", "pretrained", "supervised", "leading")
SPLITS = ("low", "high")
PAPER = {  # Table 9 (percent): Shallow Embedding, then the SBERT rows
    "shallow": {"low": 79.7, "high": 94.9},
    "pretrained": {"low": 80.3, "high": 95.0},
    "supervised": {"low": 80.8, "high": 95.3},
    "leading": {"low": 83.3, "high": 95.7},
}


def cell(block: dict) -> str:
    return f"{100 * block['mean']:.1f} ± {100 * block['std']:.1f}"


def main(root: Path) -> None:
    runs: dict[tuple[str, str], dict] = {}
    for method in METHODS:
        for split in SPLITS:
            path = root / f"{method}_{split}.json"
            if path.exists():
                runs[method, split] = json.loads(path.read_text())
    if not runs:
        print(f"no result files in {root}; run benchmarks/link_prediction/cora_5_seeds.sh")
        return
    first = next(iter(runs.values()))
    gnn = next(iter(first["downstream"]))
    hits = [m for m in first["downstream"][gnn] if m.startswith("hits@")]
    metrics = ["auc", "mrr", *hits]
    header = ["method"] + [f"{s} {m}" for s in SPLITS for m in metrics] + [
        f"paper {s}" for s in SPLITS
    ]
    print(f"Downstream {gnn.upper()} link predictor, test, percent (mean ± std over seeds)\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for method in METHODS:
        if not any((method, s) in runs for s in SPLITS):
            continue
        row = [method]
        for s in SPLITS:
            r = runs.get((method, s))
            row += [cell(r["downstream"][gnn][m]) if r else "-" for m in metrics]
        row += [f"{PAPER[method][s]:.1f}" for s in SPLITS]
        print("| " + " | ".join(row) + " |")

    lines = []
    for (method, split), r in runs.items():
        if "e2e" not in r:
            continue
        t = r["train"]
        lines.append(
            f"| {method} | {split} | {cell(r['e2e']['auc'])} | {cell(r['e2e']['mrr'])} | "
            f"{t['epoch_time_s']:.0f} | {t.get('grad_encodings_per_epoch', 0):.0f} | "
            f"{t['encodings_per_node_per_epoch']:.2f} | {t['peak_rss_mb']:.0f} | "
            f"{r['wall_time_s'] / len(r['seeds']) / 60:.1f} |"
        )
    if lines:
        print("\nEnd-to-end head (its own test metrics) and fine-tuning cost\n")
        print("| method | split | e2e AUC | e2e MRR | s / LM epoch | grad encodings / epoch | "
              "encodings / node / epoch | peak RSS MB | min / seed |")
        print("|---|---|---|---|---|---|---|---|---|")
        print("\n".join(lines))
    seeds = {len(r["seeds"]) for r in runs.values()}
    k = first.get("split_sizes", {}).get("neg_targets_per_positive", "?")
    print(f"\nseeds per cell: {sorted(seeds)}; negatives per positive for MRR/Hits: {k}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("benchmarks/results/link_prediction"))
