r"""Synthetic graphs in memory (:func:`synthetic_graph`) and streamed to a directory
(:func:`write_synthetic`)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from leading.data.datasets.synthetic.generator import SyntheticGenerator
from leading.data.datasets.synthetic.spec import SynthSpec, parse_synth_spec
from leading.data.graph import TextAttributedGraph
from leading.errors import DataError

__all__ = ["synthetic_graph", "load_synthetic", "write_synthetic"]


def _progress(total: int, desc: str, enabled: bool | None):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="node",
        unit_scale=True,
        disable=None if enabled is None else not enabled,
        leave=False if enabled is None else True,
        dynamic_ncols=True,
    )


def _spec_of(num_nodes: int | SynthSpec, kwargs: dict) -> SynthSpec:
    if isinstance(num_nodes, SynthSpec):
        if kwargs:
            return dataclasses.replace(num_nodes, **kwargs)
        return num_nodes
    return SynthSpec(num_nodes=num_nodes, **kwargs)


def synthetic_graph(
    num_nodes: int | SynthSpec,
    num_classes: int = 10,
    avg_degree: float = 10.0,
    homophily: float = 0.8,
    seed: int = 0,
    *,
    name: str | None = None,
    chunk_size: int = 1 << 16,
    progress: bool | None = None,
    **settings,
) -> TextAttributedGraph:
    r"""Builds a synthetic text-attributed graph in memory (see the module docstring).

    Args:
        num_nodes (int or SynthSpec): Number of nodes, or a full :class:`SynthSpec`.
        num_classes, avg_degree, homophily, seed: See :class:`SynthSpec`.
        name (str, optional): Graph name; defaults to the specification string.
        chunk_size (int): Nodes generated at a time (does not change the result).
        progress (bool, optional): Show a progress bar (default: when on a terminal).
        **settings: Other :class:`SynthSpec` fields (``signal``, ``power_law``, ...).

    Returns:
        TextAttributedGraph: labelled, without splits (use ``per_class`` or ``60/20/20``).
    """
    if isinstance(num_nodes, SynthSpec):
        spec = _spec_of(num_nodes, settings)
    else:
        spec = SynthSpec(num_nodes, num_classes, avg_degree, homophily, seed, **settings)
    gen = SyntheticGenerator(spec, chunk_size)
    texts: list[str] = []
    srcs, dsts = [], []
    with _progress(spec.num_nodes, "synth", progress) as bar:
        for a, b in gen.chunks():
            texts.extend(gen.texts(a, b))
            s, d = gen.edges(a, b)
            srcs.append(s)
            dsts.append(d)
            bar.update(b - a)
    edge_index = torch.from_numpy(np.stack([np.concatenate(srcs), np.concatenate(dsts)]))
    return TextAttributedGraph(
        texts,
        edge_index,
        torch.from_numpy(gen.labels.astype(np.int64)),
        gen.class_names,
        name=name or spec.to_spec(),
    )


def load_synthetic(spec: str, progress: bool | None = None) -> TextAttributedGraph:
    r"""Builds the graph of a ``synth:N[,key=value,...]`` specification (see
    :func:`parse_synth_spec`); ``load_dataset`` routes ``synth:`` names here."""
    return synthetic_graph(parse_synth_spec(spec), name=str(spec).strip(), progress=progress)


# ------------------------------------------------------------------------------- the writer
def _digits(x: np.ndarray, width: int) -> np.ndarray:
    r"""ASCII digits of non-negative ints as a ``[n, width]`` uint8 matrix, leading zeros as 0
    bytes (dropped when the matrix is flattened without zeros)."""
    out = np.zeros((x.size, width), dtype=np.uint8)
    for j in range(width):
        p = 10 ** (width - 1 - j)
        d = (x // p) % 10
        out[:, j] = np.where((x >= p) | (p == 1), d + 48, 0)
    return out


def _edge_rows(src: np.ndarray, dst: np.ndarray, width: int) -> bytes:
    mat = np.zeros((src.size, 2 * width + 2), dtype=np.uint8)
    mat[:, :width] = _digits(src, width)
    mat[:, width] = ord(",")
    mat[:, width + 1 : 2 * width + 1] = _digits(dst, width)
    mat[:, -1] = ord("\n")
    return mat[mat != 0].tobytes()


def write_synthetic(
    out_dir: str | Path,
    num_nodes: int | SynthSpec,
    num_classes: int = 10,
    avg_degree: float = 10.0,
    homophily: float = 0.8,
    seed: int = 0,
    *,
    compress: bool = False,
    overwrite: bool = False,
    chunk_size: int = 1 << 16,
    progress: bool | None = True,
    **settings,
) -> Path:
    r"""Streams a synthetic graph to :obj:`out_dir` in the documented directory format.

    Writes ``nodes.jsonl`` (``{"node_id", "label", "text"}`` per line), ``edges.csv`` (header
    ``src,dst``; each drawn edge once, in the direction it was drawn, without self-loops; a pair
    drawn from both ends appears twice, which readers deduplicate), ``classes.json`` and
    ``synth.json`` (the parameters and counts). Memory is about 25 bytes a node plus one chunk;
    files are written under ``.part`` names and renamed at the end. ``read_directory`` of the
    result equals :func:`synthetic_graph` of the same arguments (up to the graph name).

    Args:
        out_dir (str or Path): Output directory (created if missing).
        num_nodes, num_classes, avg_degree, homophily, seed, **settings: As
            :func:`synthetic_graph`.
        compress (bool): Gzip the node and edge files (``.gz``, compression level 1).
        overwrite (bool): Replace an existing dataset in :obj:`out_dir`.
        chunk_size (int): Nodes per chunk (does not change the output).
        progress (bool, optional): Show a progress bar (rate, ETA).
    """
    if isinstance(num_nodes, SynthSpec):
        spec = _spec_of(num_nodes, settings)
    else:
        spec = SynthSpec(num_nodes, num_classes, avg_degree, homophily, seed, **settings)
    out = Path(out_dir)
    names = [
        "nodes.jsonl",
        "nodes.jsonl.gz",
        "edges.csv",
        "edges.csv.gz",
        "classes.json",
        "splits.json",
        "synth.json",
    ]
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise DataError(
            f"{out}: already holds a dataset ({', '.join(existing)}); pass "
            "overwrite=True (--force) to replace it"
        )
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    gen = SyntheticGenerator(spec, chunk_size)
    suffix = ".gz" if compress else ""
    final = {k: out / f"{k}{suffix}" for k in ("nodes.jsonl", "edges.csv")}
    part = {k: p.with_name(p.name + ".part") for k, p in final.items()}

    def open_out(path: Path):
        return gzip.open(path, "wb", compresslevel=1) if compress else open(path, "wb")

    width = len(str(max(spec.num_nodes - 1, 0)))
    num_rows = 0
    try:
        with (
            open_out(part["nodes.jsonl"]) as fn,
            open_out(part["edges.csv"]) as fe,
            _progress(spec.num_nodes, f"synth {out.name}", progress) as bar,
        ):
            fe.write(b"src,dst\n")
            for a, b in gen.chunks():
                texts = gen.texts(a, b)
                labels = gen.labels[a:b].tolist()
                fn.write(
                    "".join(
                        [  # texts are [a-z ] only: no JSON escaping needed
                            f'{{"node_id": {i}, "label": {c}, "text": "{t}"}}\n'
                            for i, c, t in zip(range(a, b), labels, texts, strict=True)
                        ]
                    ).encode("ascii")
                )
                src, dst = gen.edges(a, b)
                fe.write(_edge_rows(src, dst, width))
                num_rows += src.size
                bar.update(b - a)
    except BaseException:
        for p in part.values():
            p.unlink(missing_ok=True)
        raise
    for n in existing:
        (out / n).unlink()
    for k in final:
        os.replace(part[k], final[k])
    (out / "classes.json").write_text(json.dumps(gen.class_names) + "\n", encoding="utf-8")
    meta = {
        "spec": spec.to_spec(),
        **dataclasses.asdict(spec),
        "degree_cap": spec.degree_cap,
        "edge_rows": num_rows,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "synth.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return out


# ----------------------------------------------------------------------------------- the CLI
