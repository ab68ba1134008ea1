"""The normalized adjacency: dense references, PyG's gcn_norm, and bit-for-bit equality with the
hand-written normalization that PyG's gcn_norm replaced."""

from __future__ import annotations

import pytest
import torch

from leading.graph.normalization import AdjacencyCache, NormalizedAdjacency, normalized_adjacency

N = 10


def _old_gcn_norm(edge_index, num_nodes, add_self_loops, dtype):
    """The normalization this module used before it called PyG's gcn_norm (kept verbatim as the
    reference): (row = target, col = source, weight)."""
    edge_index = torch.as_tensor(edge_index).long()
    src, dst = edge_index[0], edge_index[1]
    if add_self_loops:
        loop = torch.arange(num_nodes, device=edge_index.device)
        src = torch.cat([src, loop])
        dst = torch.cat([dst, loop])
    deg = torch.bincount(dst, minlength=num_nodes).to(dtype)
    deg_inv_sqrt = deg.pow(-0.5)
    deg_inv_sqrt.masked_fill_(deg == 0, 0.0)
    weight = deg_inv_sqrt[src] * deg_inv_sqrt[dst]
    return dst, src, weight


def _old_csr(row, col, weight, num_nodes):
    perm = torch.argsort(row * num_nodes + col)
    row, col, weight = row[perm], col[perm], weight[perm]
    crow = torch.zeros(num_nodes + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(row, minlength=num_nodes), dim=0, out=crow[1:])
    return crow, col, weight


def _random_graph(num_nodes, num_edges, seed, symmetric=True):
    from leading.data.graph import canonical_undirected

    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    if symmetric:
        return canonical_undirected(ei, num_nodes)
    return ei[:, ei[0] != ei[1]]  # directed, like a sampled subgraph; no self-loops


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("transpose", [False, True])
def test_equal_to_the_replaced_normalization(dtype, add_self_loops, symmetric, transpose):
    """PyG's gcn_norm gives the same weights, bit for bit, in the same order, as the old code,
    on graphs without self-loops (all graphs of the program: canonical_undirected drops them)."""
    for seed, (n, e) in enumerate([(300, 1500), (57, 40), (5, 0)]):
        ei = _random_graph(n, e, seed, symmetric)
        row, col, w = _old_gcn_norm(ei, n, add_self_loops, dtype)
        if transpose:
            row, col = col, row
        crow, col, w = _old_csr(row, col, w, n)
        mat = normalized_adjacency(ei, n, add_self_loops, dtype=dtype, transpose=transpose)
        assert torch.equal(mat.crow_indices(), crow)
        assert torch.equal(mat.col_indices(), col)
        assert torch.equal(mat.values(), w)
        assert mat.values().dtype == dtype


def test_matches_dense_and_torch_geometric(make_graph, dense_adj):
    ei = make_graph(N)
    mat = normalized_adjacency(ei, N, dtype=torch.float64)
    assert mat.layout == torch.sparse_csr
    torch.testing.assert_close(mat.to_dense(), dense_adj(ei, N))
    torch.testing.assert_close(mat.to_dense(), mat.to_dense().T)
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    idx, w = gcn_norm(ei, num_nodes=N, add_self_loops=True, dtype=torch.float64)
    ref = torch.zeros(N, N, dtype=torch.float64)
    ref[idx[1], idx[0]] = w
    torch.testing.assert_close(mat.to_dense(), ref)


def test_existing_self_loop_is_kept_once():
    """As PyG's gcn_norm: an edge list that already holds (i, i) gets no second loop (the old
    code counted it twice; no graph of the program has self-loops)."""
    ei = torch.tensor([[0, 1, 1, 2, 1], [1, 0, 2, 1, 1]])  # (1, 1) given
    mat = normalized_adjacency(ei, 3, dtype=torch.float64).to_dense()
    a = torch.tensor([[1.0, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=torch.float64)
    dis = a.sum(1).pow(-0.5)
    torch.testing.assert_close(mat, dis[:, None] * a * dis[None, :])


def test_without_self_loops_isolated_node(dense_adj):
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # node 3 isolated
    mat = normalized_adjacency(ei, 4, add_self_loops=False, dtype=torch.float64).to_dense()
    assert torch.isfinite(mat).all()
    assert mat[3].abs().sum() == 0 and mat[:, 3].abs().sum() == 0
    torch.testing.assert_close(mat, dense_adj(ei, 4, self_loops=False))


def test_transpose_of_directed_graph(dense_adj):
    ei = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]])
    mat = normalized_adjacency(ei, 4, dtype=torch.float64).to_dense()
    mat_t = normalized_adjacency(ei, 4, dtype=torch.float64, transpose=True).to_dense()
    torch.testing.assert_close(mat_t, mat.T)
    torch.testing.assert_close(mat, dense_adj(ei, 4))


def test_bad_edge_index_shape():
    with pytest.raises(ValueError, match=r"\[2, E\]"):
        normalized_adjacency(torch.zeros(3, 4, dtype=torch.long), 4)


def test_normalized_adjacency_object_and_lazy_transpose():
    ei = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]])
    adj = NormalizedAdjacency(ei, 4, dtype=torch.float64)
    ref = normalized_adjacency(ei, 4, dtype=torch.float64)
    assert torch.equal(adj.matrix.to_dense(), ref.to_dense())
    assert adj._transposed is None  # built only when a backward asks for it
    torch.testing.assert_close(adj.transposed.to_dense(), ref.to_dense().T)
    assert adj.transposed is adj.transposed

    # an already normalized sparse matrix is taken as it is; its transpose via COO
    given = NormalizedAdjacency(ref, 4, dtype=torch.float64)
    assert torch.equal(given.matrix.to_dense(), ref.to_dense())
    torch.testing.assert_close(given.transposed.to_dense(), ref.to_dense().T)
    coo = NormalizedAdjacency(ref.to_sparse_coo(), 4, dtype=torch.float64)
    assert coo.matrix.layout == torch.sparse_csr
    with pytest.raises(ValueError, match="expected"):
        NormalizedAdjacency(ref, 5)


def test_adjacency_cache():
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    args = (3, True, torch.float32, torch.device("cpu"))
    off = AdjacencyCache()
    assert off.get(ei, *args) is not off.get(ei, *args)
    on = AdjacencyCache(enabled=True)
    first = on.get(ei, *args)
    assert on.get(ei, *args) is first
    assert on.get(ei.clone(), *args) is not first  # another tensor: rebuilt
    again = on.get(ei, *args)
    assert on.get(ei, 3, True, torch.float64, torch.device("cpu")) is not again
    on.clear()
    assert on.get(ei, 3, True, torch.float64, torch.device("cpu")) is not again
