import gzip
import json

import pytest
import torch

from leading.data import load_dataset, read_directory, read_tables
from leading.data.datasets.cora import cora_dir
from leading.data.readers import find_file, open_text
from leading.errors import DataError

NODES = [
    {"node_id": 0, "text": "zero", "label": 0},
    {"node_id": 1, "text": "one", "label": 1},
    {"node_id": 2, "text": "two", "label": 0},
]
EDGES = [(0, 1), (1, 2)]


def write(make_dir, tmp_path, nodes=NODES, edges=EDGES, **kwargs):
    return make_dir(tmp_path / "g", nodes, edges, **kwargs)


# ------------------------------------------------------------------ directory format
@pytest.mark.parametrize("gz", [False, True])
def test_directory_format_plain_and_gz(make_dir, tmp_path, gz):
    root = make_dir(
        tmp_path / "tiny",
        NODES,
        [(0, 1), (1, 0), (2, 1), (2, 2)],
        classes=["even", "odd"],
        splits={"train": [0], "valid": [1], "test": [2]},
        gz=gz,
    )
    assert (root / "nodes.jsonl.gz").exists() == gz
    g = read_directory(root)
    assert g.name == "tiny"
    assert g.texts == ["zero", "one", "two"]
    assert g.y.tolist() == [0, 1, 0]
    assert g.class_names == ["even", "odd"]
    assert g.num_edges == 2
    assert sorted(map(tuple, g.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert {k: v.tolist() for k, v in g.splits.items()} == {
        "train": [0], "valid": [1], "test": [2]
    }


def test_label_names_without_classes_json(make_dir, tmp_path):
    nodes = [dict(n, label_name=["even", "odd"][n["label"]]) for n in NODES]
    g = read_directory(write(make_dir, tmp_path, nodes), name="named")
    assert g.name == "named" and g.class_names == ["even", "odd"]


def test_unlabelled_directory(make_dir, tmp_path):
    nodes = [{"node_id": i, "text": t} for i, t in enumerate(["a", "b"])]
    g = read_directory(write(make_dir, tmp_path, nodes, [(0, 1)]))
    assert g.y is None and g.num_classes == 0 and g.num_edges == 1


def test_blank_lines_are_skipped(make_dir, tmp_path):
    root = write(make_dir, tmp_path, [json.dumps(NODES[0]), "", json.dumps(NODES[1])], ["0,1", ""])
    g = read_directory(root)
    assert g.num_nodes == 2 and g.num_edges == 1


# ------------------------------------------------------------------ edges.csv errors
@pytest.mark.parametrize("bad", ["0,3", "-1,2", "7,0"])
def test_edge_node_id_out_of_range_names_file_and_line(make_dir, tmp_path, bad):
    root = write(make_dir, tmp_path, edges=["0,1", bad])
    with pytest.raises(DataError) as e:
        read_directory(root)
    msg = str(e.value)
    wrong = [w for w in map(int, bad.split(",")) if not 0 <= w < 3][0]
    assert str(root / "edges.csv") in msg and "line 3" in msg
    assert f"node id {wrong} is outside [0, 3)" in msg


@pytest.mark.parametrize("header", ["source,target", "dst,src", "0,1"])
def test_bad_edge_header(make_dir, tmp_path, header):
    root = write(make_dir, tmp_path)
    (root / "edges.csv").write_text(f"{header}\n0,1\n")
    with pytest.raises(DataError) as e:
        read_directory(root)
    assert f"{root / 'edges.csv'}, line 1: expected header 'src,dst'" in str(e.value)


def test_empty_edge_file(make_dir, tmp_path):
    root = write(make_dir, tmp_path)
    (root / "edges.csv").write_text("")
    with pytest.raises(DataError, match="edges.csv: empty file, expected a header 'src,dst'"):
        read_directory(root)


@pytest.mark.parametrize("row", ["0,x", "1.5,2", "0,"])
def test_non_integer_edge_ids(make_dir, tmp_path, row):
    root = write(make_dir, tmp_path, edges=["0,1", "1,2", row])
    with pytest.raises(DataError) as e:
        read_directory(root)
    assert f"{root / 'edges.csv'}, line 4: node ids must be integers" in str(e.value)


def test_edge_row_with_one_column(make_dir, tmp_path):
    root = write(make_dir, tmp_path, edges=["0,1", "2"])
    with pytest.raises(DataError, match=r"edges.csv, line 3: expected 2 columns, got 1"):
        read_directory(root)


# ------------------------------------------------------------------ nodes.jsonl errors
def test_bad_json_line(make_dir, tmp_path):
    root = write(make_dir, tmp_path, [json.dumps(NODES[0]), '{"node_id": 1, "text": "x"'])
    with pytest.raises(DataError) as e:
        read_directory(root)
    assert f"{root / 'nodes.jsonl'}, line 2: not valid JSON" in str(e.value)


@pytest.mark.parametrize("obj", [[1, 2], {"node_id": 0}, {"text": "a"}])
def test_node_object_without_required_keys(make_dir, tmp_path, obj):
    root = write(make_dir, tmp_path, [json.dumps(obj)], [])
    with pytest.raises(DataError, match="line 1: expected an object with 'node_id' and 'text'"):
        read_directory(root)


def test_duplicate_node_id(make_dir, tmp_path):
    nodes = NODES[:2] + [{"node_id": 1, "text": "again"}]
    root = write(make_dir, tmp_path, nodes)
    with pytest.raises(DataError) as e:
        read_directory(root)
    msg = str(e.value)
    assert f"{root / 'nodes.jsonl'}, line 3: duplicate node_id 1 (first on line 2)" in msg


def test_node_ids_out_of_order_or_not_integers(make_dir, tmp_path):
    root = write(make_dir, tmp_path, [NODES[0], NODES[2]])
    with pytest.raises(DataError, match="line 2: expected node_id 1 .*got 2"):
        read_directory(root)
    root = write(make_dir, tmp_path, [{"node_id": "0", "text": "a"}], [])
    with pytest.raises(DataError, match="line 1: node_id must be an integer, got '0'"):
        read_directory(root)


@pytest.mark.parametrize(
    ("text", "kind"), [(None, "NoneType"), (3, "int"), (["a"], "list")]
)
def test_non_string_text(make_dir, tmp_path, text, kind):
    root = write(make_dir, tmp_path, NODES[:1] + [{"node_id": 1, "text": text}], [])
    with pytest.raises(DataError) as e:
        read_directory(root)
    assert f"nodes.jsonl, line 2: node 1 text must be a string, got {kind}" in str(e.value)


@pytest.mark.parametrize("label", [1.5, 1.0, "1", True, [1]])
def test_non_integer_json_label(make_dir, tmp_path, label):
    root = write(make_dir, tmp_path, NODES[:2] + [{"node_id": 2, "text": "t", "label": label}])
    with pytest.raises(DataError) as e:
        read_directory(root)
    msg = str(e.value)
    assert "nodes.jsonl, line 3: node 2 label must be a non-negative integer" in msg
    assert repr(label) in msg


def test_negative_json_label(make_dir, tmp_path):
    root = write(make_dir, tmp_path, NODES[:2] + [{"node_id": 2, "text": "t", "label": -1}])
    with pytest.raises(DataError, match="nodes.jsonl, line 3: node 2 has negative label -1"):
        read_directory(root)


def test_partially_labelled(make_dir, tmp_path):
    root = write(make_dir, tmp_path, NODES[:2] + [{"node_id": 2, "text": "t"}])
    with pytest.raises(DataError, match="nodes.jsonl, line 3: node 2 has no 'label', but node 0"):
        read_directory(root)


def test_label_beyond_classes_json(make_dir, tmp_path):
    root = write(make_dir, tmp_path, classes=["only"])
    with pytest.raises(DataError, match="line 2: node 1 has label 1, but .*json names 1 class "):
        read_directory(root)


def test_empty_text_error_and_placeholder(make_dir, tmp_path):
    nodes = NODES[:1] + [{"node_id": 1, "text": "  ", "label": 1}, NODES[2]]
    root = write(make_dir, tmp_path, nodes)
    with pytest.raises(DataError) as e:
        read_directory(root)
    assert str(root) in str(e.value) and "node 1 has an empty text" in str(e.value)
    g = read_directory(root, empty_text="(empty)")
    assert g.texts == ["zero", "(empty)", "two"]


def test_empty_nodes_file(make_dir, tmp_path):
    root = write(make_dir, tmp_path, [], [])
    with pytest.raises(DataError, match="nodes.jsonl: no nodes"):
        read_directory(root)


# ------------------------------------------------------------------ classes / splits
def test_bad_classes_json(make_dir, tmp_path):
    root = write(make_dir, tmp_path)
    (root / "classes.json").write_text('{"a": 0}')
    with pytest.raises(DataError, match="classes.json: expected a JSON list of class-name"):
        read_directory(root)
    (root / "classes.json").write_text("[not json")
    with pytest.raises(DataError, match="classes.json, line 1: not valid JSON"):
        read_directory(root)


@pytest.mark.parametrize(
    ("splits", "expected"),
    [
        ({"train": [0, 3]}, "split 'train' contains node id 3 outside [0, 3)"),
        ({"train": [-1]}, "split 'train' contains node id -1 outside [0, 3)"),
        ({"test": [2, 0, 2]}, "split 'test' lists node 2 more than once"),
        ({"valid": [0.5]}, "split 'valid' must be a list of integer node ids"),
        ({"valid": "0,1"}, "split 'valid' must be a list of integer node ids"),
        ([0, 1], "expected an object mapping split names to id lists"),
    ],
)
def test_bad_splits_json(make_dir, tmp_path, splits, expected):
    root = write(make_dir, tmp_path, splits=splits)
    with pytest.raises(DataError) as e:
        read_directory(root)
    assert str(root / "splits.json") in str(e.value)
    assert expected in str(e.value)


# ------------------------------------------------------------------ unreadable / missing
def test_missing_files(make_dir, tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        read_directory(tmp_path / "nope")
    root = write(make_dir, tmp_path)
    (root / "edges.csv").unlink()
    with pytest.raises(DataError) as e:
        read_directory(root)
    assert f"{root}: expected a file edges.csv or edges.csv.gz" in str(e.value)
    (root / "nodes.jsonl").unlink()
    with pytest.raises(DataError, match="expected a file nodes.jsonl or nodes.jsonl.gz"):
        read_directory(root)
    with pytest.raises(DataError, match="file not found"):
        open_text(root / "missing.csv")
    assert find_file(root, "nodes.jsonl", required=False) is None


def test_gz_that_is_not_gzip(make_dir, tmp_path):
    root = write(make_dir, tmp_path, gz=True)
    (root / "nodes.jsonl.gz").write_bytes(b'{"node_id": 0, "text": "plain text"}\n')
    with pytest.raises(DataError) as e:
        read_directory(root)
    assert f"{root / 'nodes.jsonl.gz'}: not a gzip file" in str(e.value)


@pytest.mark.parametrize(("where", "reason"), [(10, "invalid block type"), (-8, "CRC check")])
def test_corrupt_gzip(make_dir, tmp_path, where, reason):
    root = write(make_dir, tmp_path, gz=True)
    data = bytearray(gzip.compress(b"src,dst\n" + b"0,1\n" * 200))
    # byte 10 starts the deflate stream (0x07: block type 3, which does not exist); the last
    # 8 bytes are the CRC-32 and the size
    data[where] = 0x07 if where == 10 else data[where] ^ 0xFF
    (root / "edges.csv.gz").write_bytes(bytes(data))
    with pytest.raises(DataError) as e:
        read_directory(root)
    assert f"{root / 'edges.csv.gz'}: corrupt gzip data" in str(e.value)
    assert reason in str(e.value)


@pytest.mark.parametrize("stem", ["nodes.jsonl", "edges.csv"])
def test_truncated_gzip(make_dir, tmp_path, stem):
    nodes = [{"node_id": i, "text": f"text of node {i} " * 5} for i in range(200)]
    edges = [(i, (i * 7 + 1) % 200) for i in range(200)]
    root = write(make_dir, tmp_path, nodes, edges, gz=True)
    path = root / f"{stem}.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as e:
        read_directory(root)
    assert f"{path}: truncated gzip file" in str(e.value)


def test_invalid_utf8(make_dir, tmp_path):
    root = write(make_dir, tmp_path)
    (root / "nodes.jsonl").write_bytes(b'{"node_id": 0, "text": "caf\xe9"}\n')
    with pytest.raises(DataError, match="nodes.jsonl, line 1: not valid UTF-8"):
        read_directory(root)


# ------------------------------------------------------------------ plain tables
@pytest.mark.parametrize(("ext", "sep"), [("csv", ","), ("tsv", "\t"), ("tsv.gz", "\t")])
def test_tables_with_string_ids_and_class_names(tmp_path, ext, sep):
    node_rows = [
        ["node_id", "text", "label"],
        ["p7", "first, with a comma" if sep == "," else "first", "theory"],
        ["a1", "second", "neural"],
        ["zz", "third", "theory"],
        ["b2", "fourth", "bayes"],
    ]
    edge_rows = [["src", "dst"], ["p7", "a1"], ["a1", "p7"], ["zz", "b2"], ["b2", "b2"]]

    def dump(rows):
        lines = []
        for r in rows:
            cells = [f'"{c}"' if sep in c else c for c in r]
            lines.append(sep.join(cells))
        data = ("\n".join(lines) + "\n").encode()
        return gzip.compress(data) if ext.endswith(".gz") else data

    (tmp_path / f"nodes.{ext}").write_bytes(dump(node_rows))
    (tmp_path / f"edges.{ext}").write_bytes(dump(edge_rows))
    g = read_tables(tmp_path / f"nodes.{ext}", tmp_path / f"edges.{ext}", name="t")
    assert g.name == "t"
    assert g.texts[0] == node_rows[1][1] and g.texts[1:] == ["second", "third", "fourth"]
    # ids are numbered in table order: p7=0, a1=1, zz=2, b2=3
    assert sorted(map(tuple, g.edge_index.t().tolist())) == [(0, 1), (1, 0), (2, 3), (3, 2)]
    # class names are sorted: bayes=0, neural=1, theory=2
    assert g.class_names == ["bayes", "neural", "theory"]
    assert g.y.tolist() == [2, 1, 2, 0]


def test_tables_with_integer_labels_and_row_order_ids(tmp_path):
    (tmp_path / "n.csv").write_text("text,label\nx,1\ny,0\nz,2\n")
    (tmp_path / "e.csv").write_text("dst,src\n0,1\n2,1\n")
    g = read_tables(tmp_path / "n.csv", tmp_path / "e.csv", id_column=None)
    assert g.y.tolist() == [1, 0, 2] and g.class_names == ["0", "1", "2"]
    assert g.num_edges == 2 and g.name == tmp_path.name
    h = read_tables(tmp_path / "n.csv", tmp_path / "e.csv", id_column=None, label_column=None)
    assert h.y is None


def tables(tmp_path, nodes: str, edges: str = "src,dst\n", **kwargs):
    (tmp_path / "nodes.csv").write_text(nodes)
    (tmp_path / "edges.csv").write_text(edges)
    return read_tables(tmp_path / "nodes.csv", tmp_path / "edges.csv", **kwargs)


def test_table_duplicate_node_id(tmp_path):
    with pytest.raises(DataError) as e:
        tables(tmp_path, "node_id,text,label\na,x,0\nb,y,1\na,z,0\n")
    assert f"{tmp_path / 'nodes.csv'}, line 4: duplicate node id 'a'" in str(e.value)


def test_table_unknown_edge_endpoint(tmp_path):
    with pytest.raises(DataError) as e:
        tables(tmp_path, "node_id,text,label\na,x,0\nb,y,1\n", "src,dst\na,b\nb,c\n")
    assert f"{tmp_path / 'edges.csv'}, line 3: unknown node id 'c' in column 'dst'" in str(e.value)


def test_table_missing_columns_and_ragged_rows(tmp_path):
    with pytest.raises(DataError, match=r"nodes.csv, line 1: missing column 'label'"):
        tables(tmp_path, "node_id,text\na,x\n")
    with pytest.raises(DataError, match=r"edges.csv, line 1: missing column 'dst'"):
        tables(tmp_path, "node_id,text,label\na,x,0\n", "src,to\na,a\n")
    with pytest.raises(DataError, match=r"nodes.csv, line 3: expected 3 columns, got 2"):
        tables(tmp_path, "node_id,text,label\na,x,0\nb,y\n")
    with pytest.raises(DataError, match=r"nodes.csv: empty file"):
        tables(tmp_path, "")


def test_table_float_label(tmp_path):
    with pytest.raises(DataError) as e:
        tables(tmp_path, "node_id,text,label\na,x,0\nb,y,1.5\nc,z,1\n")
    assert f"{tmp_path / 'nodes.csv'}, line 3: non-integer label '1.5'" in str(e.value)


def test_table_empty_label(tmp_path):
    with pytest.raises(DataError, match=r"nodes.csv, line 3: node 'b' has an empty 'label'"):
        tables(tmp_path, "node_id,text,label\na,x,0\nb,y,\n")


def test_table_negative_label_and_empty_text_name_the_file(tmp_path):
    with pytest.raises(DataError) as e:
        tables(tmp_path, "node_id,text,label\na,x,0\nb,y,-3\n")
    assert str(tmp_path / "nodes.csv") in str(e.value)
    assert "node 1 has negative label -3" in str(e.value)
    with pytest.raises(DataError) as e:
        tables(tmp_path, "node_id,text,label\na,x,0\nb,,1\n")
    assert str(tmp_path / "nodes.csv") in str(e.value)
    assert "node 1 has an empty text" in str(e.value)
    g = tables(tmp_path, "node_id,text,label\na,x,0\nb,,1\n", empty_text="?")
    assert g.texts == ["x", "?"]


# ------------------------------------------------------------------ datasets
@pytest.fixture(scope="module")
def cora():
    return load_dataset("cora")


def test_load_cora(cora):
    assert cora.name == "cora"
    assert cora.num_nodes == 2708
    assert cora.num_edges == 5278
    assert cora.num_classes == 7
    names = json.loads((cora_dir() / "classes.json").read_text())
    assert cora.class_names == names
    assert names[1] == "Neural_Networks" and names[3] == "Genetic_Algorithms"
    # label counts documented in data/builtin/README.md
    assert torch.bincount(cora.y).tolist() == [180, 818, 298, 418, 351, 217, 426]
    assert all(t.strip() for t in cora.texts)


def test_load_dataset_by_directory_and_unknown_name(small_dir, tmp_path):
    g = load_dataset(str(small_dir))
    assert g.num_nodes == 5 and g.name == "small" and g.class_names == ["a", "b", "c"]
    with pytest.raises(DataError) as e:
        load_dataset("no-such-dataset")
    msg = str(e.value)
    assert "unknown dataset 'no-such-dataset'" in msg and "cora" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("labelled", [True, False])
def test_write_graph_dir_reads_back_as_the_same_graph(tmp_path, tiny_graph, write_graph_dir,
                                                     labelled):
    graph = tiny_graph(labelled=labelled)
    back = read_directory(write_graph_dir(tmp_path / "tiny", graph))
    assert back.name == "tiny" and back.texts == graph.texts
    assert torch.equal(back.edge_index, graph.edge_index)
    assert (back.y is None) == (not labelled) and back.class_names == graph.class_names
    if labelled:
        assert torch.equal(back.y, graph.y)
