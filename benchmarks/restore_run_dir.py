"""Turn a committed results.json back into a run directory that `leading run --resume` extends.

Run directories (runs/...) are not committed; the result files under benchmarks/results are.
Each holds its seeds' own results (``per_seed``), which is what `--resume` looks for
(``seed_S/result.json``): restoring them lets a run cut short by time get more seeds without
re-running the ones it has.

    python benchmarks/restore_run_dir.py benchmarks/results/node_classification/glem.json \
        runs/cora_10_seeds_glem
    leading run --method glem --seeds 10 --resume --out-dir runs/cora_10_seeds_glem ...

The flags of the resumed run must be those of the original one (its ``config.yaml`` is not in
the result file); this script prints the settings the file records, to compare.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="a results.json written by `leading run`")
    p.add_argument("run_dir", type=Path, help="the run directory to (re)create")
    args = p.parse_args()
    result = json.loads(args.results.read_text())
    per_seed = result.get("per_seed")
    if not per_seed:
        raise SystemExit(f"{args.results}: no 'per_seed' entries to restore")
    for r in per_seed:
        seed_dir = args.run_dir / f"seed_{r['seed']}"
        if (seed_dir / "result.json").exists():
            raise SystemExit(f"{seed_dir}/result.json exists; not overwriting it")
        seed_dir.mkdir(parents=True, exist_ok=True)
        (seed_dir / "result.json").write_text(json.dumps(r, indent=1))
    recorded = {k: result[k] for k in ("dataset", "lm", "method", "split", "method_overrides")
                if k in result}
    print(f"restored seeds {[r['seed'] for r in per_seed]} into {args.run_dir}; "
          f"the file records {recorded}")


if __name__ == "__main__":
    main()
