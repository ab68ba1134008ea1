r"""``ogbn-arxiv`` and ``ogbn-products`` on tiny fixtures written at test time in OGB's released
raw layout (see ``../conftest.py``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from leading.data.datasets import load_dataset
from leading.data.datasets.ogb import load_ogbn_arxiv, load_ogbn_products
from leading.errors import DataError


# --------------------------------------------------------------------------------- ogbn-arxiv
def test_arxiv(tmp_path: Path, write_arxiv, arxiv_papers):
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
    for node, (_, title, abstract) in enumerate(arxiv_papers):
        assert g.texts[node] == f"{title}: {abstract}"
    assert g.texts[3] == "a note on graph colouring: Colour\tgraphs."


def test_arxiv_registry_and_unrenamed_zip_folder(tmp_path: Path, write_arxiv):
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


def test_arxiv_offline_message_names_only_missing_text(tmp_path: Path, write_arxiv):
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
def test_arxiv_malformed(tmp_path: Path, rel: str, text: str, match: str, write, write_arxiv):
    d = write_arxiv(tmp_path)
    write(d / rel, text)
    with pytest.raises(DataError, match=match):
        load_ogbn_arxiv(tmp_path, download=False)


def test_arxiv_missing_text(tmp_path: Path, write, write_arxiv):
    d = write_arxiv(tmp_path)
    write(d / "titleabs.tsv.gz", "9657784\tt\ta\n39886162\tt\ta\n231147053\tt\ta\n")
    with pytest.raises(DataError, match=r"2 node\(s\).*node 2 \(paper id 116214155\)"):
        load_ogbn_arxiv(tmp_path, download=False)
    g = load_ogbn_arxiv(tmp_path, download=False, empty_text="[no text]")
    assert g.texts == ["t: a", "t: a", "[no text]", "[no text]", "t: a"]


# ------------------------------------------------------------------------------ ogbn-products
def test_products(tmp_path: Path, write_products):
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


def test_products_unzipped_json_and_registry(tmp_path: Path, write_products):
    d = write_products(tmp_path, folder="products")
    for s in ("trn", "tst"):
        gz = d / "Amazon-3M.raw" / f"{s}.json.gz"
        (d / "Amazon-3M.raw" / f"{s}.json").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    g = load_dataset("ogbn-products", root=tmp_path, download=False)
    assert g.texts[3] == "Deluxe Chef Knife: Forged steel."


def test_products_missing_text_file_message(tmp_path: Path, write_products):
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
def test_products_malformed(tmp_path: Path, rel: str, text: str, match: str, write, write_products):
    d = write_products(tmp_path)
    write(d / rel, text)
    with pytest.raises(DataError, match=match):
        load_ogbn_products(tmp_path, download=False)
