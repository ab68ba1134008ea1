r"""Fixtures shared by the dataset tests: tiny OGB datasets written at test time in OGB's released
raw layout (``ogbn-arxiv``, ``ogbn-products``, ``ogbl-citation2``), each fixture a writer
``fn(root, ...) -> folder``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch


def write_file(path: Path, text: str) -> Path:
    r"""Writes :obj:`text` (gzipped when the name ends in ``.gz``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.fixture
def write():
    r"""``write(path, text)``: see :func:`write_file`."""
    return write_file


# --------------------------------------------------------------------------------- ogbn-arxiv
ARXIV_PAPERS = [9657784, 39886162, 116214155, 121432379, 231147053]  # node idx -> MAG id
ARXIV_TEXT = {
    9657784: ("evasion attacks against machine learning", "In security-sensitive applications."),
    39886162: ("how hard is computing parity", "We show that parity is hard."),
    116214155: ("on the power of neural networks", "Neural networks: a study."),
    121432379: ("a note on graph colouring", "Colour\tgraphs."),  # a tab inside the abstract
    231147053: ("multi agent systems", "Agents cooperate."),
}


def _write_arxiv(root: Path, folder: str = "ogbn_arxiv") -> Path:
    d = root / folder
    # directed citations; 1->0 duplicates 0->1 once symmetrized, 4->4 is a self-loop
    write_file(d / "raw" / "edge.csv.gz", "0,1\n1,2\n2,0\n3,4\n1,0\n4,4\n")
    write_file(d / "raw" / "node-label.csv.gz", "3\n0\n1\n3\n2\n")
    write_file(d / "raw" / "node_year.csv.gz", "2013\n2014\n2015\n2016\n2017\n")
    write_file(d / "raw" / "num-node-list.csv.gz", "5\n")
    write_file(d / "raw" / "num-edge-list.csv.gz", "6\n")
    write_file(d / "split" / "time" / "train.csv.gz", "0\n1\n")
    write_file(d / "split" / "time" / "valid.csv.gz", "2\n")
    write_file(d / "split" / "time" / "test.csv.gz", "3\n4\n")
    write_file(
        d / "mapping" / "nodeidx2paperid.csv.gz",
        "node idx,paper id\n" + "".join(f"{i},{p}\n" for i, p in enumerate(ARXIV_PAPERS)),
    )
    write_file(
        d / "mapping" / "labelidx2arxivcategeory.csv.gz",
        "label idx,arxiv category\n0,arxiv cs na\n1,arxiv cs mm\n2,arxiv cs lo\n3,arxiv cs cy\n",
    )
    # titleabs.tsv: no header, paper id <TAB> title <TAB> abstract, any order, more papers than
    # the graph has, and (as in the released file) a first line whose id is not an integer
    lines = ["\ufeffpaper id\ttitle\tabstract"]
    lines.append("200971\tontology as a source for rule generation\tThis paper discloses.")
    for pid in reversed(ARXIV_PAPERS):
        title, abstract = ARXIV_TEXT[pid]
        lines.append(f"{pid}\t{title}\t{abstract}")
    write_file(d / "titleabs.tsv.gz", "\n".join(lines) + "\n")
    return d


@pytest.fixture
def write_arxiv():
    r"""``write_arxiv(root, folder="ogbn_arxiv")``: five papers, four classes, OGB's
    time split."""
    return _write_arxiv


@pytest.fixture
def arxiv_papers() -> list[tuple[int, str, str]]:
    r"""``(paper id, title, abstract)`` of each node of :func:`write_arxiv`, in node order."""
    return [(pid, *ARXIV_TEXT[pid]) for pid in ARXIV_PAPERS]


# ------------------------------------------------------------------------------ ogbn-products
ASINS = ["0000031909", "B00004TF9E", "B0000AXTUY", "B001GNBJQQ"]
PRODUCT_TEXT = {
    "0000031909": ("Girls Ballet Tutu Neon Pink", "High quality 3 layer ballet tutu."),
    "B00004TF9E": ("Marvel Comics Hulk Mask", ""),
    "B0000AXTUY": ("Crayola Washable Markers", 'Bold colours, "washable".'),
    "B001GNBJQQ": ("Deluxe Chef Knife", "Forged steel."),
}


def _write_products(root: Path, folder: str = "ogbn_products") -> Path:
    d = root / folder
    write_file(d / "raw" / "edge.csv.gz", "0,1\n1,2\n2,3\n3,0\n")  # OGB stores each edge once
    write_file(d / "raw" / "node-label.csv.gz", "0\n2\n1\n2\n")
    write_file(d / "raw" / "num-node-list.csv.gz", "4\n")
    write_file(d / "split" / "sales_ranking" / "train.csv.gz", "3\n")
    write_file(d / "split" / "sales_ranking" / "valid.csv.gz", "1\n")
    write_file(d / "split" / "sales_ranking" / "test.csv.gz", "0\n2\n")
    write_file(
        d / "mapping" / "nodeidx2asin.csv.gz",
        "node idx,asin\n" + "".join(f"{i},{a}\n" for i, a in enumerate(ASINS)),
    )
    write_file(
        d / "mapping" / "labelidx2productcategory.csv.gz",
        'label idx,product category\n0,Home & Kitchen\n1,"Clothing, Shoes & Jewelry"\n'
        "2,Toys & Games\n",
    )

    def record(asin: str) -> str:
        title, content = PRODUCT_TEXT.get(asin, ("Other product", "Not in the graph."))
        return json.dumps(
            {
                "uid": asin,
                "title": title,
                "content": content,
                "target_ind": [1, 5],
                "target_rel": [1.0, 1.0],
            }
        )

    raw = d / "Amazon-3M.raw"
    write_file(
        raw / "trn.json.gz", "\n".join(record(a) for a in (ASINS[2], "B0000XXXXX", ASINS[0])) + "\n"
    )
    write_file(raw / "tst.json.gz", "\n".join(record(a) for a in (ASINS[3], ASINS[1])) + "\n")
    return d


@pytest.fixture
def write_products():
    r"""``write_products(root, folder="ogbn_products")``: four products, three categories,
    the Amazon-3M text in ``trn`` and ``tst`` files."""
    return _write_products


# ----------------------------------------------------------------------------- ogbl-citation2
CITATION_PAPERS = [2100000001, 2100000002, 2100000003, 2100000004, 2100000005, 2100000006]


def _write_citation2(root: Path, as_numpy: bool = True) -> Path:
    d = root / "ogbl_citation2"
    write_file(d / "raw" / "edge.csv.gz", "0,1\n0,2\n1,2\n3,2\n4,3\n2,0\n")
    write_file(d / "raw" / "node_year.csv.gz", "2016\n2007\n2006\n2002\n1965\n2019\n")
    write_file(d / "raw" / "num-node-list.csv.gz", "6\n")
    write_file(
        d / "mapping" / "nodeidx2paperid.csv.gz",
        "node idx,paper id\n" + "".join(f"{i},{p}\n" for i, p in enumerate(CITATION_PAPERS)),
    )
    conv = np.asarray if as_numpy else torch.as_tensor
    splits = {
        "train": {"source_node": conv([0, 0, 1, 3, 4, 2]), "target_node": conv([1, 2, 2, 2, 3, 0])},
        "valid": {
            "source_node": conv([5]),
            "target_node": conv([1]),
            "target_node_neg": conv([[0, 2, 3]]),
        },
        "test": {
            "source_node": conv([5, 4]),
            "target_node": conv([0, 1]),
            "target_node_neg": conv([[1, 2, 3], [0, 2, 5]]),
        },
    }
    (d / "split" / "time").mkdir(parents=True)
    for k, v in splits.items():
        torch.save(v, d / "split" / "time" / f"{k}.pt")
    lines = [f"{p}\tpaper {i} title\tabstract of paper {i}" for i, p in enumerate(CITATION_PAPERS)]
    write_file(d / "titleabs.tsv", "\n".join(reversed(lines)) + "\n")
    return d


@pytest.fixture
def write_citation2():
    r"""``write_citation2(root, as_numpy=True)``: six papers, OGB's time link split (saved
    as numpy arrays or tensors)."""
    return _write_citation2


@pytest.fixture
def citation_papers() -> list[int]:
    r"""The MAG paper id of each node of :func:`write_citation2`."""
    return list(CITATION_PAPERS)
