import pytest
import torch

from leading.data.graph import TextAttributedGraph, canonical_undirected
from leading.graph.sampler import CSRGraph, NeighborSampler, SampledSubgraph, batches

# --------------------------------------------------------------------------- fixtures / helpers


def path_graph(n: int) -> torch.Tensor:
    r = torch.arange(n - 1)
    return canonical_undirected(torch.stack([r, r + 1]), n)


def random_graph(n: int = 200, m: int = 1200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return canonical_undirected(torch.randint(0, n, (2, m), generator=g), n)


def star_graph(leaves: int) -> torch.Tensor:
    """Node 0 joined to nodes 1..leaves."""
    leaf = torch.arange(1, leaves + 1)
    return canonical_undirected(torch.stack([torch.zeros_like(leaf), leaf]), leaves + 1)


def adjacency(edge_index: torch.Tensor) -> dict[int, set[int]]:
    """dst -> set of sources, built the slow way."""
    adj: dict[int, set[int]] = {}
    for s, d in edge_index.t().tolist():
        adj.setdefault(d, set()).add(s)
    return adj


def check_subgraph(sub: SampledSubgraph, edge_index, targets, fanouts) -> None:
    """Checks every structural promise of a sampled subgraph against the full graph."""
    adj = adjacency(edge_index)
    nodes = sub.node_ids.tolist()
    targets = torch.as_tensor(targets).tolist()
    # targets first and in order, ids unique, sizes consistent
    assert nodes[: len(targets)] == targets
    assert sub.num_targets == len(targets)
    assert sub.targets.tolist() == targets
    assert len(set(nodes)) == len(nodes)
    assert len(sub.num_sampled_nodes) == len(fanouts) + 1
    assert len(sub.num_sampled_edges) == len(fanouts)
    assert sum(sub.num_sampled_nodes) == sub.num_nodes
    assert sum(sub.num_sampled_edges) == sub.num_edges
    assert sub.edge_index.dtype == torch.long and sub.edge_index.shape == (2, sub.num_edges)
    if sub.num_edges:
        assert int(sub.edge_index.min()) >= 0 and int(sub.edge_index.max()) < sub.num_nodes

    node_bounds = [0]
    for c in sub.num_sampled_nodes:
        node_bounds.append(node_bounds[-1] + c)
    edge_start = 0
    for h, k in enumerate(fanouts):
        lo, hi = node_bounds[h], node_bounds[h + 1]  # the frontier of hop h + 1 (local ids)
        e = sub.edge_index[:, edge_start : edge_start + sub.num_sampled_edges[h]]
        edge_start += sub.num_sampled_edges[h]
        src_local, dst_local = e.tolist()
        # destinations are frontier nodes; every edge is a true edge (source -> destination)
        picked: dict[int, list[int]] = {}
        for s_loc, d_loc in zip(src_local, dst_local, strict=True):
            assert lo <= d_loc < hi
            s, d = nodes[s_loc], nodes[d_loc]
            assert s in adj.get(d, set()), f"sampled edge ({s} -> {d}) is not in the graph"
            picked.setdefault(d, []).append(s)
        for d_loc in range(lo, hi):
            d = nodes[d_loc]
            got = picked.get(d, [])
            assert len(got) == len(set(got)), "a neighbor was sampled twice (with replacement)"
            deg = len(adj.get(d, ()))
            expected = deg if k == -1 else min(deg, k)
            assert len(got) == expected, f"node {d}: {len(got)} neighbors, expected {expected}"
            if k == -1:
                assert set(got) == adj.get(d, set())
        # nodes first reached at this hop are exactly the not-yet-seen sources of its edges
        seen_before = set(nodes[:hi])
        new_expected = {nodes[s] for s in src_local} - seen_before
        assert set(nodes[hi : node_bounds[h + 2]]) == new_expected
        # ... in order of first appearance among the hop's edges
        order = []
        for s in src_local:
            if nodes[s] not in seen_before and nodes[s] not in order:
                order.append(nodes[s])
        assert nodes[hi : node_bounds[h + 2]] == order


# --------------------------------------------------------------------------- CSRGraph


def test_csr_matches_adjacency():
    ei = random_graph()
    g = CSRGraph(ei, 200)
    adj = adjacency(ei)
    assert g.rowptr.shape == (201,) and g.col.shape == (ei.size(1),)
    assert g.rowptr.dtype == torch.long and g.col.dtype == torch.long
    assert g.num_edges == ei.size(1)
    assert g.degree.tolist() == [len(adj.get(i, ())) for i in range(200)]
    for i in range(200):
        nb = g.neighbors(i).tolist()
        assert nb == sorted(adj.get(i, set()))


def test_csr_directed_is_keyed_by_destination():
    # edges 0 -> 1, 2 -> 1, 1 -> 3: node 1 receives from 0 and 2
    g = CSRGraph(torch.tensor([[2, 0, 1], [1, 1, 3]]), 4)
    assert g.neighbors(1).tolist() == [0, 2]
    assert g.neighbors(3).tolist() == [1]
    assert g.neighbors(0).tolist() == []
    assert g.degree.tolist() == [0, 2, 0, 1]


def test_csr_empty_and_isolated():
    g = CSRGraph(torch.empty(2, 0, dtype=torch.long), 3)
    assert g.rowptr.tolist() == [0, 0, 0, 0]
    assert g.neighbors(2).numel() == 0
    assert repr(g) == "CSRGraph(num_nodes=3, num_edges=0)"


def test_csr_errors():
    with pytest.raises(ValueError, match=r"edge #1 \(1, 5\).*\[0, 4\)"):
        CSRGraph(torch.tensor([[0, 1], [1, 5]]), 4)
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        CSRGraph(torch.zeros(3, 2, dtype=torch.long), 4)
    with pytest.raises(ValueError, match="node id 7"):
        CSRGraph(path_graph(4), 4).neighbors(7)


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("fanouts", [[2], [2, 2], [1, 3, 2], [-1], [-1, 2], [3, -1], [0], [50, 50]])
def test_random_graph_invariants(fanouts):
    ei = random_graph()
    sampler = NeighborSampler(ei, 200, fanouts, seed=1)
    for targets in ([5, 0, 199, 42], torch.arange(0, 200, 7).flip(0), [17]):
        sub = sampler.sample(torch.as_tensor(targets))
        check_subgraph(sub, ei, targets, fanouts)


def test_tiny_path_two_hops():
    ei = path_graph(6)  # 0-1-2-3-4-5
    sub = NeighborSampler(ei, 6, [-1, -1], seed=0).sample(torch.tensor([2]))
    check_subgraph(sub, ei, [2], [-1, -1])
    assert sub.num_sampled_nodes == [1, 2, 2]
    assert set(sub.node_ids[1:3].tolist()) == {1, 3}
    assert set(sub.node_ids[3:].tolist()) == {0, 4}
    # message direction: row 0 = neighbor, row 1 = the node that sampled it
    src, dst = sub.node_ids[sub.edge_index]
    hop1 = slice(0, sub.num_sampled_edges[0])
    assert dst[hop1].tolist() == [2, 2]
    assert sorted(src[hop1].tolist()) == [1, 3]


def test_two_hop_nodes_are_neighbors_of_one_hop_nodes():
    ei = random_graph(seed=3)
    adj = adjacency(ei)
    sub = NeighborSampler(ei, 200, [3, 3], seed=0).sample(torch.tensor([10, 20, 30]))
    b, n1, n2 = sub.num_sampled_nodes
    hop1 = set(sub.node_ids[b : b + n1].tolist())
    for v in sub.node_ids[b + n1 :].tolist():
        assert adj[v] & hop1, f"2-hop node {v} has no neighbor among the 1-hop nodes"
        assert v not in hop1 and v not in {10, 20, 30}


def test_fanout_larger_than_degree_takes_all():
    ei = random_graph()
    adj = adjacency(ei)
    sub = NeighborSampler(ei, 200, [1000], seed=0).sample(torch.tensor([0, 1, 2]))
    src, dst = sub.node_ids[sub.edge_index].tolist()
    for t in (0, 1, 2):
        assert {s for s, d in zip(src, dst, strict=True) if d == t} == adj[t]


def test_minus_one_takes_all_neighbors_of_a_hub():
    ei = star_graph(30)
    sub = NeighborSampler(ei, 31, [-1], seed=0).sample(torch.tensor([0]))
    assert sorted(sub.node_ids[1:].tolist()) == list(range(1, 31))
    assert sub.num_edges == 30


def test_fanout_caps_a_hub():
    ei = star_graph(30)
    sub = NeighborSampler(ei, 31, [4, 2], seed=0).sample(torch.tensor([0]))
    check_subgraph(sub, ei, [0], [4, 2])
    assert sub.num_sampled_nodes == [1, 4, 0]  # leaves only reach the (already seen) hub
    assert sub.num_sampled_edges == [4, 4]


def test_empty_fanouts_returns_targets_only():
    sub = NeighborSampler(random_graph(), 200, [], seed=0).sample(torch.tensor([4, 2, 9]))
    assert sub.node_ids.tolist() == [4, 2, 9]
    assert sub.edge_index.shape == (2, 0) and sub.edge_index.dtype == torch.long
    assert sub.num_sampled_nodes == [3] and sub.num_sampled_edges == []


def test_isolated_target():
    ei = torch.tensor([[0, 1], [1, 0]])  # nodes 2 and 3 are isolated
    sampler = NeighborSampler(ei, 4, [5, 5], seed=0)
    sub = sampler.sample(torch.tensor([3]))
    assert sub.node_ids.tolist() == [3]
    assert sub.num_edges == 0
    assert sub.num_sampled_nodes == [1, 0, 0] and sub.num_sampled_edges == [0, 0]
    sub = sampler.sample(torch.tensor([2, 0]))
    check_subgraph(sub, ei, [2, 0], [5, 5])
    assert sub.node_ids.tolist() == [2, 0, 1]


def test_empty_targets():
    sub = NeighborSampler(random_graph(), 200, [3, 3], seed=0).sample(
        torch.tensor([], dtype=torch.long)
    )
    assert sub.num_nodes == 0 and sub.num_edges == 0 and sub.num_targets == 0


def test_repeated_calls_do_not_leak_state():
    # the global->local map is reset after every call: overlapping batches stay correct
    ei = random_graph()
    sampler = NeighborSampler(ei, 200, [4, 3], seed=0)
    for start in range(0, 60, 5):
        targets = torch.arange(start, start + 20)
        check_subgraph(sampler.sample(targets), ei, targets, [4, 3])
    assert bool((sampler._map == sampler._map[0]).all())


def test_sampling_is_roughly_uniform():
    # complete bipartite K(600, 6): each left node keeps 2 of its 6 right neighbors
    left = torch.arange(600).repeat_interleave(6)
    right = 600 + torch.arange(6).repeat(600)
    ei = canonical_undirected(torch.stack([left, right]), 606)
    sub = NeighborSampler(ei, 606, [2], seed=0).sample(torch.arange(600))
    counts = torch.bincount(sub.node_ids[sub.edge_index[0]] - 600, minlength=6)
    assert counts.sum() == 1200
    assert bool((counts > 140).all() and (counts < 260).all()), counts.tolist()  # mean 200


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_sequence():
    ei = random_graph()
    a = NeighborSampler(ei, 200, [3, 2], seed=7)
    b = NeighborSampler(ei, 200, [3, 2], seed=7)
    for targets in ([1, 2, 3], [50, 60], [1, 2, 3]):
        sa, sb = a.sample(torch.tensor(targets)), b.sample(torch.tensor(targets))
        assert torch.equal(sa.node_ids, sb.node_ids)
        assert torch.equal(sa.edge_index, sb.edge_index)
    a.manual_seed(7)
    c = NeighborSampler(ei, 200, [3, 2], seed=7)
    assert torch.equal(
        a.sample(torch.tensor([9])).edge_index, c.sample(torch.tensor([9])).edge_index
    )


def test_different_seeds_differ_on_high_degree_graph():
    ei = star_graph(100)
    picks = {
        tuple(NeighborSampler(ei, 101, [5], seed=s).sample(torch.tensor([0])).node_ids.tolist())
        for s in range(4)
    }
    assert len(picks) == 4


def test_consecutive_calls_draw_fresh_samples():
    sampler = NeighborSampler(star_graph(100), 101, [5], seed=0)
    first = sampler.sample(torch.tensor([0])).node_ids
    assert not torch.equal(first, sampler.sample(torch.tensor([0])).node_ids)


def test_global_rng_untouched():
    state = torch.get_rng_state()
    sampler = NeighborSampler(star_graph(50), 51, [5, 5], seed=None)
    sampler.sample(torch.tensor([0, 3]))
    list(batches(torch.arange(10), 3, shuffle=True))
    assert torch.equal(state, torch.get_rng_state())


# --------------------------------------------------------------------------- inputs / errors


def test_accepts_graph_objects_and_lists():
    ei = path_graph(5)
    tag = TextAttributedGraph(texts=[f"node {i}" for i in range(5)], edge_index=ei)
    for g in (tag, CSRGraph(ei, 5)):
        sub = NeighborSampler(g, fanouts=[-1], seed=0).sample([2])
        assert sorted(sub.node_ids[1:].tolist()) == [1, 3]


def test_repr():
    sampler = NeighborSampler(path_graph(5), 5, [3, -1], seed=1)
    assert repr(sampler) == "NeighborSampler(num_nodes=5, num_edges=8, fanouts=[3, -1], seed=1)"
    sub = sampler.sample(torch.tensor([0]))
    assert repr(sub) == (
        "SampledSubgraph(num_nodes=3, num_edges=3, num_targets=1, "
        "num_sampled_nodes=[1, 1, 1], num_sampled_edges=[1, 2])"
    )


def test_duplicate_targets_raise():
    sampler = NeighborSampler(path_graph(10), 10, [2], seed=0)
    with pytest.raises(ValueError, match="node 4 appears 2 times"):
        sampler.sample(torch.tensor([1, 4, 3, 4]))


@pytest.mark.parametrize("bad", [10, 12, -1])
def test_out_of_range_target_names_the_id(bad):
    sampler = NeighborSampler(path_graph(10), 10, [2], seed=0)
    with pytest.raises(ValueError, match=rf"target #1 has node id {bad}, outside \[0, 10\)"):
        sampler.sample(torch.tensor([0, bad, 3]))
    # the sampler still works afterwards
    check_subgraph(sampler.sample(torch.tensor([0, 3])), path_graph(10), [0, 3], [2])


def test_bad_target_types_raise():
    sampler = NeighborSampler(path_graph(10), 10, [2], seed=0)
    with pytest.raises(ValueError, match="integer node ids"):
        sampler.sample(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        sampler.sample(torch.tensor([[0, 1]]))


@pytest.mark.parametrize("fanouts", [[-2], [2.5], [True], 3])
def test_bad_fanouts_raise(fanouts):
    with pytest.raises(ValueError, match="fanout"):
        NeighborSampler(path_graph(4), 4, fanouts)


def test_edge_tensor_needs_num_nodes():
    with pytest.raises(ValueError, match="num_nodes is required"):
        NeighborSampler(path_graph(4), None, [2])
    with pytest.raises(TypeError, match="CSRGraph"):
        NeighborSampler([[0, 1], [1, 0]], 2, [2])


# --------------------------------------------------------------------------- batches


def test_batches_in_order():
    out = list(batches(torch.arange(10), 4))
    assert [b.tolist() for b in out] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b.tolist() for b in batches(torch.arange(10), 4, drop_last=True)] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
    ]
    assert list(batches(torch.arange(0), 4)) == []


def test_batches_shuffle_is_seeded_and_complete():
    ids = torch.arange(100, 137)
    a = list(batches(ids, 8, shuffle=True, generator=torch.Generator().manual_seed(3)))
    b = list(batches(ids, 8, shuffle=True, generator=torch.Generator().manual_seed(3)))
    c = list(batches(ids, 8, shuffle=True, generator=torch.Generator().manual_seed(4)))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(torch.cat(a), torch.cat(c))
    assert [x.numel() for x in a] == [8, 8, 8, 8, 5]
    assert sorted(torch.cat(a).tolist()) == ids.tolist()
    assert not torch.equal(torch.cat(a), ids)


@pytest.mark.parametrize("size", [0, -3, 2.5])
def test_batches_bad_size(size):
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(torch.arange(4), size))
