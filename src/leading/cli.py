r"""Command-line interface: ``leading run``, ``leading embed``, ``leading bench``,
``leading data info`` and ``leading data synth``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from leading.arguments import add_config_arguments, config_from_args, describe
from leading.config import PRECISIONS, Config
from leading.data.datasets.synthetic import register_cli as add_synth_parser
from leading.errors import LeadingError
from leading.text.encoder import POOLINGS

__all__ = ["main"]

#: The settings' defaults (``embed`` and ``bench`` share ``run``'s).
DEFAULTS = Config()


def _data_info(args: argparse.Namespace) -> None:
    import torch

    from leading.data import load_dataset

    g = load_dataset(args.name, root=args.data_dir, download=not args.offline)
    chars = torch.tensor([len(t) for t in g.texts], dtype=torch.float)
    words = torch.tensor([len(t.split()) for t in g.texts], dtype=torch.float)
    deg = g.degree().float()
    print(f"dataset      {g.name}")
    print(f"nodes        {g.num_nodes}")
    print(f"edges        {g.num_edges} undirected")
    print(
        f"degree       mean {deg.mean():.2f}, max {int(deg.max())}, "
        f"isolated {int((deg == 0).sum())}"
    )
    print(f"classes      {g.num_classes}")
    if g.y is not None:
        counts = torch.bincount(g.y, minlength=g.num_classes).tolist()
        for c, (name, n) in enumerate(zip(g.class_names or [], counts, strict=False)):
            print(f"  {c:>3} {name:<32} {n}")
    for label, v in (("text chars", chars), ("text words", words)):
        q = torch.quantile(v, torch.tensor([0.5, 0.9]))
        print(
            f"{label:<12} mean {v.mean():.0f}, median {q[0]:.0f}, p90 {q[1]:.0f}, "
            f"min {v.min():.0f}, max {v.max():.0f}"
        )
    for k, v in g.splits.items():
        print(f"split {k:<7}{v.numel()}")


def _embed(args: argparse.Namespace) -> None:
    import torch

    from leading.data import load_dataset
    from leading.rundir import prepare_run_dir
    from leading.text.encoder import TextEncoder

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    prepare_run_dir(out.parent)  # fail before the encoding, not after it
    t0 = time.perf_counter()
    g = load_dataset(args.dataset, root=args.data_dir)
    enc = TextEncoder.from_pretrained(
        args.lm, pooling=args.pooling, max_length=args.max_length, precision=args.precision
    )
    print(f"leading: LM precision {enc.precision} ({enc.precision_reason})", file=sys.stderr,
          flush=True)
    tokens = enc.tokenize(g.texts)
    x = enc.encode_all(tokens, batch_size=args.batch_size, progress=not args.quiet)
    torch.save(x, out)
    print(f"wrote {out}: {list(x.shape)} ({enc.name}, {time.perf_counter() - t0:.1f} s)")


def _run(args: argparse.Namespace) -> None:
    from leading.run import run

    cfg = config_from_args(args)
    if cfg.nproc > 1 and "WORLD_SIZE" not in os.environ:
        _relaunch(cfg.nproc, args.argv)
        return
    run(cfg)


def _relaunch(nproc: int, argv: list[str]) -> None:
    r"""``leading run --nproc N ...``: the same command under ``torchrun --standalone``, one
    process per rank on this machine; its exit status becomes ours."""
    import subprocess

    rest, skip = [], False
    for arg in argv:  # --nproc would also read as torchrun's --nproc-per-node: leave it out
        if skip or arg == "--nproc" or arg.startswith("--nproc="):
            skip = not skip and arg == "--nproc"
            continue
        rest.append(arg)
    # the processes see WORLD_SIZE and run (a --nproc in a --config file is then ignored)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "-m", "leading", *rest]
    print(f"leading: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    code = subprocess.call(cmd)
    if code != 0:
        raise SystemExit(code)


def _bench(args: argparse.Namespace) -> None:
    from leading.bench.runner import run_bench

    run_bench(
        mode="quick" if args.quick else "full", out=args.out, studies=args.studies,
        resume=args.resume, memory_budget_mb=args.memory_budget_mb, timeout_s=args.timeout_s,
        threads=args.threads, device=args.device, dataset=args.dataset, lm=args.lm,
        max_length=args.max_length, epochs=args.epochs, head_epochs=args.head_epochs,
        dry_run=args.dry_run, plots=not args.no_plots,
    )


def _add_bench_parser(sub) -> None:
    from leading.bench.measure import DEFAULT_MEMORY_BUDGET_MB
    from leading.bench.studies import STUDIES

    bench = sub.add_parser(
        "bench", help="the paper's efficiency studies (Tables 4-6, Figures 3-5), one fresh "
        "process per configuration: efficiency.json, summary.md and plots",
    )
    bench.add_argument("--quick", action="store_true",
                       help="fewer points, 32 tokens, 1 epoch (minutes instead of an hour)")
    bench.add_argument("--out", help="results directory (default: benchmarks/results/"
                       "efficiency, or efficiency-quick with --quick)")
    bench.add_argument("--studies", nargs="+", choices=STUDIES, help="a subset of the studies")
    bench.add_argument("--resume", action="store_true",
                       help="keep the ok / oom rows of OUT/efficiency.json, run the rest")
    bench.add_argument("--memory-budget-mb", type=float, default=DEFAULT_MEMORY_BUDGET_MB,
                       help="kill a run above this resident set size and report it as OOM "
                       "(default: %(default)s)")
    bench.add_argument("--timeout-s", type=float, help="wall-time limit of one configuration")
    bench.add_argument("--threads", type=int, help="torch threads of each run")
    for name in ("device", "dataset", "lm"):  # the defaults of leading run
        bench.add_argument("--" + name, default=getattr(DEFAULTS, name), help=describe(name))
    bench.add_argument("--max-length", type=int, help="tokens per text (default: 64, quick 32)")
    bench.add_argument("--epochs", type=int,
                       help="LM epochs of the studies that report accuracy (default: 3, quick 1)")
    bench.add_argument("--head-epochs", type=int, help="head warm-up epochs (default: 100, "
                       "quick 10)")
    bench.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    bench.add_argument("--no-plots", action="store_true", help="write efficiency.json only")
    bench.set_defaults(func=_bench)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="leading", description="End-to-end LM + GNN fine-tuning on text-attributed graphs."
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run", help="fine-tune and evaluate (the main job)",
        description="Fine-tune and evaluate. Settings resolve as defaults < --config YAML < "
        "--preset < command-line flags; the resolved settings are saved as OUT_DIR/config.yaml.",
    )
    add_config_arguments(run)
    run.set_defaults(func=_run)

    embed = sub.add_parser("embed", help="frozen LM embeddings of every node, saved as [N, d]")
    # the same settings, defaults and help texts as leading run's (one default per setting)
    for name in ("dataset", "data_dir", "lm", "max_length", "threads"):
        flag, tp = "--" + name.replace("_", "-"), int if name in ("max_length", "threads") else str
        embed.add_argument(flag, type=tp, default=getattr(DEFAULTS, name), help=describe(name))
    embed.add_argument("--pooling", choices=POOLINGS, default=DEFAULTS.pooling,
                       help=describe("pooling"))
    embed.add_argument("--precision", choices=PRECISIONS, default=DEFAULTS.precision,
                       help=describe("precision"))
    embed.add_argument("--batch-size", type=int, default=DEFAULTS.encode_batch_size,
                       help=describe("encode_batch_size"))
    embed.add_argument("--quiet", action="store_true", help="Hide the progress bar.")
    embed.add_argument("--out", required=True, help="output file (torch.save of a [N, d] tensor)")
    embed.set_defaults(func=_embed)

    _add_bench_parser(sub)

    data = sub.add_parser("data", help="inspect and generate datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    info = dsub.add_parser("info", help="nodes, edges, classes, label counts, text lengths")
    info.add_argument("name", help="built-in name (cora, pubmed, ogbn-arxiv, ...), "
                      "synth:N[,key=value,...] or directory")
    info.add_argument("--data-dir", help=describe("data_dir"))
    info.add_argument("--offline", action="store_true", help="never download")
    info.set_defaults(func=_data_info)
    add_synth_parser(dsub)  # leading data synth --nodes N --classes C --avg-degree D ...
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        args.func(args)
    except LeadingError as e:
        print(f"leading: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("leading: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
