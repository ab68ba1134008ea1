r"""Negative sampling for link prediction: the undirected edge set against a Python set, and
both samplers' promises (no edge, no self-loop, uniqueness, determinism, uniformity, errors)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from leading.data.negative_sampling import EdgeSet, sample_negative_pairs, sample_negative_targets
from leading.errors import DataError

N = 9


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def edge_index() -> torch.Tensor:
    # one direction only, a duplicate in the other direction, a self-loop, node 8 isolated
    return torch.tensor([[0, 1, 2, 3, 4, 5, 6, 2, 1, 7, 3], [1, 2, 3, 4, 5, 6, 0, 1, 1, 3, 0]])


def reference(edge_index: torch.Tensor) -> set[frozenset[int]]:
    return {frozenset((u, v)) for u, v in edge_index.t().tolist() if u != v}


def test_edge_set_membership_matches_python_set(edge_index):
    edges = EdgeSet(edge_index, N)
    ref = reference(edge_index)
    u, v = torch.meshgrid(torch.arange(N), torch.arange(N), indexing="ij")
    got = edges.contains(u, v)
    assert got.shape == (N, N) and got.dtype == torch.bool
    want = torch.tensor([[frozenset((a, b)) in ref for b in range(N)] for a in range(N)])
    assert torch.equal(got, want)
    assert torch.equal(got, got.T)  # undirected
    assert not got.diagonal().any()  # the self-loop (1, 1) is ignored
    assert len(edges) == len(ref)
    assert edges.num_non_edges == N * (N - 1) // 2 - len(ref)
    degree = Counter(x for pair in ref for x in pair)
    assert edges.degree.tolist() == [degree[i] for i in range(N)]
    assert repr(edges) == f"EdgeSet(num_nodes={N}, num_pairs={len(ref)})"


def test_edge_set_keys_are_sorted_and_distinct(edge_index):
    edges = EdgeSet(edge_index, N)
    assert torch.equal(edges.keys, torch.unique(edges.keys))
    lo, hi = edges.keys // N, edges.keys % N
    assert (lo < hi).all()
    assert {frozenset(p) for p in zip(lo.tolist(), hi.tolist(), strict=True)} == reference(
        edge_index
    )


def test_edge_set_empty():
    edges = EdgeSet(torch.empty(2, 0, dtype=torch.long), 4)
    assert len(edges) == 0 and edges.num_non_edges == 6
    assert not edges.contains(torch.tensor([0, 1]), torch.tensor([1, 2])).any()
    assert edges.degree.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(3, 2, dtype=torch.long), r"expected edges of shape \[2, E\], got \(3, 2\)"),
        (torch.zeros(2, 2), "integer node ids"),
        (torch.tensor([[0, 1], [1, N]]), rf"edge #1 \(1, {N}\).*outside \[0, {N}\)"),
        (torch.tensor([[0, -1], [1, 2]]), r"edge #1 \(-1, 2\)"),
    ],
)
def test_edge_set_rejects_malformed_edges(bad, match):
    with pytest.raises(DataError, match=match):
        EdgeSet(bad, N, source="my edges")
    with pytest.raises(DataError, match="my edges"):
        EdgeSet(bad, N, source="my edges")


# -- sample_negative_targets ------------------------------------------------------------------


def test_negative_targets_avoid_edges_and_self_loops(edge_index):
    edges = EdgeSet(edge_index, N)
    ref = reference(edge_index)
    sources = torch.tensor([0, 1, 2, 3, 8, 1, 7])
    dst = sample_negative_targets(sources, 50, edges, gen())
    assert dst.shape == (7, 50) and dst.dtype == torch.long
    assert ((dst >= 0) & (dst < N)).all()
    for u, row in zip(sources.tolist(), dst.tolist(), strict=True):
        for w in row:
            assert w != u
            assert frozenset((u, w)) not in ref, (u, w)


def test_negative_targets_are_uniform_over_the_allowed_nodes(edge_index):
    edges = EdgeSet(edge_index, N)
    ref = reference(edge_index)
    u = 1  # neighbours 0 and 2: 6 allowed destinations
    allowed = [w for w in range(N) if w != u and frozenset((u, w)) not in ref]
    assert len(allowed) == 6
    dst = sample_negative_targets(torch.full((60,), u), 100, edges, gen(4))
    counts = Counter(dst.reshape(-1).tolist())
    assert sorted(counts) == allowed
    assert all(abs(c - 1000) < 150 for c in counts.values()), counts


def test_negative_targets_are_deterministic_per_seed(edge_index):
    edges = EdgeSet(edge_index, N)
    sources = torch.arange(N)
    state = torch.get_rng_state()
    a = sample_negative_targets(sources, 8, edges, gen(3))
    b = sample_negative_targets(sources, 8, edges, gen(3))
    c = sample_negative_targets(sources, 8, edges, gen(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is untouched


def test_negative_targets_accepts_lists_and_shapes(edge_index):
    edges = EdgeSet(edge_index, N)
    assert sample_negative_targets([0, 3], 2, edges, gen()).shape == (2, 2)
    assert sample_negative_targets(torch.tensor([[0], [3]]), 1, edges, gen()).shape == (2, 1)
    assert sample_negative_targets(torch.empty(0, dtype=torch.long), 3, edges, gen()).shape == (
        0,
        3,
    )
    assert sample_negative_targets(torch.tensor([0, 1]), 0, edges, gen()).shape == (2, 0)


def test_negative_targets_only_one_choice():
    # node 0 is adjacent to all but node 3: every negative of 0 is 3
    ei = torch.tensor([[0, 0, 0], [1, 2, 4]])
    dst = sample_negative_targets(torch.tensor([0, 0]), 20, EdgeSet(ei, 5), gen())
    assert (dst == 3).all()


def test_negative_targets_raise_for_a_node_adjacent_to_all():
    ei = torch.tensor([[0, 0, 0, 1], [1, 2, 3, 2]])
    edges = EdgeSet(ei, 4)
    with pytest.raises(DataError, match="node 0 is adjacent to all 3 other nodes"):
        sample_negative_targets(torch.tensor([1, 0]), 2, edges, gen())
    # the other nodes still have negatives
    assert (sample_negative_targets(torch.tensor([1, 2, 3]), 5, edges, gen()) != 0).all()


# -- sample_negative_pairs --------------------------------------------------------------------


def test_negative_pairs_avoid_edges_and_self_loops_and_repeat_no_pair(edge_index):
    edges = EdgeSet(edge_index, N)
    ref = reference(edge_index)
    pairs = sample_negative_pairs(20, edges, gen())
    assert pairs.shape == (2, 20) and pairs.dtype == torch.long
    keys = [frozenset(p) for p in pairs.t().tolist()]
    assert all(len(k) == 2 for k in keys)  # no self-loop
    assert not any(k in ref for k in keys)
    assert len(set(keys)) == 20  # unique unordered pairs


def test_negative_pairs_exhaust_every_non_edge(edge_index):
    edges = EdgeSet(edge_index, N)
    ref = reference(edge_index)
    everything = {frozenset((a, b)) for a in range(N) for b in range(a + 1, N)} - ref
    pairs = sample_negative_pairs(edges.num_non_edges, edges, gen(1))
    assert {frozenset(p) for p in pairs.t().tolist()} == everything


def test_negative_pairs_with_repeats_are_uniform():
    ei = torch.tensor([[0, 1, 2, 0], [1, 2, 3, 3]])  # a 4-cycle: non-edges {0, 2} and {1, 3}
    edges = EdgeSet(ei, 5)  # with node 4 isolated: 6 non-edges
    pairs = sample_negative_pairs(6000, edges, gen(2), unique=False)
    counts = Counter(frozenset(p) for p in pairs.t().tolist())
    assert set(counts) == {frozenset(p) for p in [(0, 2), (1, 3), (0, 4), (1, 4), (2, 4), (3, 4)]}
    assert all(abs(c - 1000) < 150 for c in counts.values()), counts


def test_negative_pairs_are_deterministic_per_seed(edge_index):
    edges = EdgeSet(edge_index, N)
    state = torch.get_rng_state()
    a = sample_negative_pairs(12, edges, gen(5))
    assert torch.equal(a, sample_negative_pairs(12, edges, gen(5)))
    assert not torch.equal(a, sample_negative_pairs(12, edges, gen(6)))
    assert torch.equal(torch.get_rng_state(), state)


def test_negative_pairs_zero():
    edges = EdgeSet(torch.tensor([[0], [1]]), 2)  # no non-edge at all, but none is asked for
    assert sample_negative_pairs(0, edges, gen()).shape == (2, 0)


def test_negative_pairs_raise_when_there_are_too_few(edge_index):
    edges = EdgeSet(edge_index, N)
    with pytest.raises(DataError, match=rf"only {edges.num_non_edges} pairs"):
        sample_negative_pairs(edges.num_non_edges + 1, edges, gen())
    # with repeats allowed, any number can be drawn
    assert sample_negative_pairs(edges.num_non_edges + 1, edges, gen(), unique=False).shape == (
        2,
        edges.num_non_edges + 1,
    )
    complete = EdgeSet(torch.tensor([[0, 0, 1], [1, 2, 2]]), 3)
    for unique in (True, False):
        with pytest.raises(DataError, match="has only 0 pairs"):
            sample_negative_pairs(1, complete, gen(), unique=unique)
