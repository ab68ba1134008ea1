#!/usr/bin/env bash
# Cora, MiniLM, downstream GCN/GAT, for each method given (default: all), 10 seeds (SEEDS=N to
# change). Writes benchmarks/results/node_classification/<method><TAG>.json (copied from the run
# directories under runs/, which are not committed). Extra flags go to `leading run`.
#   bash benchmarks/node_classification/cora_10_seeds.sh                 # every method
#   METHODS="pretrained leading" bash benchmarks/node_classification/cora_10_seeds.sh
#   TAG=_lora_r8 METHODS=leading bash benchmarks/node_classification/cora_10_seeds.sh \
#       --lora-r 8 --lr-lm 2e-4
#   TAG=_60_20_20 SEEDS=5 METHODS="pretrained leading" \
#       bash benchmarks/node_classification/cora_10_seeds.sh --split 60/20/20
set -euo pipefail
export HF_HUB_OFFLINE=1
out=benchmarks/results/node_classification
tag=${TAG:-}
mkdir -p "$out"
for method in ${METHODS:-shallow pretrained supervised glem leading}; do
  leading run --method "$method" --seeds "${SEEDS:-10}" --save-model false --progress false \
    --out-dir "runs/cora_10_seeds_$method$tag" "$@"
  cp "runs/cora_10_seeds_$method$tag/results.json" "$out/$method$tag.json"
done
python benchmarks/node_classification/summarize.py
