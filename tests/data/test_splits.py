import pytest
import torch

from leading.data import load_dataset
from leading.data.graph import TextAttributedGraph
from leading.data.splits import make_split, per_class_split, ratio_split
from leading.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def cora():
    return load_dataset("cora")


def labelled_graph(n=1000, classes=4, splits=None):
    y = torch.arange(n) % classes
    return TextAttributedGraph(
        [f"node {i}" for i in range(n)], torch.zeros(2, 0, dtype=torch.long), y,
        splits=splits or {}, name="lab",
    )


def assert_disjoint(split):
    ids = torch.cat(list(split.values()))
    assert torch.unique(ids).numel() == ids.numel()


def test_per_class_protocol_on_cora(cora):
    s = make_split(cora, "per_class", seed=0)
    assert set(s) == {"train", "valid", "test"}
    assert s["train"].numel() == 20 * 7
    assert torch.bincount(cora.y[s["train"]], minlength=7).tolist() == [20] * 7
    assert s["valid"].numel() == 500 and s["test"].numel() == 1000
    assert_disjoint(s)
    for v in s.values():
        assert v.dtype == torch.long and torch.equal(v, v.sort().values)
        assert int(v.min()) >= 0 and int(v.max()) < cora.num_nodes


def test_per_class_is_deterministic_per_seed(cora):
    a = per_class_split(cora.y, seed=3)
    b = per_class_split(cora.y, seed=3)
    c = per_class_split(cora.y, seed=4)
    for k in ("train", "valid", "test"):
        assert torch.equal(a[k], b[k])
    assert not torch.equal(a["train"], c["train"])
    assert not torch.equal(a["test"], c["test"])


def test_per_class_custom_counts_and_errors():
    g = labelled_graph(100, classes=4)
    s = make_split(g, "per_class:5:10:20", seed=1)
    assert torch.bincount(g.y[s["train"]]).tolist() == [5] * 4
    assert s["valid"].numel() == 10 and s["test"].numel() == 20
    assert_disjoint(s)
    with pytest.raises(DataError, match="class 0 has 25 nodes, fewer than the 30 per class"):
        per_class_split(g.y, num_per_class=30)
    with pytest.raises(DataError, match="only 80 nodes remain after training, need 50 .* 40 test"):
        per_class_split(g.y, 5, 50, 40)


def test_ratio_split_60_20_20():
    g = labelled_graph(1000)
    s = make_split(g, "60/20/20", seed=0)
    assert [s[k].numel() for k in ("train", "valid", "test")] == [600, 200, 200]
    assert_disjoint(s)
    assert torch.equal(torch.cat(list(s.values())).sort().values, torch.arange(1000))
    again = make_split(g, "60/20/20", seed=0)
    other = make_split(g, "60/20/20", seed=1)
    assert all(torch.equal(s[k], again[k]) for k in s)
    assert not torch.equal(s["train"], other["train"])


def test_ratio_split_counts_never_exceed_the_graph():
    s = ratio_split(7, (0.5, 0.25, 0.25), seed=0)
    sizes = [s[k].numel() for k in ("train", "valid", "test")]
    assert sum(sizes) <= 7 and sizes[0] in (3, 4)
    assert_disjoint(s)
    s = ratio_split(10, (0.1, 0.1, 0.1), seed=0)
    assert [s[k].numel() for k in ("train", "valid", "test")] == [1, 1, 1]


def test_canonical_uses_graph_splits():
    g = labelled_graph(10, splits={"train": [0, 1], "valid": [2], "test": [7, 8, 9]})
    s = make_split(g, "canonical", seed=5)
    assert {k: v.tolist() for k, v in s.items()} == {
        "train": [0, 1], "valid": [2], "test": [7, 8, 9]
    }
    with pytest.raises(ConfigError, match="lab has no canonical split"):
        make_split(labelled_graph(10), "canonical", seed=0)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("random", "unknown split 'random'"),
        ("per_classes", "unknown split 'per_classes'"),
        ("per_class:5:10", "bad split 'per_class:5:10'; expected per_class:K:VALID:TEST"),
        ("per_class:a:b:c", "bad split 'per_class:a:b:c'"),
        ("60/40", "expected three percentages"),
        ("60/x/20", "bad split '60/x/20'; expected percentages"),
        ("60/30/30", "sum to at most 1"),
        ("80/-10/20", "non-negative"),
    ],
)
def test_bad_split_specs(spec, match):
    with pytest.raises(ConfigError, match=match):
        make_split(labelled_graph(100), spec, seed=0)


def test_per_class_needs_labels():
    g = TextAttributedGraph(["a", "b"], torch.zeros(2, 0, dtype=torch.long), name="nolab")
    with pytest.raises(ConfigError, match="nolab has no labels"):
        make_split(g, "per_class", seed=0)
