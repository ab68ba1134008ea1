r"""OGB node property prediction datasets with raw text: ``ogbn-arxiv`` and ``ogbn-products``.

The graph, labels and splits are read from OGB's released raw files (the layout that the
``arxiv.zip`` and ``products.zip`` archives unpack to); the node texts come from a separate file
mapped to node ids through OGB's ``mapping/`` tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from leading.data.datasets.download import Required, Source, dataset_dir, ensure_files, file_fetcher
from leading.data.datasets.ogb.raw import (
    SPLITS,
    build_graph,
    check_num_nodes,
    check_range,
    read_class_names,
    read_edges,
    read_index_column,
    read_labels,
    read_paper_texts,
    read_split,
    zip_source,
)
from leading.data.datasets.registry import register
from leading.data.datasets.text_files import fill_texts, join_text, text_lines
from leading.data.graph import TextAttributedGraph
from leading.errors import DataError

__all__ = ["load_ogbn_arxiv", "load_ogbn_products", "read_amazon_json"]

ARXIV_URL = "https://snap.stanford.edu/ogb/data/nodeproppred/arxiv.zip"
ARXIV_TEXT_URL = "https://snap.stanford.edu/ogb/data/misc/ogbn_arxiv/titleabs.tsv.gz"
PRODUCTS_URL = "https://snap.stanford.edu/ogb/data/nodeproppred/products.zip"
PRODUCTS_TEXT_URL = "http://manikvarma.org/downloads/XC/XMLRepository.html"


def _load_ogbn(
    name: str,
    root: str | Path | None,
    download: bool,
    dirs: tuple[str, str],
    url: str,
    split: str,
    mapping: str,
    label_map: tuple[str, str],
    text: list[Required],
    read_texts: Callable[[Path, list[Path], int], list[str]],
    empty_text: str | None,
) -> TextAttributedGraph:
    r"""Loads an ``ogbn-*`` dataset from OGB's raw files under ``dataset_dir(root, dirs)``
    (fetched from the zip at :obj:`url`): the labels, the class names (:obj:`label_map`: file
    and header), OGB's split :obj:`split` and the edges; the node texts are
    ``read_texts(mapping table, text files, number of nodes)``, the text files the first
    existing of each of :obj:`text`."""
    folder = dataset_dir(root, dirs)
    src = zip_source(folder, dirs[1], url)
    req = [
        Required((folder / "raw" / "edge.csv.gz",), src),
        Required((folder / "raw" / "node-label.csv.gz",), src),
        *(Required((folder / "split" / split / f"{k}.csv.gz",), src) for k in SPLITS),
        Required((folder / "mapping" / mapping,), src),
        Required((folder / "mapping" / label_map[0],), src),
    ]
    paths = ensure_files(name, req + text, download)
    edge_p, label_p, tr_p, va_p, te_p, map_p, cls_p = paths[:7]
    y = read_labels(label_p)
    n = len(y)
    class_names = read_class_names(cls_p, label_map[1])
    check_range(y, len(class_names), label_p, f"label (classes from {cls_p.name})")
    splits = {k: read_split(p, n) for k, p in zip(SPLITS, (tr_p, va_p, te_p), strict=True)}
    edge_index = read_edges(edge_p, n)
    check_num_nodes(folder, n)
    return build_graph(
        name,
        folder,
        texts=read_texts(map_p, paths[7:], n),
        edge_index=edge_index,
        y=torch.from_numpy(y),
        class_names=class_names,
        splits=splits,
        empty_text=empty_text,
    )


@register("ogbn-arxiv")
def load_ogbn_arxiv(
    root: str | Path | None = None, download: bool = True, empty_text: str | None = None
) -> TextAttributedGraph:
    r"""Loads ``ogbn-arxiv`` (169,343 arXiv CS papers, 1,166,243 citations = 1,157,799
    undirected edges, 40 subject classes) with title and abstract texts.

    Files (under ``root/ogbn_arxiv/``, or ``root/arxiv/`` as the zip unpacks): OGB's
    ``raw/edge.csv.gz``, ``raw/node-label.csv.gz``, ``split/time/{train,valid,test}.csv.gz``,
    ``mapping/nodeidx2paperid.csv.gz``, ``mapping/labelidx2arxivcategeory.csv.gz`` (sic), and
    ``titleabs.tsv.gz`` (or ``titleabs.tsv``, also accepted in ``raw/``). The text of a node is
    ``"<title>: <abstract>"``; the splits are OGB's time split; class names are the arXiv
    categories as OGB writes them (``"arxiv cs na"``, ...).

    Args:
        root (str or Path, optional): Data directory (default: :func:`data_dir`).
        download (bool): Whether missing files may be fetched (:obj:`ARXIV_URL`,
            :obj:`ARXIV_TEXT_URL`).
        empty_text (str, optional): Placeholder text for papers with no (or an empty) title and
            abstract; by default such papers are an error.
    """
    folder = dataset_dir(root, ("ogbn_arxiv", "arxiv"))
    text_src = Source(ARXIV_TEXT_URL, file_fetcher(folder / "titleabs.tsv.gz"))
    text_req = Required(
        (folder / "titleabs.tsv.gz", folder / "titleabs.tsv", folder / "raw" / "titleabs.tsv"),
        text_src,
    )

    def read_texts(map_p: Path, text_ps: list[Path], n: int) -> list[str]:
        paper_ids = read_index_column(map_p, n, "node idx,paper id", "node idx")
        return read_paper_texts(text_ps[0], paper_ids, map_p, empty_text)

    return _load_ogbn(
        "ogbn-arxiv",
        root,
        download,
        ("ogbn_arxiv", "arxiv"),
        ARXIV_URL,
        "time",
        "nodeidx2paperid.csv.gz",
        ("labelidx2arxivcategeory.csv.gz", "label idx,arxiv category"),
        [text_req],
        read_texts,
        empty_text,
    )


def _read_asins(path: Path, n: int) -> list[str]:
    r"""Reads OGB's ``mapping/nodeidx2asin.csv.gz`` (header ``node idx,asin``)."""
    asins: list[str] = []
    for lineno, line in text_lines(path):
        if lineno == 1:
            if line.split(",")[0].strip().isdigit():
                raise DataError(f"{path}, line 1: expected a header line 'node idx,asin'")
            continue
        if not line.strip():
            continue
        idx, sep, asin = line.partition(",")
        asin = asin.strip().strip('"')
        if not sep or not asin or "," in asin:
            raise DataError(f"{path}, line {lineno}: expected 2 columns 'node idx,asin'")
        if idx.strip() != str(len(asins)):
            raise DataError(f"{path}, line {lineno}: expected node idx {len(asins)}, got {idx!r}")
        asins.append(asin)
    if len(asins) != n:
        raise DataError(
            f"{path}: expected {n} rows after the header (one per node), got {len(asins)}"
        )
    return asins


def _asin_index(asins: list[str], path: Path) -> dict[str, int]:
    r"""``ASIN -> node`` for the mapping table :obj:`path`; duplicate ASINs are an error."""
    index: dict[str, int] = {}
    for node, a in enumerate(asins):
        if a in index:
            raise DataError(
                f"{path}, line {node + 2}: ASIN {a} is mapped to nodes {index[a]} and {node}"
            )
        index[a] = node
    return index


def read_amazon_json(
    paths: Sequence[Path], index: dict[str, int], num_nodes: int
) -> list[str | None]:
    r"""Reads Amazon-3M raw JSON-lines files (``{"uid": ASIN, "title": ..., "content": ...}``
    per line, as in the Extreme Classification Repository's ``Amazon-3M.raw``) and returns the
    text ``"<title>: <content>"`` of each node whose ASIN is in :obj:`index` (first entry wins).

    Args:
        paths (Sequence[Path]): The files (``.gz`` is decompressed).
        index (dict): ``ASIN -> node id``.
        num_nodes (int): Number of nodes.
    """
    texts: list[str | None] = [None] * num_nodes
    for path in paths:
        for lineno, line in text_lines(Path(path)):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}, line {lineno}: not valid JSON ({e.msg})") from None
            uid = obj.get("uid", obj.get("asin")) if isinstance(obj, dict) else None
            if not isinstance(uid, str):
                raise DataError(f"{path}, line {lineno}: expected an object with a 'uid' string")
            node = index.get(uid)
            if node is None or texts[node] is not None:
                continue
            title, content = obj.get("title"), obj.get("content")
            for key, v in (("title", title), ("content", content)):
                if v is not None and not isinstance(v, str):
                    raise DataError(f"{path}, line {lineno}: '{key}' must be a string")
            texts[node] = join_text(title, content)
    return texts


@register("ogbn-products")
def load_ogbn_products(
    root: str | Path | None = None, download: bool = True, empty_text: str | None = None
) -> TextAttributedGraph:
    r"""Loads ``ogbn-products`` (2,449,029 Amazon products, 61,859,140 undirected co-purchase
    edges, 47 categories) with product title and description texts.

    Files (under ``root/ogbn_products/``, or ``root/products/`` as the zip unpacks): OGB's
    ``raw/edge.csv.gz``, ``raw/node-label.csv.gz``,
    ``split/sales_ranking/{train,valid,test}.csv.gz``, ``mapping/nodeidx2asin.csv.gz``,
    ``mapping/labelidx2productcategory.csv.gz``; and the text, which OGB does not ship:
    ``Amazon-3M.raw/trn.json.gz`` and ``Amazon-3M.raw/tst.json.gz`` (or ``.json``) from the
    Extreme Classification Repository's ``Amazon-3M.raw.zip``, JSON lines keyed by ASIN
    (``uid``). The text of a node is ``"<title>: <content>"``.

    Args:
        root (str or Path, optional): Data directory (default: :func:`data_dir`).
        download (bool): Whether the OGB archive may be fetched (the text cannot be).
        empty_text (str, optional): Placeholder for products with no (or an empty) title and
            description; by default such products are an error.
    """
    folder = dataset_dir(root, ("ogbn_products", "products"))
    text_src = Source(
        note=f"download Amazon-3M.raw.zip (the 'Amazon-3M' raw text, JSON lines keyed by ASIN) "
        f"from the Extreme Classification Repository, {PRODUCTS_TEXT_URL}, and unzip it in "
        f"{folder}, so that Amazon-3M.raw/trn.json.gz and Amazon-3M.raw/tst.json.gz (or the "
        "unzipped .json files) lie there"
    )
    text_req = [
        Required(
            (folder / "Amazon-3M.raw" / f"{s}.json.gz", folder / "Amazon-3M.raw" / f"{s}.json"),
            text_src,
        )
        for s in ("trn", "tst")
    ]

    def read_texts(map_p: Path, text_ps: list[Path], n: int) -> list[str]:
        asins = _read_asins(map_p, n)
        texts = read_amazon_json(text_ps, _asin_index(asins, map_p), n)
        return fill_texts(texts, asins, "ASIN", " and ".join(map(str, text_ps)), empty_text)

    return _load_ogbn(
        "ogbn-products",
        root,
        download,
        ("ogbn_products", "products"),
        PRODUCTS_URL,
        "sales_ranking",
        "nodeidx2asin.csv.gz",
        ("labelidx2productcategory.csv.gz", "label idx,product category"),
        text_req,
        read_texts,
        empty_text,
    )
