"""How stable is training the end-to-end head (MLP -> implicit propagation) on frozen embeddings?

    HF_HUB_OFFLINE=1 leading embed --dataset cora --lm minilm --max-length 128 \
        --out runs/cora_minilm128.pt
    python benchmarks/propagation/head_stability.py --embeddings runs/cora_minilm128.pt

For each setting it trains the head full-batch on the 140 training nodes of seed 0's 20-per-class
split for 200 epochs (Adam, lr 1e-2 unless stated) and records the training loss and validation
accuracy every 10 epochs, and their spread over the last 100 epochs. This is what chose the
default number of propagation steps (``--prop-steps``). Writes
benchmarks/results/propagation/head_stability.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from leading.config import Config
from leading.data import load_dataset, make_split
from leading.train import build_head

SETTINGS: dict[str, dict] = {
    "implicit L=2 (paper)": {"prop_steps": 2},
    "implicit L=3": {"prop_steps": 3},
    "implicit L=5": {"prop_steps": 5},
    "implicit L=10": {"prop_steps": 10},
    "implicit L=2, lr 1e-3": {"prop_steps": 2, "lr_head": 1e-3},
    "implicit L=10, backward history (eq. 6)": {"prop_steps": 10, "backward_init": "history"},
    "implicit L=10, cold forward": {"prop_steps": 10, "forward_warm_start": False},
    "explicit APPNP L=10": {"head": "appnp", "prop_steps": 10},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--embeddings", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--out", default="benchmarks/results/propagation/head_stability.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    g = load_dataset("cora")
    split = make_split(g, "per_class", args.seed)
    x = torch.load(args.embeddings)
    ids = torch.arange(g.num_nodes)
    train, valid = split["train"], split["valid"]
    results = {}
    for name, kw in SETTINGS.items():
        torch.manual_seed(args.seed)
        cfg = Config(**kw)
        head = build_head(cfg, g.num_nodes, x.size(1), g.num_classes)
        opt = torch.optim.AdamW(
            head.parameters(), lr=cfg.lr_head, weight_decay=cfg.head_weight_decay
        )
        curve = []
        for epoch in range(1, args.epochs + 1):
            head.train()
            loss = F.cross_entropy(head(x, g.edge_index, ids)[train], g.y[train])
            loss.backward()
            opt.step()
            opt.zero_grad()
            if epoch % 10 == 0:
                head.eval()
                with torch.no_grad():
                    pred = head(x, g.edge_index, ids).argmax(-1)
                acc = float((pred[valid] == g.y[valid]).float().mean())
                curve.append({"epoch": epoch, "train_loss": float(loss.detach()), "valid_acc": acc})
        late = [c["valid_acc"] for c in curve if c["epoch"] > args.epochs // 2]
        losses = [c["train_loss"] for c in curve]
        results[name] = {
            "settings": kw,
            "curve": curve,
            "max_train_loss_after_first_20": max(losses[2:]),
            "valid_acc_late_mean": statistics.mean(late),
            "valid_acc_late_min": min(late),
            "valid_acc_late_max": max(late),
        }
        r = results[name]
        print(
            f"{name:<42} late val {r['valid_acc_late_mean']:.3f} "
            f"[{r['valid_acc_late_min']:.3f}, {r['valid_acc_late_max']:.3f}]  "
            f"max train loss after epoch 20: {r['max_train_loss_after_first_20']:.2f}",
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"embeddings": args.embeddings, "seed": args.seed,
                               "results": results}, indent=1))


if __name__ == "__main__":
    main()
