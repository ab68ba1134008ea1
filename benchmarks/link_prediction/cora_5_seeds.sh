#!/usr/bin/env bash
# Link prediction on Cora (paper Appendix C, Table 9): each method x split ("low" 10/30/60 and
# "high" 85/5/10 train/valid/test edges), MiniLM, 5 seeds, downstream GCN link predictor.
# Writes benchmarks/results/link_prediction/<method>_<split>.json (copied from the run
# directories under runs/, which are not committed), then prints the summary table.
# 2 LM epochs, as the committed results (node classification's default is 1). Extra flags go to
# `leading run`.
#   bash benchmarks/link_prediction/cora_5_seeds.sh                       # everything
#   METHODS="pretrained leading" SPLITS=high bash benchmarks/link_prediction/cora_5_seeds.sh
set -euo pipefail
export HF_HUB_OFFLINE=1
out=benchmarks/results/link_prediction
mkdir -p "$out"
for split in ${SPLITS:-low high}; do
  for method in ${METHODS:-shallow pretrained supervised leading}; do
    run="runs/cora_link_${split}_5_seeds_$method"
    leading run --task link --link-split "$split" --method "$method" --seeds 5 --epochs 2 \
      --downstream gcn --save-model false --progress false --out-dir "$run" "$@"
    cp "$run/results.json" "$out/${method}_${split}.json"
  done
done
python benchmarks/link_prediction/summarize.py
