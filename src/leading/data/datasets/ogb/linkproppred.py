r"""OGB link property prediction datasets with raw text: ``ogbl-citation2``.

The graph and the node-id mapping are read from OGB's released raw files (the layout that the
``citation-v2.zip`` archive unpacks to), the link splits from its torch-saved
``split/time/*.pt`` files; the paper texts come from a separate ``titleabs.tsv``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from leading.data.datasets.download import Required, Source, dataset_dir, ensure_files
from leading.data.datasets.ogb.raw import (
    SPLITS,
    build_graph,
    check_num_nodes,
    read_edges,
    read_index_column,
    read_paper_texts,
    zip_source,
)
from leading.data.datasets.registry import register
from leading.data.graph import TextAttributedGraph
from leading.errors import DataError

__all__ = ["load_ogbl_citation2", "load_pt_split"]

CITATION2_URL = "https://snap.stanford.edu/ogb/data/linkproppred/citation-v2.zip"
CITATION2_TEXT_HINT = (
    "a tab-separated file 'paper id<TAB>title<TAB>abstract' (one line per paper, MAG paper ids "
    "as in mapping/nodeidx2paperid.csv.gz), e.g. built from the Microsoft Academic Graph or "
    "OpenAlex (whose works carry the MAG id as ids.mag)"
)


def _numpy_safe_globals() -> list:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    dtypes = {type(np.dtype(c)) for c in "?bBhHiIlLqQefd"}
    return [
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        *dtypes,
    ]


def load_pt_split(path: str | Path) -> dict:
    r"""Loads one of OGB's ``split/*/{train,valid,test}.pt`` files with ``weights_only=True``.
    Tensors load as usual; numpy arrays (as written by OGB's numpy-based tooling) are allowed by
    whitelisting numpy's array-reconstruction globals only, so no arbitrary code can run.

    Args:
        path (str or Path): The file.
    """
    path = Path(path)
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            if not hasattr(torch.serialization, "safe_globals"):
                raise
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError) as e:
        raise DataError(
            f"{path}: not a loadable torch-saved split ({type(e).__name__}: {e})"
        ) from e


def _edge_split(path: Path, n: int, negatives: bool) -> dict[str, Tensor]:
    raw = load_pt_split(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a dict, got {type(raw).__name__}")
    keys = ["source_node", "target_node"] + (["target_node_neg"] if negatives else [])
    out: dict[str, Tensor] = {}
    for k in keys:
        if k not in raw:
            raise DataError(f"{path}: missing key {k!r} (have {sorted(raw)})")
        v = torch.as_tensor(raw[k])
        if v.is_floating_point() or v.dtype == torch.bool or v.is_complex():
            raise DataError(f"{path}: {k!r} must hold integer node ids, got {v.dtype}")
        v = v.long()
        want = 2 if k == "target_node_neg" else 1
        if v.dim() != want:
            raise DataError(f"{path}: {k!r} must be {want}-D, got shape {tuple(v.shape)}")
        if v.numel() and (int(v.min()) < 0 or int(v.max()) >= n):
            pos = int(((v < 0) | (v >= n)).reshape(v.size(0), -1).any(1).nonzero()[0])
            raise DataError(f"{path}: {k!r}[{pos}] = {v[pos].tolist()} is outside [0, {n})")
        out[k] = v
    m = out["source_node"].numel()
    for k, v in out.items():
        if v.size(0) != m:
            raise DataError(f"{path}: {k!r} has {v.size(0)} rows, 'source_node' has {m}")
    return out


@register("ogbl-citation2")
def load_ogbl_citation2(
    root: str | Path | None = None, download: bool = True, empty_text: str | None = None
) -> TextAttributedGraph:
    r"""Loads ``ogbl-citation2`` (2,927,963 MAG papers, 30,387,995 training citations) with
    title and abstract texts and OGB's link-prediction split.

    Files (under ``root/ogbl_citation2/``, or ``root/citation-v2/`` as the zip unpacks): OGB's
    ``raw/edge.csv.gz``, ``split/time/{train,valid,test}.pt`` (dicts with ``source_node``,
    ``target_node`` and, for valid/test, ``target_node_neg`` of shape ``[n, 1000]``),
    ``mapping/nodeidx2paperid.csv.gz``; and the text, which OGB does not ship:
    ``titleabs.tsv`` (or ``.tsv.gz``), ``paper id<TAB>title<TAB>abstract`` per line, keyed by
    MAG paper id. The graph is unlabelled (:obj:`y` is :obj:`None`); the link splits are in
    :attr:`edge_splits` and the edges of ``raw/edge.csv.gz`` form the (training) graph.

    Args:
        root (str or Path, optional): Data directory (default: :func:`data_dir`).
        download (bool): Whether the OGB archive may be fetched (the text cannot be).
        empty_text (str, optional): Placeholder for papers with no (or an empty) title and
            abstract; by default such papers are an error.
    """
    folder = dataset_dir(root, ("ogbl_citation2", "citation-v2"))
    src = zip_source(folder, "citation-v2", CITATION2_URL)
    text_src = Source(note=f"provide {CITATION2_TEXT_HINT}, at {folder / 'titleabs.tsv'}")
    req = [
        Required((folder / "raw" / "edge.csv.gz",), src),
        *(Required((folder / "split" / "time" / f"{k}.pt",), src, gz=False) for k in SPLITS),
        Required((folder / "mapping" / "nodeidx2paperid.csv.gz",), src),
        Required((folder / "titleabs.tsv", folder / "raw" / "titleabs.tsv"), text_src),
    ]
    edge_p, tr_p, va_p, te_p, map_p, text_p = ensure_files("ogbl-citation2", req, download)
    paper_ids = read_index_column(map_p, None, "node idx,paper id", "node idx")
    n = len(paper_ids)
    check_num_nodes(folder, n)
    edge_index = read_edges(edge_p, n)
    edge_splits = {
        k: _edge_split(p, n, negatives=k != "train")
        for k, p in zip(SPLITS, (tr_p, va_p, te_p), strict=True)
    }
    return build_graph(
        "ogbl-citation2",
        folder,
        texts=read_paper_texts(text_p, paper_ids, map_p, empty_text),
        edge_index=edge_index,
        empty_text=empty_text,
        edge_splits=edge_splits,
    )
