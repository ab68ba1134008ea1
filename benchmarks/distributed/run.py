"""One process against two on this machine: time per step, memory per process, bytes sent.

    HF_HUB_OFFLINE=1 python benchmarks/distributed/run.py [--nodes 20k] [--lm minilm] [--fsdp]
        [--out DIR]

Runs ``leading run`` on a synthetic graph (``synth:N``) with the tiny random BERT of the scale
benchmark (2 layers, hidden 64, 32 tokens, fp32), LEADING on sampled subgraphs, one LM epoch of
``--targets`` targets, no downstream GNNs: once as one process with 2 threads and batch 2B, once
as ``--nproc 2`` with one thread and batch B each (the same global batch, the same cores), and
with ``--fsdp`` once more as ``--nproc 2 --fsdp`` (the LM sharded over the two processes).
``--lm`` replaces the tiny BERT (e.g. ``minilm``, whose optimizer state makes FSDP's saving
visible in the memory per process).
Reads each run's ``results.json`` (rank 0's figures) and writes ``OUT/distributed.json`` and
``OUT/table.md`` with the communication volume per step, measured (bytes handed to the
collectives by rank 0) and derived:

* gradients: one ``all_reduce`` of every trainable parameter (4 bytes each);
* memory rows: an ``all_gather`` of this rank's pipeline-1 rows (``B`` targets) and pipeline-2
  rows (its ``R / 2`` of the ``R`` refreshed nodes), ``(B + R / 2) x (8 + 4 d)`` bytes (an id
  and ``d`` floats), and the propagation histories' rows of the sampled subgraph.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "scale"))
from run import parse_count, tiny_bert  # noqa: E402

from leading.bench.measure import machine_info  # noqa: E402
from leading.config import Config  # noqa: E402


def leading_run(args: argparse.Namespace, lm: Path | str, out: Path, nproc: int,
                fsdp: bool = False) -> dict:
    batch = args.batch * (2 // nproc)
    config = out.with_suffix(".yaml")
    out.parent.mkdir(parents=True, exist_ok=True)
    Config(dataset=f"synth:{args.nodes}", lm=str(lm), seeds=1, max_length=32, precision="fp32",
           batch_size=batch, scope="subgraph", targets_per_epoch=args.targets,
           pseudo_labels=1.0, epochs=1, head_epochs=5, downstream=[], progress=False,
           save_model=False, out_dir=str(out), threads=2 // nproc, nproc=nproc,
           fsdp=fsdp).save(config)
    cmd = [sys.executable, "-m", "leading", "run", "--config", str(config)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    result = json.loads((out / "results.json").read_text())
    return {"nproc": nproc, "fsdp": fsdp, "batch_per_process": batch,
            "command": " ".join(cmd[1:]),
            "config": Config.load(config).to_dict(), "wall_time_s": time.perf_counter() - t0,
            **result["train"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=parse_count, default=20_000)
    p.add_argument("--targets", type=int, default=1024)
    p.add_argument("--batch", type=int, default=16, help="per process with 2 processes")
    p.add_argument("--lm", default=None, help="LM (default: the tiny random BERT)")
    p.add_argument("--fsdp", action="store_true", help="add a run of 2 processes with --fsdp")
    p.add_argument("--out", default="benchmarks/results/distributed")
    p.add_argument("--table-only", action="store_true", help="rewrite table.md from the JSON")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lm = args.lm or tiny_bert(Path(".cache"))
    path = out / "distributed.json"
    if args.table_only:
        doc = json.loads(path.read_text())
    else:
        rows = [leading_run(args, lm, out / f"run_nproc{n}", n) for n in (1, 2)]
        if args.fsdp:
            rows.append(leading_run(args, lm, out / "run_nproc2_fsdp", 2, fsdp=True))
        from transformers import AutoModel

        from leading.text.models import resolve_model

        model = AutoModel.from_pretrained(resolve_model(lm))
        doc = {"machine": machine_info(2), "args": vars(args), "lm_params":
               sum(p.numel() for p in model.parameters()),
               "hidden": model.config.hidden_size, "rows": rows}
    two = doc["rows"][1]
    d, refresh = doc.get("hidden", 64), int(two["refresh_batch_size"]) // 2
    doc["derived_per_step"] = {
        "gradients_bytes": 4 * doc["lm_params"],
        "rows_bytes_pipelines": (two["batch_per_process"] + refresh) * (8 + 4 * d),
    }
    path.write_text(json.dumps(doc, indent=1))
    derived = doc["derived_per_step"]
    lines = ["| processes x threads | batch / process | s/step (median) | s/epoch | peak RSS "
             "rank 0 (MB) | bytes sent / step (rank 0) |", "|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        fsdp = " FSDP" if r.get("fsdp") else ""
        lines.append(f"| {r['nproc']} x {2 // r['nproc']}{fsdp} | {r['batch_per_process']} | "
                     f"{r['step_time_s']:.3f} | {r['epoch_time_s']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {r.get('comm_bytes_per_step', 0):,.0f} |")
    lines.append(f"\nDerived per step and rank: gradients {derived['gradients_bytes']:,} bytes "
                 f"({doc['lm_params']:,} LM parameters x 4, plus the head's); memory rows "
                 f"{derived['rows_bytes_pipelines']:,} bytes ({two['batch_per_process']} "
                 f"pipeline-1 and {refresh} pipeline-2 rows of 8 + 4 x {d} bytes) plus the "
                 "propagation histories' subgraph rows.")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
