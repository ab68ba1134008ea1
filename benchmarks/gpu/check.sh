#!/usr/bin/env bash
# The GPU check, one prepared call on the GPU machine (repository root; writes $OUT/gpu_check.json
# and one log per step): the CUDA tests, Cora with MiniLM (LEADING vs supervised fine-tuning:
# peak CUDA memory, epoch time) and the synthetic 1M-node run, within 450 s in all.
# Needs .gpu/ from benchmarks/gpu/prepare.sh. LEADING_CHECK_CPU=1: tiny versions on the CPU.
# See docs/gpu.md and benchmarks/gpu/check.py.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1
PY=python3
command -v "$PY" >/dev/null 2>&1 || PY=python
exec "$PY" benchmarks/gpu/check.py "$@"
