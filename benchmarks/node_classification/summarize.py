"""Print the README's node-classification tables from the committed result files.

    python benchmarks/node_classification/summarize.py

Reads benchmarks/results/node_classification/{pretrained,leading,...}.json (written by
cora_10_seeds.sh) and sweep*.json (written by sweep.py) and prints markdown.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path("benchmarks/results/node_classification")


def pct(values: list[float]) -> str:
    return "/".join(f"{100 * v:.1f}" for v in values)


def main() -> None:
    print("| method | GCN test | GAT test | end-to-end head test | seeds |")
    print("|---|---|---|---|---|")
    runs = {}
    for name in ("shallow", "pretrained", "supervised", "leading"):
        path = ROOT / f"{name}.json"
        if not path.exists():
            continue
        r = runs[name] = json.loads(path.read_text())
        cells = [
            f"{100 * r['downstream'][g]['mean']:.1f} ± {100 * r['downstream'][g]['std']:.1f}"
            for g in ("gcn", "gat")
        ]
        e2e = r.get("e2e") if name == "leading" else None  # the graph head's own output
        e2e_cell = f"{100 * e2e['mean']:.1f} ± {100 * e2e['std']:.1f}" if e2e else "-"
        print(f"| {name} | {cells[0]} | {cells[1]} | {e2e_cell} | {len(r['seeds'])} |")
    if "leading" in runs and "pretrained" in runs:
        print("\nPer seed (GCN, GAT test accuracy, leading minus pretrained):")
        a, b = runs["leading"], runs["pretrained"]
        for g in ("gcn", "gat"):
            diff = [x - y for x, y in zip(a["downstream"][g]["test_acc"],
                                          b["downstream"][g]["test_acc"], strict=False)]
            wins = sum(d > 0 for d in diff)
            print(f"- {g}: {' '.join(f'{100 * d:+.1f}' for d in diff)} "
                  f"(leading ahead on {wins} of {len(diff)} seeds)")
        t = a["train"]
        print(
            f"\nLEADING cost: {t['epoch_time_s']:.0f} s per epoch, peak RSS "
            f"{t['peak_rss_mb']:.0f} MB, {t['encodings_per_target_per_epoch']:.2f} LM encodings "
            f"per target and {t['encodings_per_node_per_epoch']:.2f} per node per epoch; "
            f"wall time {a['wall_time_s'] / 60:.0f} min for {len(a['seeds'])} seeds"
        )
    rows = []
    for path in sorted(ROOT.glob("sweep*.json")):
        rows += json.loads(path.read_text())
    if rows:
        print("\n| setting | seed | e2e valid by epoch (0 = frozen LM) | GCN/GAT valid | "
              "encodings per target / node per epoch |")
        print("|---|---|---|---|---|")
        for r in rows:
            hist = pct([h["valid_acc"] for h in r["history"]])
            ds = pct([r["downstream"][g]["valid_acc"] for g in ("gcn", "gat")])
            t = r["train"]
            print(
                f"| {r['config']} | {r['seed']} | {hist} | {ds} | "
                f"{t['encodings_per_target_per_epoch']:.2f} / "
                f"{t['encodings_per_node_per_epoch']:.2f} |"
            )


if __name__ == "__main__":
    main()
