r"""``leading data synth``: writes a synthetic graph in the directory format."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from leading.data.datasets.synthetic.build import write_synthetic
from leading.data.datasets.synthetic.spec import SynthSpec, parse_count

__all__ = ["register_cli", "synth_main"]


def register_cli(data_subparsers) -> argparse.ArgumentParser:
    r"""Adds ``synth`` to the subparsers of ``leading data``."""
    d = argparse.Namespace(**{f.name: f.default for f in dataclasses.fields(SynthSpec)})
    p = data_subparsers.add_parser(
        "synth",
        help="write a synthetic text-attributed graph (power-law, homophilous, class-worded)",
        description="Streams a synthetic text-attributed graph to --out in the directory format "
        "(nodes.jsonl, edges.csv, classes.json); the same arguments always give the same graph, "
        "equal to --dataset synth:N,classes=C,degree=D,homophily=H,seed=S.",
    )
    p.add_argument("--nodes", type=_count_arg, required=True, help="number of nodes (1M, 100k)")
    p.add_argument("--classes", type=int, default=d.num_classes, help="number of classes")
    p.add_argument(
        "--avg-degree", type=float, default=d.avg_degree, help="average undirected degree"
    )
    p.add_argument(
        "--homophily", type=float, default=d.homophily, help="fraction of intra-class edges"
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seed")
    p.add_argument(
        "--signal",
        type=float,
        default=d.signal,
        help="mean fraction of a text's words drawn from its class's vocabulary",
    )
    p.add_argument(
        "--power-law", type=float, default=d.power_law, help="exponent of the out-degree law (> 1)"
    )
    p.add_argument(
        "--max-degree",
        type=int,
        default=None,
        help="out-degree cap (default sqrt(nodes * avg-degree))",
    )
    p.add_argument(
        "--class-skew",
        type=float,
        default=d.class_skew,
        help="class c has probability proportional to (c+1)^-skew (0: balanced)",
    )
    p.add_argument("--min-words", type=int, default=d.min_words, help="shortest text, in words")
    p.add_argument("--max-words", type=int, default=d.max_words, help="longest text, in words")
    p.add_argument(
        "--class-words", type=int, default=d.class_words, help="vocabulary size of each class"
    )
    p.add_argument(
        "--common-words", type=int, default=d.common_words, help="size of the shared vocabulary"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--gzip", action="store_true", help="write nodes.jsonl.gz and edges.csv.gz")
    p.add_argument("--force", action="store_true", help="replace a dataset already in --out")
    p.add_argument(
        "--chunk-size", type=int, default=1 << 16, help="nodes per chunk (memory, not output)"
    )
    p.add_argument("--quiet", action="store_true", help="hide the progress bar")
    p.set_defaults(func=synth_main)
    return p


def _count_arg(text: str) -> int:
    try:
        return parse_count(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number like 2000, 100k or 1M, got {text!r}"
        ) from None


def synth_main(args: argparse.Namespace) -> None:
    r"""``leading data synth``: writes the graph and prints a summary line."""
    spec = SynthSpec(
        num_nodes=args.nodes,
        num_classes=args.classes,
        avg_degree=args.avg_degree,
        homophily=args.homophily,
        seed=args.seed,
        signal=args.signal,
        power_law=args.power_law,
        max_degree=args.max_degree,
        class_skew=args.class_skew,
        min_words=args.min_words,
        max_words=args.max_words,
        class_words=args.class_words,
        common_words=args.common_words,
    )
    t0 = time.perf_counter()
    out = write_synthetic(
        args.out,
        spec,
        compress=args.gzip,
        overwrite=args.force,
        chunk_size=args.chunk_size,
        progress=not args.quiet,
    )
    meta = json.loads((out / "synth.json").read_text(encoding="utf-8"))
    print(
        f"wrote {out}: {spec.num_nodes} nodes, {meta['edge_rows']} edge rows, "
        f"{spec.num_classes} classes ({spec.to_spec()}, {time.perf_counter() - t0:.1f} s)"
    )
