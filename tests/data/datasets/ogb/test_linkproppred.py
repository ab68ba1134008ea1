r"""``ogbl-citation2`` on a tiny fixture written at test time in OGB's released raw layout (see
``../conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from leading.data.datasets import load_dataset
from leading.data.datasets.ogb import load_ogbl_citation2
from leading.errors import DataError


@pytest.mark.parametrize("as_numpy", [True, False])
def test_citation2(tmp_path: Path, as_numpy: bool, write_citation2):
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


def test_citation2_registry(tmp_path: Path, write_citation2):
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
def test_citation2_malformed_split(
    tmp_path: Path, split: str, changes: dict, match: str, write_citation2
):
    d = write_citation2(tmp_path)
    _resave(d / "split" / "time" / f"{split}.pt", **changes)
    with pytest.raises(DataError, match=match):
        load_ogbl_citation2(tmp_path, download=False)


def test_citation2_missing_key_and_not_a_pickle(tmp_path: Path, write_citation2):
    d = write_citation2(tmp_path)
    torch.save({"source_node": torch.tensor([5])}, d / "split" / "time" / "valid.pt")
    with pytest.raises(DataError, match=r"valid\.pt: missing key 'target_node'"):
        load_ogbl_citation2(tmp_path, download=False)
    (d / "split" / "time" / "valid.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match=r"valid\.pt: not a loadable torch-saved split"):
        load_ogbl_citation2(tmp_path, download=False)


def test_citation2_missing_text(tmp_path: Path, write, write_citation2, citation_papers):
    d = write_citation2(tmp_path)
    write(d / "titleabs.tsv", f"{citation_papers[0]}\ttitle\tabstract\n")
    with pytest.raises(DataError, match=r"5 node\(s\).*node 1 \(paper id 2100000002\)"):
        load_ogbl_citation2(tmp_path, download=False)
