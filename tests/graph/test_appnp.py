"""The fixed-point iteration and the explicit APPNP propagation."""

from __future__ import annotations

import pytest
import torch

from leading.graph.appnp import APPNPPropagation, appnp_iterate
from leading.graph.normalization import normalized_adjacency

ALPHA = 0.1
N = 10


@pytest.fixture
def data(make_graph, dense_adj):
    torch.manual_seed(0)
    ei = make_graph(N)
    return ei, torch.randn(N, 3, dtype=torch.float64), dense_adj(ei, N)


def test_iterate_equals_the_replaced_loop(data):
    """torch_geometric.utils.spmm on a CSR matrix is torch.sparse.mm: the result is bit for bit
    the loop the iteration used before."""
    ei, x_in, _ = data
    for dtype in (torch.float32, torch.float64):
        mat = normalized_adjacency(ei, N, dtype=dtype)
        source, start = x_in.to(dtype), torch.randn(N, 3, dtype=dtype)
        ref = start
        for _ in range(7):
            ref = torch.sparse.mm(mat, ref).mul_(1.0 - ALPHA).add_(source, alpha=ALPHA)
        out, steps, residual = appnp_iterate(mat, start, source, ALPHA, 7)
        assert torch.equal(out, ref) and steps == 7 and residual != residual  # NaN
        # explicit APPNP: the same, out of place, for autograd
        ref = source
        for _ in range(7):
            ref = (1.0 - ALPHA) * torch.sparse.mm(mat, ref) + ALPHA * source
        assert torch.equal(APPNPPropagation(ALPHA, num_steps=7)(source, ei), ref)


def test_iterate_to_tolerance(data):
    ei, x_in, a_hat = data
    mat = normalized_adjacency(ei, N, dtype=torch.float64)
    out, steps, residual = appnp_iterate(mat, x_in, x_in, ALPHA, 0, tol=1e-10, max_steps=1000)
    assert 10 < steps < 1000 and residual < 1e-10
    exact = ALPHA * torch.linalg.solve(
        torch.eye(N, dtype=torch.float64) - (1 - ALPHA) * a_hat, x_in
    )
    torch.testing.assert_close(out, exact, atol=1e-8, rtol=0)
    _, steps, _ = appnp_iterate(mat, x_in, x_in, ALPHA, 0, tol=1e-30, max_steps=0)
    assert steps == 1  # at least one step


def test_matches_torch_geometric(data):
    from torch_geometric.nn import APPNP

    ei, x_in, _ = data
    ref = APPNP(K=5, alpha=ALPHA)(x_in, ei)
    torch.testing.assert_close(APPNPPropagation(ALPHA, num_steps=5)(x_in, ei), ref)


def test_gradient_by_autograd_and_sparse_input(data, dense_adj):
    ei, x_in, a_hat = data
    x = x_in.clone().requires_grad_()
    y = torch.randn_like(x_in)
    (APPNPPropagation(ALPHA, num_steps=2)(x, ei) * y).sum().backward()
    m = (1 - ALPHA) * a_hat
    expected = ((m @ m).T + ALPHA * (m.T + torch.eye(N, dtype=torch.float64))) @ y
    torch.testing.assert_close(x.grad, expected)
    mat = normalized_adjacency(ei, N, dtype=torch.float64)
    torch.testing.assert_close(
        APPNPPropagation(ALPHA, num_steps=3)(x_in, mat),
        APPNPPropagation(ALPHA, num_steps=3)(x_in, ei),
    )


def test_cache_default_steps_and_repr(data):
    ei, x_in, _ = data
    prop = APPNPPropagation(ALPHA, cached=True)
    assert prop.num_steps == 10  # as Config.prop_steps
    first = prop(x_in, ei)
    kept = prop._cache._last
    assert kept is not None
    assert torch.equal(prop(x_in, ei), first) and prop._cache._last is kept
    prop.reset_parameters()
    assert prop._cache._last is None
    assert "num_steps=7" in repr(APPNPPropagation(num_steps=7))
