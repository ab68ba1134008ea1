r"""Synthetic text-attributed graphs: determinism, chunk independence, degrees, homophily, the
streaming writer, the ``synth:`` specification and the text signal."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leading.data import load_dataset, read_directory
from leading.data.datasets.synthetic import (
    SynthSpec,
    parse_synth_spec,
    register_cli,
    synthetic_graph,
    write_synthetic,
)
from leading.errors import DataError


@pytest.fixture(scope="module")
def graph():
    return synthetic_graph(2000, num_classes=5, avg_degree=10, homophily=0.8, seed=1)


def same(a, b) -> bool:
    return (
        a.texts == b.texts
        and torch.equal(a.edge_index, b.edge_index)
        and torch.equal(a.y, b.y)
        and a.class_names == b.class_names
    )


def test_deterministic_per_seed(graph):
    again = synthetic_graph(2000, num_classes=5, avg_degree=10, homophily=0.8, seed=1)
    assert same(graph, again)
    other = synthetic_graph(2000, num_classes=5, avg_degree=10, homophily=0.8, seed=2)
    assert other.texts != graph.texts
    assert not torch.equal(other.y, graph.y)
    assert other.edge_index.shape != graph.edge_index.shape or not torch.equal(
        other.edge_index, graph.edge_index
    )


def test_chunking_does_not_change_the_result(graph):
    for chunk_size in (1, 77, 1999, 5000):
        if chunk_size == 1:  # one node per chunk: check a smaller graph
            small = dict(num_nodes=150, num_classes=3, seed=4)
            assert same(synthetic_graph(**small, chunk_size=1), synthetic_graph(**small))
            continue
        assert same(synthetic_graph(2000, num_classes=5, seed=1, chunk_size=chunk_size), graph)


def test_graph_shape_labels_and_texts(graph):
    assert graph.num_nodes == 2000 and graph.num_classes == 5 and not graph.splits
    assert graph.name == "synth:2000,classes=5,seed=1"
    counts = torch.bincount(graph.y, minlength=5)
    assert counts.min() > 150  # every class well populated (mild skew)
    assert counts[0] > counts[4]  # class_skew=0.5: class 0 is the largest
    words = torch.tensor([len(t.split()) for t in graph.texts])
    assert words.min() >= 20 and words.max() <= 60
    assert all(t.replace(" ", "").isalpha() and t.islower() for t in graph.texts[:200])


def test_degrees_are_heavy_tailed_with_the_requested_mean(graph):
    deg = graph.degree().float()
    assert abs(deg.mean().item() - 10) < 1.0
    assert deg.max().item() > 8 * deg.mean().item()
    assert (deg == 0).sum() == 0
    sparse = synthetic_graph(2000, num_classes=5, avg_degree=4, seed=1).degree().float()
    assert abs(sparse.mean().item() - 4) < 0.5


@pytest.mark.parametrize("h", [0.1, 0.5, 0.9])
def test_homophily_is_the_fraction_of_intra_class_edges(h):
    g = synthetic_graph(2000, num_classes=5, homophily=h, seed=0)
    row, col = g.edge_index
    assert abs((g.y[row] == g.y[col]).float().mean().item() - h) < 0.04


def test_edges_are_canonical(graph):
    row, col = graph.edge_index
    assert bool((row != col).all())
    key = row * graph.num_nodes + col
    assert torch.equal(key, torch.unique(key))
    assert torch.equal(torch.unique(key), torch.unique(col * graph.num_nodes + row))


@pytest.mark.parametrize("compress", [False, True])
def test_writer_output_loads_back_equal(tmp_path, compress):
    out = write_synthetic(
        tmp_path / "g",
        700,
        num_classes=4,
        seed=3,
        compress=compress,
        chunk_size=100,
        progress=False,
    )
    suffix = ".gz" if compress else ""
    assert (out / f"nodes.jsonl{suffix}").exists() and (out / f"edges.csv{suffix}").exists()
    assert not list(out.glob("*.part"))
    assert same(read_directory(out), synthetic_graph(700, num_classes=4, seed=3))
    meta = json.loads((out / "synth.json").read_text())
    assert meta["spec"] == "synth:700,classes=4,seed=3" and meta["edge_rows"] > 0
    with pytest.raises(DataError, match="already holds a dataset"):
        write_synthetic(out, 10, progress=False)
    write_synthetic(out, 10, num_classes=2, avg_degree=2, overwrite=True, progress=False)
    assert read_directory(out).num_nodes == 10


def test_texts_separate_classes_better_than_chance():
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    g = synthetic_graph(2000, num_classes=5, seed=0)
    x = TfidfVectorizer().fit_transform(g.texts)
    y = g.y.numpy()
    perm = np.random.default_rng(0).permutation(g.num_nodes)
    train, test = perm[:1000], perm[1000:]
    model = LogisticRegression(solver="saga", max_iter=300).fit(x[train], y[train])
    acc = model.score(x[test], y[test])
    majority = np.bincount(y[test]).max() / test.size
    assert acc > 2 / 5 and acc > majority + 0.25
    assert acc < 0.97  # informative, not trivially separable: some nodes need their neighbours


def test_spec_syntax_and_load_dataset():
    spec = parse_synth_spec("synth:2k,classes=3,degree=4,homophily=0.5,seed=7,signal=0.2")
    assert spec == SynthSpec(2000, 3, 4.0, 0.5, 7, signal=0.2)
    assert parse_synth_spec("synth:1M").num_nodes == 1_000_000
    assert parse_synth_spec("SYNTH:10_000, num_classes=2 ,max-degree=50") == SynthSpec(
        10000, 2, max_degree=50
    )
    g = load_dataset("synth:300,classes=3,seed=5")
    assert g.name == "synth:300,classes=3,seed=5"
    assert same(g, synthetic_graph(300, num_classes=3, seed=5))
    assert parse_synth_spec(spec.to_spec()) == spec


@pytest.mark.parametrize(
    "spec, match",
    [
        ("synth:", r"node count '' is not a whole number"),
        ("synth:lots", r"node count 'lots'"),
        ("synth:1.5", r"node count"),
        ("synth:100,colours=3", r"unknown key 'colours'"),
        ("synth:100,classes", r"'classes' is not key=value"),
        ("synth:100,classes=x", r"classes='x' is not a whole number"),
        ("synth:100,homophily=high", r"homophily='high' is not a number"),
        ("synth:100,seed=1,seed=2", r"'seed' given twice"),
        ("synth:100,homophily=1.5", r"homophily must be in \[0, 1\]"),
        ("synth:0", r"num_nodes must be in"),
        ("synth:10,degree=30", r"avg_degree 30.0 is too large for 10 nodes"),
    ],
)
def test_malformed_specs_name_the_spec_and_the_form(spec, match):
    with pytest.raises(DataError, match=match) as e:
        load_dataset(spec)
    assert repr(spec) in str(e.value)
    if "not a" in match or "unknown" in match or "count" in match:
        assert "synth:N[,key=value,...]" in str(e.value)


def test_cli_writes_the_directory(tmp_path, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(
        [
            "synth",
            "--nodes",
            "500",
            "--classes",
            "3",
            "--avg-degree",
            "6",
            "--homophily",
            "0.7",
            "--seed",
            "2",
            "--out",
            str(tmp_path / "s"),
            "--quiet",
        ]
    )
    args.func(args)
    assert "wrote" in capsys.readouterr().out
    assert same(
        read_directory(tmp_path / "s"),
        synthetic_graph(500, num_classes=3, avg_degree=6, homophily=0.7, seed=2),
    )
