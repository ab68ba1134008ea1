"""Print the README's node-classification tables from the committed result files.

    python benchmarks/node_classification/summarize.py

Reads benchmarks/results/node_classification/{pretrained,leading,...}.json (written by
cora_10_seeds.sh) and sweep*.json (written by sweep.py) and prints markdown.
"""

from __future__ import annotations

import json
from pathlib import Path

from leading.eval import summarize

ROOT = Path("benchmarks/results/node_classification")


def pct(values: list[float]) -> str:
    return "/".join(f"{100 * v:.1f}" for v in values)


def cell(r: dict, gnn: str) -> str:
    d = r["downstream"][gnn] if gnn != "e2e" else r.get("e2e")
    return f"{100 * d['mean']:.1f} ± {100 * d['std']:.1f}" if d else "-"


def table(names: list[str], tag: str = "") -> dict[str, dict]:
    r"""Prints one markdown row per result file ``<name><tag>.json`` that exists."""
    print("| method | GCN test | GAT test | end-to-end head test | seeds |")
    print("|---|---|---|---|---|")
    runs = {}
    for name in names:
        path = ROOT / f"{name}{tag}.json"
        if path.exists():
            r = runs[name] = json.loads(path.read_text())
            e2e = cell(r, "e2e") if name.startswith("leading") else "-"
            print(f"| {name} | {cell(r, 'gcn')} | {cell(r, 'gat')} | {e2e} | {len(r['seeds'])} |")
    return runs


def paired(a: dict, b: dict, name_a: str, name_b: str) -> None:
    r"""Per-seed differences on the seeds that both runs share."""
    for g in ("gcn", "gat"):
        acc_a = dict(zip(a["seeds"], a["downstream"][g]["test_acc"], strict=True))
        acc_b = dict(zip(b["seeds"], b["downstream"][g]["test_acc"], strict=True))
        seeds = sorted(set(acc_a) & set(acc_b))
        diff = [acc_a[s] - acc_b[s] for s in seeds]
        wins = sum(d > 0 for d in diff)
        mean = 100 * sum(diff) / len(diff)
        print(f"- {g}, {name_a} minus {name_b}: {' '.join(f'{100 * d:+.1f}' for d in diff)} "
              f"(mean {mean:+.2f}; ahead on {wins} of {len(diff)} seeds)")


def on_shared_seeds(runs: dict[str, dict]) -> None:
    r"""Mean ± std of every run restricted to the seeds that all of them have."""
    shared = sorted(set.intersection(*(set(r["seeds"]) for r in runs.values())))
    print(f"\nOn the seeds every method ran ({', '.join(map(str, shared))}):\n")
    print("| method | GCN test | GAT test |")
    print("|---|---|---|")
    for name, r in runs.items():
        cells = []
        for g in ("gcn", "gat"):
            acc = dict(zip(r["seeds"], r["downstream"][g]["test_acc"], strict=True))
            s = summarize([acc[k] for k in shared])
            cells.append(f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


def main() -> None:
    runs = table([
        "shallow", "pretrained", "supervised", "glem", "leading", "leading_pseudo0.5_e2",
        "leading_lora_r8", "leading_pseudo0.5_e2_lora_r8",
    ])
    if len({len(r["seeds"]) for r in runs.values()}) > 1:
        on_shared_seeds(runs)
    if "leading" in runs and "pretrained" in runs:
        print("\nPer seed (test accuracy):")
        paired(runs["leading"], runs["pretrained"], "leading", "pretrained")
        for base in ("shallow", "supervised", "glem", "leading_pseudo0.5_e2"):
            if base in runs:
                paired(runs["leading"], runs[base], "leading", base)
        for lora, full in (("leading_lora_r8", "leading"),
                           ("leading_pseudo0.5_e2_lora_r8", "leading_pseudo0.5_e2")):
            if lora in runs and full in runs:
                paired(runs[lora], runs[full], lora, f"{full} (full fine-tuning)")
                paired(runs[lora], runs["pretrained"], lora, "pretrained")
        for name in ("leading", "leading_pseudo0.5_e2"):
            if name not in runs:
                continue
            a = runs[name]
            t = a["train"]
            print(
                f"\n{name} cost: {t['epoch_time_s']:.0f} s per epoch, peak RSS "
                f"{t['peak_rss_mb']:.0f} MB, {t['encodings_per_target_per_epoch']:.2f} LM "
                f"encodings per target and {t['encodings_per_node_per_epoch']:.2f} per node per "
                f"epoch; wall time {a['wall_time_s'] / 60:.0f} min for {len(a['seeds'])} seeds"
            )
    print("\nCora at 60/20/20 (Appendix F):")
    high = table(["shallow", "pretrained", "supervised", "leading", "leading_pseudo0.5_e2"],
                 "_60_20_20")
    for name in ("leading", "leading_pseudo0.5_e2"):
        if name in high and "pretrained" in high:
            paired(high[name], high["pretrained"], name, "pretrained (60/20/20)")
    rows = []
    for path in sorted(ROOT.glob("sweep*.json")):
        rows += json.loads(path.read_text())
    if rows:
        print("\n| setting | seed | e2e valid by epoch (0 = frozen LM) | GCN/GAT valid | "
              "encodings per target / node per epoch |")
        print("|---|---|---|---|---|")
        for r in rows:
            hist = pct([h["valid_acc"] for h in r["history"]]) if r["history"] else "-"
            ds = pct([r["downstream"][g]["valid_acc"] for g in ("gcn", "gat")])
            t = r["train"]
            cost = "-"
            if t:
                cost = (f"{t['encodings_per_target_per_epoch']:.2f} / "
                        f"{t['encodings_per_node_per_epoch']:.2f}")
            print(f"| {r['config']} | {r['seed']} | {hist} | {ds} | {cost} |")
        sweep_means(rows)


def sweep_means(rows: list[dict]) -> None:
    r"""Per setting: mean downstream validation accuracy over its seeds, and the mean paired
    difference to the frozen encoder (``pretrained``) on the seeds both ran. Validation only:
    this is what settings are chosen by."""
    by: dict[str, dict[int, dict]] = {}
    for r in rows:
        by.setdefault(r["config"], {})[r["seed"]] = r
    base = by.get("pretrained", {})

    def val(r: dict, g: str) -> float:
        return 100 * r["downstream"][g]["valid_acc"]

    print("\n| setting | seeds | GCN valid | GAT valid | GCN / GAT valid minus pretrained |")
    print("|---|---|---|---|---|")
    for name, per_seed in by.items():
        seeds = sorted(per_seed)
        mean = {g: sum(val(per_seed[s], g) for s in seeds) / len(seeds) for g in ("gcn", "gat")}
        both = [s for s in seeds if s in base]
        diff = "-"
        if both and name != "pretrained":
            diff = " / ".join(
                f"{sum(val(per_seed[s], g) - val(base[s], g) for s in both) / len(both):+.1f}"
                for g in ("gcn", "gat")
            )
        seed_list = ",".join(map(str, seeds))
        print(f"| {name} | {seed_list} | {mean['gcn']:.1f} | {mean['gat']:.1f} | {diff} |")

if __name__ == "__main__":
    main()
