#!/usr/bin/env bash
# LEADING vs the frozen encoder on Cora (20 labels per class), MiniLM, 10 seeds, downstream GCN/GAT.
# Writes benchmarks/results/node_classification/{pretrained,leading}.json (copied from the run dirs).
set -euo pipefail
export HF_HUB_OFFLINE=1
out=benchmarks/results/node_classification
mkdir -p "$out"
for method in pretrained leading; do
  leading run --method "$method" --seeds 10 --save-model false --progress false \
    --out-dir "runs/cora_10_seeds_$method" "$@"
  cp "runs/cora_10_seeds_$method/results.json" "$out/$method.json"
done
