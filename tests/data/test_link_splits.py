r"""Link-prediction splits and negative sampling: sizes, determinism per seed, disjointness,
negatives that are non-edges, a message-passing graph without held-out edges, OGB's format."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from leading.config import Config
from leading.data.datasets.ogb import load_ogbl_citation2
from leading.data.graph import TextAttributedGraph
from leading.data.link_splits import (
    LinkSplit,
    make_link_split,
    parse_link_split,
)
from leading.data.negative_sampling import EdgeSet, sample_negative_pairs, sample_negative_targets
from leading.errors import ConfigError, DataError


def random_graph(n: int = 60, m: int = 200, seed: int = 0) -> TextAttributedGraph:
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, n, (2, m), generator=g)
    return TextAttributedGraph([f"node {i}" for i in range(n)], edges, name="rand")


def keys(edges: torch.Tensor, n: int) -> set[int]:
    u, v = edges
    return set((torch.minimum(u, v) * n + torch.maximum(u, v)).tolist())


@pytest.fixture(scope="module")
def graph():
    return random_graph()


# ---------------------------------------------------------------------------------- specs
def test_presets_and_percentages():
    assert parse_link_split("low") == (10, 30, 60)
    assert parse_link_split(" HIGH ") == (85, 5, 10)
    assert parse_link_split("70/10/20") == (70, 10, 20)
    assert parse_link_split("canonical") is None


@pytest.mark.parametrize(
    "spec, match",
    [
        ("10/30", "three train/valid/test percentages"),
        ("a/b/c", "three train/valid/test percentages"),
        ("bogus", "expected auto, low"),
        ("50/50/50", "sum to at most 100"),
        ("-5/50/50", ">= 0"),
        ("0/50/50", "each need a positive percentage"),
    ],
)
def test_bad_specs_are_config_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_link_split(spec)
    with pytest.raises(ConfigError, match=match):  # caught when the configuration is built
        Config(task="link", link_split=spec)


@pytest.mark.parametrize("spec, sizes", [("low", (10, 30, 60)), ("high", (85, 5, 10))])
def test_sizes_follow_random_link_split(spec, sizes):
    # 100 undirected edges: floor(b E) validation, floor(c E) test, the rest for training
    n = 30
    pairs = torch.combinations(torch.arange(n), 2).t()
    pairs = pairs[:, torch.randperm(pairs.size(1), generator=torch.Generator().manual_seed(0))]
    pairs = pairs[:, :100]
    g = TextAttributedGraph([f"t{i}" for i in range(n)], pairs, name="g")
    s = make_link_split(g, spec, seed=0, num_neg_targets=7)
    assert (s.train.size(1), s.valid.size(1), s.test.size(1)) == sizes
    assert s.valid_neg.shape == (2, sizes[1]) and s.test_neg.shape == (2, sizes[2])
    assert s.valid_neg_targets.shape == (sizes[1], 7) and s.test_neg_targets.shape == (sizes[2], 7)
    assert s.spec == spec and not s.directed


def test_partial_percentages_leave_edges_out(graph):
    s = make_link_split(graph, "40/10/20", seed=0)
    e = graph.num_edges
    assert s.train.size(1) == int(0.4 * e) and s.valid.size(1) == int(0.1 * e)
    assert s.train.size(1) + s.valid.size(1) + s.test.size(1) < e


# ---------------------------------------------------------------------------- properties
def test_same_seed_same_split_other_seed_other_split(graph):
    a, b = make_link_split(graph, "high", seed=3), make_link_split(graph, "high", seed=3)
    for name in ("train", "valid", "test", "valid_neg", "test_neg", "valid_neg_targets",
                 "test_neg_targets"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    c = make_link_split(graph, "high", seed=4)
    assert keys(a.test, graph.num_nodes) != keys(c.test, graph.num_nodes)


@pytest.mark.parametrize("spec", ["low", "high"])
def test_parts_are_disjoint_and_cover_every_edge(graph, spec):
    n = graph.num_nodes
    s = make_link_split(graph, spec, seed=1)
    tr, va, te = (keys(getattr(s, p), n) for p in ("train", "valid", "test"))
    assert len(tr) == s.train.size(1) and len(va) == s.valid.size(1) and len(te) == s.test.size(1)
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert tr | va | te == keys(graph.edge_index, n)


def test_negatives_are_fixed_non_edges(graph):
    n = graph.num_nodes
    s = make_link_split(graph, "low", seed=2, num_neg_targets=20)
    edges = keys(graph.edge_index, n)
    neg = torch.cat([s.valid_neg, s.test_neg], dim=1)
    assert bool((neg[0] != neg[1]).all())
    assert not (keys(neg, n) & edges)
    assert len(keys(neg, n)) == neg.size(1)  # no pair twice, valid and test included
    for part in ("valid", "test"):
        pos, targets = getattr(s, part), getattr(s, f"{part}_neg_targets")
        src = pos[0].unsqueeze(1).expand_as(targets)
        assert bool((targets != src).all())
        assert not (keys(torch.stack([src.reshape(-1), targets.reshape(-1)]), n) & edges)


def test_message_passing_graph_is_the_training_edges_only(graph):
    n = graph.num_nodes
    s = make_link_split(graph, "low", seed=0)
    mp = s.message_passing_edge_index()
    assert mp.size(1) == 2 * s.train.size(1)
    assert keys(mp, n) == keys(s.train, n)
    assert not (keys(mp, n) & (keys(s.valid, n) | keys(s.test, n)))
    # symmetric: both directions of every training edge
    assert set(map(tuple, mp.t().tolist())) == set(map(tuple, mp.flip(0).t().tolist()))


def test_held_out_pairs_are_removed_from_message_passing_even_if_listed_for_training():
    s = LinkSplit(
        train=torch.tensor([[0, 1, 2], [1, 2, 3]]),
        valid=torch.tensor([[2], [1]]),  # (1, 2) is also a "training" edge: it must go
        test=torch.tensor([[3], [0]]),
        valid_neg=torch.tensor([[2], [0]]),
        test_neg=torch.tensor([[3], [1]]),
        valid_neg_targets=torch.tensor([[0]]),
        test_neg_targets=torch.tensor([[1]]),
        num_nodes=4,
    )
    assert keys(s.message_passing_edge_index(), 4) == keys(torch.tensor([[0, 2], [1, 3]]), 4)


# -------------------------------------------------------------------------------- errors
def test_too_few_edges_and_no_canonical_split():
    g = TextAttributedGraph(["a", "b", "c"], torch.tensor([[0, 1], [1, 2]]), name="two")
    with pytest.raises(DataError, match=r"'low': 2 undirected edges give 1 train, 0 valid"):
        make_link_split(g, "low", seed=0)
    with pytest.raises(ConfigError, match="two has no canonical link split"):
        make_link_split(g, "canonical", seed=0)


def test_complete_graph_has_no_negatives():
    n = 5
    g = TextAttributedGraph([f"t{i}" for i in range(n)],
                            torch.combinations(torch.arange(n), 2).t(), name="k5")
    with pytest.raises(DataError, match="has only 0 pairs of distinct nodes that are not edges"):
        make_link_split(g, "40/30/30", seed=0)
    es = EdgeSet(g.edge_index, n)
    with pytest.raises(DataError, match="node 2 is adjacent to all 4 other nodes"):
        sample_negative_targets(torch.tensor([2]), 3, es, torch.Generator())


@pytest.mark.parametrize(
    "changes, match",
    [
        (
            dict(test=torch.tensor([[0, 1], [9, 2]])),
            r"'test': edge #0 \(0, 9\) .* outside \[0, 4\)",
        ),
        (dict(valid=torch.tensor([0, 1])), r"'valid': expected edges of shape \[2, E\]"),
        (
            dict(test_neg_targets=torch.tensor([[1], [2]])),
            r"'test_neg_targets': expected shape \[1, K\]",
        ),
        (dict(valid_neg=torch.empty(2, 0, dtype=torch.long)), r"'valid_neg': expected 1 pairs"),
        (dict(train=torch.tensor([[0.5], [1.0]])), r"'train': expected integer node ids"),
    ],
)
def test_malformed_split_names_the_part(changes, match):
    values = dict(
        train=torch.tensor([[0], [1]]), valid=torch.tensor([[1], [2]]),
        test=torch.tensor([[2], [3]]), valid_neg=torch.tensor([[1], [3]]),
        test_neg=torch.tensor([[2], [0]]), valid_neg_targets=torch.tensor([[3]]),
        test_neg_targets=torch.tensor([[0]]), num_nodes=4,
    )
    values.update(changes)
    with pytest.raises(DataError, match=match):
        LinkSplit(**values)


# --------------------------------------------------------------------- negative sampling
def test_negative_pairs_are_unique_non_edges_and_seeded():
    n = 12
    edges = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    es = EdgeSet(edges, n)
    assert len(es) == 4 and es.num_non_edges == n * (n - 1) // 2 - 4
    assert es.contains(torch.tensor([1, 0, 5]), torch.tensor([0, 2, 5])).tolist() == [
        True, False, False
    ]
    a = sample_negative_pairs(50, es, torch.Generator().manual_seed(0))
    b = sample_negative_pairs(50, es, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (2, 50)
    assert len(keys(a, n)) == 50 and not (keys(a, n) & keys(edges, n))
    assert bool((a[0] != a[1]).all())
    with pytest.raises(DataError, match="cannot sample 100 negative node pairs"):
        sample_negative_pairs(100, es, torch.Generator())


# ----------------------------------------------------------------- ogbl-citation2 format
def write_gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        f.write(text)


def write_citation2(root: Path) -> None:
    r"""Six papers in OGB's released layout; test positive (5, 0) is also listed for training
    (it must still stay out of message passing)."""
    d = root / "ogbl_citation2"
    papers = [2100000001 + i for i in range(6)]
    write_gz(d / "raw" / "edge.csv.gz", "0,1\n0,2\n1,2\n3,2\n4,3\n")
    write_gz(d / "raw" / "num-node-list.csv.gz", "6\n")
    write_gz(d / "mapping" / "nodeidx2paperid.csv.gz",
             "node idx,paper id\n" + "".join(f"{i},{p}\n" for i, p in enumerate(papers)))
    (d / "split" / "time").mkdir(parents=True)
    t = torch.tensor
    torch.save({"source_node": t([0, 0, 1, 3, 4, 5]), "target_node": t([1, 2, 2, 2, 3, 0])},
               d / "split" / "time" / "train.pt")
    torch.save({"source_node": t([5]), "target_node": t([1]),
                "target_node_neg": t([[0, 2, 3]])}, d / "split" / "time" / "valid.pt")
    torch.save({"source_node": t([5, 4]), "target_node": t([0, 1]),
                "target_node_neg": t([[1, 2, 3], [0, 2, 5]])}, d / "split" / "time" / "test.pt")
    (d / "titleabs.tsv").write_text(
        "".join(f"{p}\tpaper {i}\tabstract {i}\n" for i, p in enumerate(papers))
    )


def test_ogbl_citation2_canonical_split(tmp_path):
    write_citation2(tmp_path)
    g = load_ogbl_citation2(tmp_path, download=False)
    s = make_link_split(g, "auto", seed=123)  # auto = the official split when there is one
    assert s.spec == "canonical" and s.directed
    assert s.test.tolist() == [[5, 4], [0, 1]]
    assert s.test_neg_targets.tolist() == [[1, 2, 3], [0, 2, 5]]
    assert s.test_neg.tolist() == [[5, 4], [1, 0]]  # AUC: each positive's first negative
    assert s.valid_neg_targets.tolist() == [[0, 2, 3]]
    mp = keys(s.message_passing_edge_index(), 6)
    assert mp == keys(torch.tensor([[0, 0, 1, 3, 4], [1, 2, 2, 2, 3]]), 6)  # not (5, 0)
    assert torch.equal(make_link_split(g, "canonical", seed=0).train, s.train)


def test_ogbl_citation2_through_the_mrr_protocol(tmp_path):
    from leading.eval.link import evaluate_link

    write_citation2(tmp_path)
    s = make_link_split(load_ogbl_citation2(tmp_path, download=False), "canonical")
    # score(u, v) = v // 2: test (5, 0) scores 0 against negatives 1, 2, 3 -> 0, 1, 1 (one tie,
    # two above): rank 1 + (2 + 3) / 2 = 3.5; (4, 1) scores 0 against 0, 2, 5 -> 0, 1, 2: 3.5
    res = evaluate_link(lambda u, v: (v // 2).float(), s, "test", hits_k=(3, 4))
    assert res["mrr"] == pytest.approx(1 / 3.5)
    assert res["hits@3"] == 0.0 and res["hits@4"] == 1.0
    assert res["auc"] == 0.5  # positives 0, 0 against first negatives (5, 1) -> 0, (4, 0) -> 0


def test_ogbl_citation2_run(tmp_path):
    from leading.run import run

    write_citation2(tmp_path)
    cfg = Config(
        task="link", dataset="ogbl-citation2", data_dir=str(tmp_path), method="shallow",
        seeds=1, downstream=["sage"], progress=False, out_dir=str(tmp_path / "out"),
        hits_k=[1, 3],
    )
    res = run(cfg)
    sizes = res["split_sizes"]
    assert sizes["test"] == 2 and sizes["neg_targets_per_positive"] == 3
    assert sizes["message_passing_edges"] == 5 and res["link_split_spec"] == "canonical"
    cell = res["downstream"]["sage"]["mrr"]
    assert len(cell["test"]) == 1 and 1 / 4 <= cell["test"][0] <= 1.0  # 3 negatives: rank <= 4
