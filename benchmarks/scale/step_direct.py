"""Median time of LEADING training steps called directly, without the rest of a run.

    HF_HUB_OFFLINE=1 python benchmarks/scale/step_direct.py 10k 1M [--threads 2]

For each size: the synthetic graph ``synth:N``, the tiny random BERT of ``run.py`` (32 tokens,
fp32), LEADING on sampled subgraphs (batch 32, fanouts [10, 5], pipeline 2 as large as pipeline
1, no prefill: the memory's values do not change the cost), 32 steps; prints the median of
steps 6-32 (the first ones warm up allocators and caches). A check of ``run.py``'s per-step
figures that no epoch-boundary work can touch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from run import parse_count, tiny_bert  # noqa: E402

from leading.config import Config  # noqa: E402
from leading.data import load_dataset  # noqa: E402
from leading.data.splits import per_class_split  # noqa: E402
from leading.text.encoder import TextEncoder  # noqa: E402
from leading.train import LeadingTrainer  # noqa: E402


def median_step(n: int, lm: Path) -> float:
    graph = load_dataset(f"synth:{n}")
    cfg = Config(dataset=f"synth:{n}", lm=str(lm), max_length=32, precision="fp32",
                 batch_size=32, fanouts=[10, 5], scope="subgraph", refresh_fraction=None,
                 targets_per_epoch=1024, pseudo_labels=0.0, prefill=False, head_epochs=1,
                 progress=False)
    splits = per_class_split(graph.y, 20, 500, 1000, seed=0)
    encoder = TextEncoder.from_pretrained(str(lm), "mean", 32, precision="fp32")
    trainer = LeadingTrainer(graph, splits, encoder, cfg, seed=0)
    times = []
    for batch in trainer.task.epoch_batches(trainer.gen, cfg.batch_size):
        t0 = time.perf_counter()
        trainer.training_step(batch, with_lm=True)
        trainer.optimizer_step(with_lm=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[5:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("nodes", nargs="+", type=parse_count)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lm = tiny_bert(Path(".cache"))
    for n in args.nodes:
        print(f"{n:,} nodes: median step {median_step(n, lm):.4f} s", flush=True)


if __name__ == "__main__":
    main()
