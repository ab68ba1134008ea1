r"""OGB loaders on tiny fixtures written at test time in OGB's released raw layout."""

from __future__ import annotations

import gzip
import io
import json
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from leading.data.datasets import load_dataset, ogb
from leading.data.datasets.ogb import (
    load_ogbl_citation2,
    load_ogbn_arxiv,
    load_ogbn_products,
    read_int_csv,
)
from leading.errors import DataError


def write(path: Path, text: str) -> Path:
    r"""Writes :obj:`text` (gzipped when the name ends in ``.gz``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


# --------------------------------------------------------------------------------- ogbn-arxiv
ARXIV_PAPERS = [9657784, 39886162, 116214155, 121432379, 231147053]  # node idx -> MAG id
ARXIV_TEXT = {
    9657784: ("evasion attacks against machine learning", "In security-sensitive applications."),
    39886162: ("how hard is computing parity", "We show that parity is hard."),
    116214155: ("on the power of neural networks", "Neural networks: a study."),
    121432379: ("a note on graph colouring", "Colour\tgraphs."),  # a tab inside the abstract
    231147053: ("multi agent systems", "Agents cooperate."),
}


def write_arxiv(root: Path, folder: str = "ogbn_arxiv") -> Path:
    d = root / folder
    # directed citations; 1->0 duplicates 0->1 once symmetrized, 4->4 is a self-loop
    write(d / "raw" / "edge.csv.gz", "0,1\n1,2\n2,0\n3,4\n1,0\n4,4\n")
    write(d / "raw" / "node-label.csv.gz", "3\n0\n1\n3\n2\n")
    write(d / "raw" / "node_year.csv.gz", "2013\n2014\n2015\n2016\n2017\n")
    write(d / "raw" / "num-node-list.csv.gz", "5\n")
    write(d / "raw" / "num-edge-list.csv.gz", "6\n")
    write(d / "split" / "time" / "train.csv.gz", "0\n1\n")
    write(d / "split" / "time" / "valid.csv.gz", "2\n")
    write(d / "split" / "time" / "test.csv.gz", "3\n4\n")
    write(
        d / "mapping" / "nodeidx2paperid.csv.gz",
        "node idx,paper id\n" + "".join(f"{i},{p}\n" for i, p in enumerate(ARXIV_PAPERS)),
    )
    write(
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
    write(d / "titleabs.tsv.gz", "\n".join(lines) + "\n")
    return d


def test_arxiv(tmp_path: Path):
    write_arxiv(tmp_path)
    g = load_ogbn_arxiv(tmp_path, download=False)
    assert g.name == "ogbn-arxiv"
    assert g.num_nodes == 5
    assert g.num_edges == 4  # {0-1, 1-2, 0-2, 3-4}
    assert g.edge_index.tolist() == [[0, 0, 1, 1, 2, 2, 3, 4], [1, 2, 0, 2, 0, 1, 4, 3]]
    assert g.y.tolist() == [3, 0, 1, 3, 2]
    assert g.class_names == ["arxiv cs na", "arxiv cs mm", "arxiv cs lo", "arxiv cs cy"]
    assert {k: v.tolist() for k, v in g.splits.items()} == {
        "train": [0, 1],
        "valid": [2],
        "test": [3, 4],
    }
    for node, pid in enumerate(ARXIV_PAPERS):
        title, abstract = ARXIV_TEXT[pid]
        assert g.texts[node] == f"{title}: {abstract}"
    assert g.texts[3] == "a note on graph colouring: Colour\tgraphs."


def test_arxiv_registry_and_unrenamed_zip_folder(tmp_path: Path):
    d = write_arxiv(tmp_path, folder="arxiv")  # as arxiv.zip unpacks
    (d / "titleabs.tsv.gz").rename(d / "raw" / "titleabs.tsv.gz")
    g = load_dataset("ogbn-arxiv", root=tmp_path, download=False)
    assert g.num_nodes == 5 and g.texts[0].startswith("evasion attacks")


def test_arxiv_offline_message(tmp_path: Path):
    with pytest.raises(DataError) as e:
        load_ogbn_arxiv(tmp_path, download=False)
    msg = str(e.value)
    assert "download=False" in msg
    assert str(tmp_path / "ogbn_arxiv" / "raw" / "edge.csv.gz") in msg
    assert str(tmp_path / "ogbn_arxiv" / "mapping" / "labelidx2arxivcategeory.csv.gz") in msg
    assert "https://snap.stanford.edu/ogb/data/nodeproppred/arxiv.zip" in msg
    assert str(tmp_path / "ogbn_arxiv" / "titleabs.tsv.gz") in msg
    assert "https://snap.stanford.edu/ogb/data/misc/ogbn_arxiv/titleabs.tsv.gz" in msg


def test_arxiv_offline_message_names_only_missing_text(tmp_path: Path):
    d = write_arxiv(tmp_path)
    (d / "titleabs.tsv.gz").unlink()
    with pytest.raises(DataError, match="1 required file") as e:
        load_ogbn_arxiv(tmp_path, download=False)
    assert str(d / "titleabs.tsv.gz") in str(e.value)
    assert "edge.csv.gz" not in str(e.value)


@pytest.mark.parametrize(
    "rel, text, match",
    [
        ("raw/edge.csv.gz", "0,1\n1,x\n", r"edge\.csv\.gz, line 2: expected integer"),
        ("raw/edge.csv.gz", "0,1\n1,2,3\n", r"edge\.csv\.gz, line 2: expected 2 comma"),
        ("raw/edge.csv.gz", "0,1\n1\n2,3\n", r"edge\.csv\.gz, line 2: expected 2 comma"),
        ("raw/edge.csv.gz", "0,1\n1.5,2\n", r"edge\.csv\.gz, line 2: expected integer"),
        ("raw/edge.csv.gz", "0,1\n0,7\n", r"edge\.csv\.gz, line 2: edge \[0, 7\] outside"),
        ("raw/node-label.csv.gz", "3\n0\n4\n3\n2\n", r"node-label\.csv\.gz, line 3: label"),
        ("raw/node-label.csv.gz", "3\n0\n-1\n3\n2\n", r"node-label\.csv\.gz, line 3: label"),
        ("split/time/valid.csv.gz", "2\n5\n", r"valid\.csv\.gz, line 2: node id 5 outside"),
        ("split/time/test.csv.gz", "3\n4\n3\n", r"test\.csv\.gz, line 3: node 3 is listed twice"),
        (
            "mapping/nodeidx2paperid.csv.gz",
            "node idx,paper id\n0,9657784\n2,39886162\n",
            r"nodeidx2paperid\.csv\.gz, line 3: expected node idx 1",
        ),
        (
            "mapping/nodeidx2paperid.csv.gz",
            "0,9657784\n1,39886162\n",
            r"nodeidx2paperid\.csv\.gz, line 1: expected a header line",
        ),
        (
            "mapping/labelidx2arxivcategeory.csv.gz",
            "label idx,arxiv category\n0,arxiv cs na\n2,arxiv cs mm\n",
            r"labelidx2arxivcategeory\.csv\.gz, line 3: expected label idx 1",
        ),
        (
            "titleabs.tsv.gz",
            "9657784\tonly a title\n",
            r"titleabs\.tsv\.gz, line 1: expected 3 tab-separated columns .*\(node 0\)",
        ),
    ],
)
def test_arxiv_malformed(tmp_path: Path, rel: str, text: str, match: str):
    d = write_arxiv(tmp_path)
    write(d / rel, text)
    with pytest.raises(DataError, match=match):
        load_ogbn_arxiv(tmp_path, download=False)


def test_arxiv_missing_text(tmp_path: Path):
    d = write_arxiv(tmp_path)
    write(d / "titleabs.tsv.gz", "9657784\tt\ta\n39886162\tt\ta\n231147053\tt\ta\n")
    with pytest.raises(DataError, match=r"2 node\(s\).*node 2 \(paper id 116214155\)"):
        load_ogbn_arxiv(tmp_path, download=False)
    g = load_ogbn_arxiv(tmp_path, download=False, empty_text="[no text]")
    assert g.texts == ["t: a", "t: a", "[no text]", "[no text]", "t: a"]


def test_read_int_csv_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ogb, "_BLOCK_BYTES", 7)  # force many tiny blocks
    rows = [(i, 10 * i + 1) for i in range(40)]
    p = write(tmp_path / "e.csv.gz", "".join(f"{a},{b}\n" for a, b in rows))
    assert read_int_csv(p, 2).tolist() == [list(r) for r in rows]
    p = write(tmp_path / "h.csv", "node idx,paper id\r\n0,5\r\n1,6")  # CRLF, no final newline
    assert read_int_csv(p, 2, header="node idx,paper id").tolist() == [[0, 5], [1, 6]]
    bad = "".join(f"{a},{b}\n" for a, b in rows[:30]) + "30,x\n"
    p = write(tmp_path / "bad.csv.gz", bad)
    with pytest.raises(DataError, match=r"bad\.csv\.gz, line 31: expected integer"):
        read_int_csv(p, 2)
    p = write(tmp_path / "trailing.csv", "7\n8\n9\n\n\n \n")  # blank lines at the end are fine
    assert read_int_csv(p, 1)[:, 0].tolist() == [7, 8, 9]
    p = write(tmp_path / "blank.csv", "7\n8\n\n9\n")
    with pytest.raises(DataError, match=r"blank\.csv, line 3: empty line"):
        read_int_csv(p, 1)


def test_truncated_gzip(tmp_path: Path):
    d = write_arxiv(tmp_path)
    data = (d / "raw" / "edge.csv.gz").read_bytes()
    (d / "raw" / "edge.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"edge\.csv\.gz: unreadable or truncated"):
        load_ogbn_arxiv(tmp_path, download=False)


# ------------------------------------------------------------------------------ ogbn-products
ASINS = ["0000031909", "B00004TF9E", "B0000AXTUY", "B001GNBJQQ"]
PRODUCT_TEXT = {
    "0000031909": ("Girls Ballet Tutu Neon Pink", "High quality 3 layer ballet tutu."),
    "B00004TF9E": ("Marvel Comics Hulk Mask", ""),
    "B0000AXTUY": ("Crayola Washable Markers", 'Bold colours, "washable".'),
    "B001GNBJQQ": ("Deluxe Chef Knife", "Forged steel."),
}


def write_products(root: Path, folder: str = "ogbn_products") -> Path:
    d = root / folder
    write(d / "raw" / "edge.csv.gz", "0,1\n1,2\n2,3\n3,0\n")  # OGB stores each edge once
    write(d / "raw" / "node-label.csv.gz", "0\n2\n1\n2\n")
    write(d / "raw" / "num-node-list.csv.gz", "4\n")
    write(d / "split" / "sales_ranking" / "train.csv.gz", "3\n")
    write(d / "split" / "sales_ranking" / "valid.csv.gz", "1\n")
    write(d / "split" / "sales_ranking" / "test.csv.gz", "0\n2\n")
    write(
        d / "mapping" / "nodeidx2asin.csv.gz",
        "node idx,asin\n" + "".join(f"{i},{a}\n" for i, a in enumerate(ASINS)),
    )
    write(
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
    write(
        raw / "trn.json.gz", "\n".join(record(a) for a in (ASINS[2], "B0000XXXXX", ASINS[0])) + "\n"
    )
    write(raw / "tst.json.gz", "\n".join(record(a) for a in (ASINS[3], ASINS[1])) + "\n")
    return d


def test_products(tmp_path: Path):
    write_products(tmp_path)
    g = load_ogbn_products(tmp_path, download=False)
    assert g.name == "ogbn-products"
    assert g.num_nodes == 4 and g.num_edges == 4
    assert g.y.tolist() == [0, 2, 1, 2]
    assert g.class_names == ["Home & Kitchen", "Clothing, Shoes & Jewelry", "Toys & Games"]
    assert {k: v.tolist() for k, v in g.splits.items()} == {
        "train": [3],
        "valid": [1],
        "test": [0, 2],
    }
    assert g.texts[0] == "Girls Ballet Tutu Neon Pink: High quality 3 layer ballet tutu."
    assert g.texts[1] == "Marvel Comics Hulk Mask"  # empty content is dropped
    assert g.texts[2] == 'Crayola Washable Markers: Bold colours, "washable".'
    assert g.texts[3] == "Deluxe Chef Knife: Forged steel."


def test_products_unzipped_json_and_registry(tmp_path: Path):
    d = write_products(tmp_path, folder="products")
    for s in ("trn", "tst"):
        gz = d / "Amazon-3M.raw" / f"{s}.json.gz"
        (d / "Amazon-3M.raw" / f"{s}.json").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    g = load_dataset("ogbn-products", root=tmp_path, download=False)
    assert g.texts[3] == "Deluxe Chef Knife: Forged steel."


def test_products_missing_text_file_message(tmp_path: Path):
    d = write_products(tmp_path)
    (d / "Amazon-3M.raw" / "tst.json.gz").unlink()
    with pytest.raises(DataError) as e:
        load_ogbn_products(tmp_path, download=False)
    msg = str(e.value)
    assert str(d / "Amazon-3M.raw" / "tst.json.gz") in msg
    assert "Amazon-3M.raw.zip" in msg and "manikvarma.org" in msg
    assert "not downloadable automatically" in msg
    assert "trn.json.gz\n" not in msg  # only the missing file is listed


@pytest.mark.parametrize(
    "rel, text, match",
    [
        ("Amazon-3M.raw/tst.json.gz", '{"uid": "B001GNBJQQ"}\n{oops\n', r"tst\.json\.gz, line 2"),
        ("Amazon-3M.raw/tst.json.gz", '{"title": "no uid"}\n', r"tst\.json\.gz, line 1: .*'uid'"),
        (
            "Amazon-3M.raw/tst.json.gz",
            '{"uid": "B001GNBJQQ", "title": "x"}\n',
            r"1 node\(s\).*node 1 \(ASIN B00004TF9E\)",
        ),
        (
            "mapping/nodeidx2asin.csv.gz",
            "node idx,asin\n0,A\n1\n",
            r"nodeidx2asin\.csv\.gz, line 3: expected 2 columns",
        ),
        ("raw/node-label.csv.gz", "0\n2\n3\n2\n", r"node-label\.csv\.gz, line 3: label"),
        ("raw/num-node-list.csv.gz", "5\n", r"num-node-list\.csv\.gz: says \[5\] node"),
    ],
)
def test_products_malformed(tmp_path: Path, rel: str, text: str, match: str):
    d = write_products(tmp_path)
    write(d / rel, text)
    with pytest.raises(DataError, match=match):
        load_ogbn_products(tmp_path, download=False)


# ----------------------------------------------------------------------------- ogbl-citation2
CITATION_PAPERS = [2100000001, 2100000002, 2100000003, 2100000004, 2100000005, 2100000006]


def write_citation2(root: Path, as_numpy: bool = True) -> Path:
    d = root / "ogbl_citation2"
    write(d / "raw" / "edge.csv.gz", "0,1\n0,2\n1,2\n3,2\n4,3\n2,0\n")
    write(d / "raw" / "node_year.csv.gz", "2016\n2007\n2006\n2002\n1965\n2019\n")
    write(d / "raw" / "num-node-list.csv.gz", "6\n")
    write(
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
    write(d / "titleabs.tsv", "\n".join(reversed(lines)) + "\n")
    return d


@pytest.mark.parametrize("as_numpy", [True, False])
def test_citation2(tmp_path: Path, as_numpy: bool):
    write_citation2(tmp_path, as_numpy=as_numpy)
    g = load_ogbl_citation2(tmp_path, download=False)
    assert g.name == "ogbl-citation2"
    assert g.num_nodes == 6 and g.num_edges == 5  # 2->0 duplicates 0->2
    assert g.y is None and g.class_names is None and g.splits == {}
    assert g.texts[4] == "paper 4 title: abstract of paper 4"
    assert set(g.edge_splits) == {"train", "valid", "test"}
    assert set(g.edge_splits["train"]) == {"source_node", "target_node"}
    test = g.edge_splits["test"]
    assert test["source_node"].tolist() == [5, 4] and test["target_node"].tolist() == [0, 1]
    assert test["target_node_neg"].shape == (2, 3) and test["target_node_neg"].dtype == torch.long
    assert g.edge_splits["valid"]["target_node_neg"].tolist() == [[0, 2, 3]]


def test_citation2_registry(tmp_path: Path):
    write_citation2(tmp_path)
    g = load_dataset("ogbl-citation2", root=tmp_path, download=False)
    assert g.num_nodes == 6


def test_citation2_offline_message(tmp_path: Path):
    with pytest.raises(DataError) as e:
        load_ogbl_citation2(tmp_path, download=False)
    msg = str(e.value)
    assert str(tmp_path / "ogbl_citation2" / "split" / "time" / "valid.pt") in msg
    assert "https://snap.stanford.edu/ogb/data/linkproppred/citation-v2.zip" in msg
    assert str(tmp_path / "ogbl_citation2" / "titleabs.tsv") in msg
    assert "paper id<TAB>title<TAB>abstract" in msg


def _resave(path: Path, **changes) -> None:
    d = torch.load(path, weights_only=False)
    d.update(changes)
    torch.save(d, path)


@pytest.mark.parametrize(
    "split, changes, match",
    [
        ("valid", {"target_node_neg": np.array([[0, 2, 6]])}, r"valid\.pt: 'target_node_neg'\[0\]"),
        ("test", {"target_node": np.array([0])}, r"test\.pt: 'target_node' has 1 rows"),
        ("test", {"target_node_neg": np.array([1, 2])}, r"test\.pt: 'target_node_neg' must be 2-D"),
        ("train", {"source_node": np.array([0.5] * 6)}, r"train\.pt: 'source_node' must hold int"),
    ],
)
def test_citation2_malformed_split(tmp_path: Path, split: str, changes: dict, match: str):
    d = write_citation2(tmp_path)
    _resave(d / "split" / "time" / f"{split}.pt", **changes)
    with pytest.raises(DataError, match=match):
        load_ogbl_citation2(tmp_path, download=False)


def test_citation2_missing_key_and_not_a_pickle(tmp_path: Path):
    d = write_citation2(tmp_path)
    torch.save({"source_node": torch.tensor([5])}, d / "split" / "time" / "valid.pt")
    with pytest.raises(DataError, match=r"valid\.pt: missing key 'target_node'"):
        load_ogbl_citation2(tmp_path, download=False)
    (d / "split" / "time" / "valid.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match=r"valid\.pt: not a loadable torch-saved split"):
        load_ogbl_citation2(tmp_path, download=False)


def test_citation2_missing_text(tmp_path: Path):
    d = write_citation2(tmp_path)
    write(d / "titleabs.tsv", f"{CITATION_PAPERS[0]}\ttitle\tabstract\n")
    with pytest.raises(DataError, match=r"5 node\(s\).*node 1 \(paper id 2100000002\)"):
        load_ogbl_citation2(tmp_path, download=False)


# ------------------------------------------------------------------ download (network faked)
class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_download_failure_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(ogb.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as e:
        load_ogbn_arxiv(tmp_path, download=True)
    msg = str(e.value)
    assert "download failed" in msg and "URLError" in msg
    assert "https://snap.stanford.edu/ogb/data/nodeproppred/arxiv.zip" in msg
    assert str(tmp_path / "ogbn_arxiv" / "raw" / "edge.csv.gz") in msg
    assert not list(tmp_path.rglob("*.part"))


def test_download_unpacks_and_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    src = write_arxiv(tmp_path / "src", folder="arxiv")
    text = (src / "titleabs.tsv.gz").read_bytes()
    (src / "titleabs.tsv.gz").unlink()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(src.parent).as_posix())
    served = {ogb.ARXIV_URL: buf.getvalue(), ogb.ARXIV_TEXT_URL: text}
    requested = []

    def fake_urlopen(url, timeout=None):
        requested.append((url, timeout))
        return FakeResponse(served[url])

    monkeypatch.setattr(ogb.urllib.request, "urlopen", fake_urlopen)
    root = tmp_path / "data"
    g = load_ogbn_arxiv(root, download=True)
    assert g.num_nodes == 5 and g.texts[0].startswith("evasion attacks")
    assert requested == [(ogb.ARXIV_URL, 20.0), (ogb.ARXIV_TEXT_URL, 20.0)]
    assert (root / "ogbn_arxiv" / "raw" / "edge.csv.gz").is_file()
    assert (root / "ogbn_arxiv" / "titleabs.tsv.gz").is_file()
    assert sorted(p.name for p in root.iterdir()) == ["ogbn_arxiv"]  # zip and temp dir removed
