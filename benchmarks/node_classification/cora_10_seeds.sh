#!/usr/bin/env bash
# Cora (20 labels per class), MiniLM, 10 seeds, downstream GCN/GAT, for each method given
# (default: all). Writes benchmarks/results/node_classification/<method>.json (copied from the
# run directories under runs/, which are not committed). Extra flags go to `leading run`.
#   bash benchmarks/node_classification/cora_10_seeds.sh                 # every method
#   METHODS="pretrained leading" bash benchmarks/node_classification/cora_10_seeds.sh
set -euo pipefail
export HF_HUB_OFFLINE=1
out=benchmarks/results/node_classification
mkdir -p "$out"
for method in ${METHODS:-shallow pretrained supervised leading}; do
  leading run --method "$method" --seeds 10 --save-model false --progress false \
    --out-dir "runs/cora_10_seeds_$method" "$@"
  cp "runs/cora_10_seeds_$method/results.json" "$out/$method.json"
done
python benchmarks/node_classification/summarize.py
