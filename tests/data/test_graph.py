import pytest
import torch

from leading.data.graph import TextAttributedGraph, canonical_undirected
from leading.errors import DataError

TEXTS = ["zero", "one", "two", "three", "four"]


def graph(**kwargs):
    args = {"texts": TEXTS, "edge_index": torch.tensor([[0, 1], [1, 2]]), "name": "g"}
    args.update(kwargs)
    return TextAttributedGraph(**args)


# ------------------------------------------------------------------ canonical edges
def test_canonical_removes_duplicates_reverse_edges_and_self_loops():
    ei = torch.tensor([[0, 1, 1, 0, 2, 3, 3, 2, 4], [1, 0, 0, 1, 2, 2, 4, 3, 1]])
    out = canonical_undirected(ei, 5)
    # undirected edges {0,1}, {2,3}, {3,4}, {1,4}; the self-loop (2,2) is gone
    pairs = set(map(tuple, out.t().tolist()))
    assert pairs == {(0, 1), (1, 0), (2, 3), (3, 2), (3, 4), (4, 3), (1, 4), (4, 1)}
    assert out.size(1) == len(pairs)  # no duplicates
    assert out.dtype == torch.long
    keys = out[0] * 5 + out[1]
    assert torch.equal(keys, keys.sort().values)  # sorted by (row, col)


def test_num_edges_counts_undirected_edges():
    g = graph(edge_index=torch.tensor([[0, 1, 1, 1, 3, 4], [1, 0, 0, 2, 3, 2]]))
    assert g.num_edges == 3  # {0,1}, {1,2}, {2,4}; (3,3) is a self-loop
    assert g.edge_index.size(1) == 6
    assert g.degree().tolist() == [1, 2, 2, 0, 1]


def test_directed_and_undirected_input_give_the_same_graph():
    one_way = graph(edge_index=torch.tensor([[0, 2, 3], [1, 1, 4]]))
    both = graph(edge_index=torch.tensor([[1, 0, 1, 2, 4, 3], [0, 1, 2, 1, 3, 4]]))
    assert torch.equal(one_way.edge_index, both.edge_index)
    assert one_way.num_edges == 3


def test_empty_edge_list():
    g = graph(edge_index=torch.zeros(2, 0, dtype=torch.long))
    assert g.num_edges == 0 and g.edge_index.shape == (2, 0)
    assert g.degree().tolist() == [0] * 5


@pytest.mark.parametrize("bad", [5, -1, 17])
def test_edge_index_node_id_out_of_range(bad):
    with pytest.raises(DataError) as e:
        graph(edge_index=torch.tensor([[0, 1, 2], [1, bad, 3]]))
    msg = str(e.value)
    assert "g: edge_index" in msg
    assert f"edge #1 (1, {bad})" in msg
    assert "[0, 5)" in msg


def test_edge_index_bad_shape_and_non_integer_ids():
    with pytest.raises(DataError, match=r"shape \[2, E\], got \(3, 2\)"):
        graph(edge_index=torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(DataError, match="node ids must be integers"):
        graph(edge_index=torch.tensor([[0.0, 1.5], [1.0, 2.0]]))
    # integral floats are fine
    g = graph(edge_index=torch.tensor([[0.0, 1.0], [1.0, 2.0]]))
    assert g.edge_index.dtype == torch.long and g.num_edges == 2


# ------------------------------------------------------------------ labels
def test_labels_stored_as_long_with_default_class_names():
    g = graph(y=torch.tensor([0, 2, 1, 2, 0], dtype=torch.int32))
    assert g.y.dtype == torch.long
    assert g.class_names == ["0", "1", "2"] and g.num_classes == 3


def test_ogb_style_column_labels_are_flattened():
    g = graph(y=torch.tensor([[0], [1], [1], [0], [1]]))
    assert g.y.tolist() == [0, 1, 1, 0, 1]


def test_label_count_mismatch():
    with pytest.raises(DataError, match=r"g: expected 5 labels \(one per node\), got shape \(4,\)"):
        graph(y=torch.tensor([0, 1, 0, 1]))


def test_negative_label_names_the_node():
    with pytest.raises(DataError, match="g: node 3 has negative label -2"):
        graph(y=torch.tensor([0, 1, 0, -2, 1]))


def test_float_label_names_the_node_and_value():
    with pytest.raises(DataError, match="g: node 2 has non-integer label 1.5"):
        graph(y=torch.tensor([0.0, 1.0, 1.5, 0.0, 1.0]))
    with pytest.raises(DataError, match="node 0 has non-integer label nan"):
        graph(y=torch.tensor([float("nan"), 1.0, 1.0, 0.0, 1.0]))
    g = graph(y=torch.tensor([0.0, 1.0, 1.0, 0.0, 2.0]))
    assert g.y.dtype == torch.long and g.y.tolist() == [0, 1, 1, 0, 2]


def test_boolean_labels_rejected():
    with pytest.raises(DataError, match="labels must be integers"):
        graph(y=torch.tensor([True, False, True, False, True]))


def test_label_beyond_class_names():
    with pytest.raises(DataError, match="g: node 4 has label 2 but only 2 class names"):
        graph(y=torch.tensor([0, 1, 0, 1, 2]), class_names=["a", "b"])


# ------------------------------------------------------------------ texts
@pytest.mark.parametrize("empty", ["", "   ", "\n\t"])
def test_empty_text_is_an_error_by_default(empty):
    texts = ["a", "b", empty, "d", "e"]
    with pytest.raises(DataError) as e:
        graph(texts=texts)
    assert "g: node 2 has an empty text" in str(e.value)
    assert "empty_text=" in str(e.value)  # says how to opt in


def test_empty_text_placeholder_is_opt_in():
    g = graph(texts=["a", "", "c", " ", "e"], empty_text="[no text]")
    assert g.texts == ["a", "[no text]", "c", "[no text]", "e"]


def test_non_string_text_names_node_and_type():
    with pytest.raises(DataError, match="g: node 1 text must be a string, got int"):
        graph(texts=["a", 7, "c", "d", "e"])
    with pytest.raises(DataError, match="g: node 4 text must be a string, got NoneType"):
        graph(texts=["a", "b", "c", "d", None])
    with pytest.raises(DataError, match="texts must be a sequence of strings"):
        graph(texts="abcde")


# ------------------------------------------------------------------ splits
def test_splits_accept_ids_and_masks():
    mask = torch.tensor([False, True, False, True, False])
    g = graph(splits={"train": [4, 0], "test": mask})
    assert g.splits["train"].tolist() == [4, 0]
    assert g.splits["test"].tolist() == [1, 3]
    assert g.mask("train").tolist() == [True, False, False, False, True]
    with pytest.raises(KeyError, match="no split named 'valid'"):
        g.mask("valid")


@pytest.mark.parametrize("bad", [5, -1])
def test_split_id_out_of_range(bad):
    with pytest.raises(DataError) as e:
        graph(splits={"train": [0, bad]})
    assert f"g: split 'train' contains node id {bad} outside [0, 5)" in str(e.value)


def test_split_duplicate_id():
    with pytest.raises(DataError, match="g: split 'valid' lists node 3 more than once"):
        graph(splits={"valid": [1, 3, 2, 3]})


def test_split_non_integer_id_and_bad_mask():
    with pytest.raises(DataError, match="split 'train' entry #1 is 0.5, expected an integer"):
        graph(splits={"train": torch.tensor([1.0, 0.5])})
    with pytest.raises(DataError, match="split 'test' mask has 3 entries, expected 5"):
        graph(splits={"test": torch.tensor([True, False, True])})


def test_with_splits_keeps_everything_else():
    g = graph(y=torch.tensor([0, 1, 0, 1, 1]), class_names=["x", "y"])
    h = g.with_splits({"train": torch.tensor([1, 2])})
    assert h.splits["train"].tolist() == [1, 2] and not g.splits
    assert h.texts == g.texts and torch.equal(h.y, g.y) and h.class_names == ["x", "y"]
    assert torch.equal(h.edge_index, g.edge_index) and h.name == "g"


# ------------------------------------------------------------------ PyG conversion
def test_to_pyg_from_pyg_round_trip():
    g = graph(
        edge_index=torch.tensor([[0, 1, 3], [1, 2, 4]]),
        y=torch.tensor([0, 1, 2, 1, 0]),
        class_names=["a", "b", "c"],
        splits={"train": [0, 1], "valid": [2], "test": [3, 4]},
    )
    data = g.to_pyg()
    assert data.num_nodes == 5 and data.text == TEXTS
    assert data.train_mask.tolist() == [True, True, False, False, False]
    back = TextAttributedGraph.from_pyg(data)
    assert back.texts == g.texts and back.name == "g"
    assert torch.equal(back.edge_index, g.edge_index)
    assert torch.equal(back.y, g.y) and back.class_names == g.class_names
    assert set(back.splits) == {"train", "valid", "test"}
    for k in g.splits:
        assert torch.equal(back.splits[k], g.splits[k])
    # the Data object is a copy, not a view of the graph
    data.edge_index[0, 0] = 4
    assert g.edge_index[0, 0] == 0


def test_from_pyg_canonicalizes_and_requires_text():
    from torch_geometric.data import Data

    data = Data(edge_index=torch.tensor([[0, 1, 2], [1, 0, 2]]), num_nodes=3)
    with pytest.raises(DataError, match="no `text`"):
        TextAttributedGraph.from_pyg(data)
    data.raw_texts = ["a", "b", "c"]
    g = TextAttributedGraph.from_pyg(data, name="raw")
    assert g.name == "raw" and g.num_edges == 1 and g.y is None and g.num_classes == 0


def test_repr_mentions_sizes():
    g = graph(y=torch.tensor([0, 1, 0, 1, 1]), splits={"train": [0, 1]})
    r = repr(g)
    assert "num_nodes=5" in r and "num_edges=2" in r and "num_classes=2" in r
    assert "train=2" in r
