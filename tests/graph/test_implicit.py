"""Implicit propagation (LEADING Section 3.3, Appendix A): forward fixed point, implicit
gradient, warm starts from the histories, sub-graphs, modes and checkpoints."""

from __future__ import annotations

import io

import pytest
import torch

from leading.graph.appnp import APPNPPropagation
from leading.graph.implicit import BACKWARD_INITS, ImplicitPropagation
from leading.graph.normalization import normalized_adjacency

ALPHA = 0.1
N = 10


def _exact_forward(a_hat: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(a_hat.size(0), dtype=a_hat.dtype)
    return ALPHA * torch.linalg.solve(eye - (1 - ALPHA) * a_hat, x_in)


def _exact_grad(a_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(a_hat.size(0), dtype=a_hat.dtype)
    return ALPHA * torch.linalg.solve((eye - (1 - ALPHA) * a_hat).T, y)


def _residual(a_hat: torch.Tensor, x: torch.Tensor, x_in: torch.Tensor) -> float:
    return float(torch.linalg.norm(x - ((1 - ALPHA) * a_hat @ x + ALPHA * x_in)))


@pytest.fixture
def data(make_graph, dense_adj) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    ei = make_graph(N)
    x_in = torch.randn(N, 3, dtype=torch.float64)
    return ei, x_in, dense_adj(ei, N)


# -- forward and implicit gradient -------------------------------------------------------------


def test_forward_many_steps_matches_closed_form(data):
    ei, x_in, a_hat = data
    prop = ImplicitPropagation(ALPHA, num_steps=300, forward_warm_start=False)
    out = prop(x_in, ei)
    torch.testing.assert_close(out, _exact_forward(a_hat, x_in), atol=1e-5, rtol=0)


def test_forward_tol_stops_early(data):
    ei, x_in, a_hat = data
    prop = ImplicitPropagation(ALPHA, forward_warm_start=False, tol=1e-10, max_steps=1000)
    out = prop(x_in, ei)
    assert 10 < prop.last_stats["forward_steps"] < 1000
    assert prop.last_stats["forward_residual"] < 1e-10
    torch.testing.assert_close(out, _exact_forward(a_hat, x_in), atol=1e-8, rtol=0)


@pytest.mark.parametrize("init", ["grad", "zero"])
def test_implicit_gradient_matches_exact_and_unrolled(data, init):
    ei, x_in, a_hat = data
    y = torch.randn_like(x_in)  # dL/dX for L = <X, y>
    x = x_in.clone().requires_grad_()
    prop = ImplicitPropagation(ALPHA, num_steps=300, forward_warm_start=False, backward_init=init)
    (prop(x, ei) * y).sum().backward()
    torch.testing.assert_close(x.grad, _exact_grad(a_hat, y), atol=1e-5, rtol=0)

    x_ref = x_in.clone().requires_grad_()
    (APPNPPropagation(ALPHA, num_steps=200)(x_ref, ei) * y).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-5, rtol=0)


def test_implicit_gradient_directed_subgraph_uses_transpose(dense_adj):
    ei = torch.tensor([[0, 1, 2, 3, 0, 4, 5], [1, 2, 3, 0, 2, 3, 4]])  # sampler-like, directed
    a_hat = dense_adj(ei, 6)
    assert not torch.allclose(a_hat, a_hat.T)
    x = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    y = torch.randn(6, 2, dtype=torch.float64)
    prop = ImplicitPropagation(ALPHA, num_steps=300, forward_warm_start=False)
    (prop(x, ei) * y).sum().backward()
    torch.testing.assert_close(x.grad, _exact_grad(a_hat, y), atol=1e-5, rtol=0)


def test_grad_init_cold_start_equals_unrolled_appnp(data):
    """With X_0 = X_in and G_L = dL/dX_L, L implicit steps are exactly L-step APPNP."""
    ei, x_in, _ = data
    y = torch.randn_like(x_in)
    x = x_in.clone().requires_grad_()
    prop = ImplicitPropagation(ALPHA, num_steps=3, forward_warm_start=False, backward_init="grad")
    out = prop(x, ei)
    (out * y).sum().backward()
    x_ref = x_in.clone().requires_grad_()
    ref = APPNPPropagation(ALPHA, num_steps=3)(x_ref, ei)
    (ref * y).sum().backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_sparse_matrix_input(data):
    ei, x_in, _ = data
    mat = normalized_adjacency(ei, N, dtype=torch.float64)
    a = ImplicitPropagation(ALPHA, num_steps=4, forward_warm_start=False)(x_in, ei)
    b = ImplicitPropagation(ALPHA, num_steps=4, forward_warm_start=False)(x_in, mat)
    torch.testing.assert_close(a, b)


# -- warm starts -------------------------------------------------------------------------------


def test_forward_warm_start_reduces_fixed_point_residual(data):
    ei, x_in, a_hat = data
    warm = ImplicitPropagation(ALPHA, num_steps=2)
    cold = ImplicitPropagation(ALPHA, num_steps=2, forward_warm_start=False)
    first = warm(x_in, ei)
    second = warm(x_in, ei)
    cold(x_in, ei)
    cold_out = cold(x_in, ei)
    torch.testing.assert_close(first, cold_out)  # first call = cold start
    assert _residual(a_hat, second, x_in) < 0.9 * _residual(a_hat, cold_out, x_in)


def test_backward_history_and_damped_starts(data):
    ei, x_in, a_hat = data
    y1, y2 = torch.randn_like(x_in), torch.randn_like(x_in)
    for init, beta in (("history", 1.0), ("damped", 0.25)):
        prop = ImplicitPropagation(ALPHA, num_steps=1, backward_init=init, damping=beta)
        x = x_in.clone().requires_grad_()
        (prop(x, ei) * y1).sum().backward()
        g1 = x.grad.clone()
        torch.testing.assert_close(g1, (1 - ALPHA) * a_hat.T @ y1 + ALPHA * y1)  # unfilled: grad
        torch.testing.assert_close(prop.history.pull_g(torch.arange(N)), g1)
        x.grad = None
        (prop(x, ei) * y2).sum().backward()
        start = beta * g1 + (1 - beta) * y2
        torch.testing.assert_close(x.grad, (1 - ALPHA) * a_hat.T @ start + ALPHA * y2)


def test_zero_init_one_step_is_alpha_grad(data):
    ei, x_in, _ = data
    y = torch.randn_like(x_in)
    x = x_in.clone().requires_grad_()
    prop = ImplicitPropagation(ALPHA, num_steps=1, backward_init="zero")
    (prop(x, ei) * y).sum().backward()
    torch.testing.assert_close(x.grad, ALPHA * y)


# -- sub-graphs, history, modes ----------------------------------------------------------------


def test_subgraph_history_indexed_by_global_id(dense_adj):
    torch.manual_seed(1)
    num_nodes = 12
    prop = ImplicitPropagation(ALPHA, num_steps=1, num_nodes=num_nodes)
    ids_a = torch.tensor([7, 3, 9, 0, 5])
    ei_a = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    x_a = torch.randn(5, 2, dtype=torch.float64)
    out_a = prop(x_a, ei_a, ids_a)
    filled = prop.history.filled_x(torch.arange(num_nodes))
    assert filled.nonzero().flatten().tolist() == [0, 3, 5, 7, 9]
    torch.testing.assert_close(prop.history.pull_x(ids_a), out_a)

    ids_b = torch.tensor([5, 11, 3, 8])  # overlaps A in global nodes 5 and 3
    ei_b = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    x_b = torch.randn(4, 2, dtype=torch.float64)
    out_b = prop(x_b, ei_b, ids_b)
    x0 = x_b.clone()
    x0[0], x0[2] = out_a[4], out_a[1]  # warm rows from A's output, by global id
    expected = (1 - ALPHA) * dense_adj(ei_b, 4) @ x0 + ALPHA * x_b
    torch.testing.assert_close(out_b, expected)


def test_unfilled_rows_cold_start(data):
    ei, x_in, _ = data
    prop = ImplicitPropagation(ALPHA, num_steps=0)  # returns X_0 itself
    stored = torch.full((3, 3), 7.0, dtype=torch.float64)
    prop.history.push_x(torch.tensor([1, 4, 8]), stored)
    out = prop(x_in, ei)
    expected = x_in.clone()
    expected[[1, 4, 8]] = 7.0
    torch.testing.assert_close(out, expected)


def test_eval_mode_does_not_write_history(data):
    ei, x_in, _ = data
    prop = ImplicitPropagation(ALPHA, num_steps=2, backward_init="history", eval_steps=50)
    prop.eval()
    x = x_in.clone().requires_grad_()
    prop(x, ei).sum().backward()
    assert prop.last_stats["forward_steps"] == 50
    assert not prop.history.allocated
    assert not prop.history.filled_x(torch.arange(N)).any()
    prop.train()
    prop(x, ei).sum().backward()
    assert prop.history.filled_x(torch.arange(N)).all()
    assert prop.history.filled_g(torch.arange(N)).all()
    before = prop.history.state_dict()["x"].clone()
    prop.eval()
    with torch.no_grad():
        prop(x_in * 3, ei)
    torch.testing.assert_close(prop.history.state_dict()["x"], before)


def test_state_dict_round_trip(data):
    ei, x_in, _ = data
    prop = ImplicitPropagation(ALPHA, num_steps=2, backward_init="damped")
    x = x_in.clone().requires_grad_()
    prop(x, ei).sum().backward()
    buffer = io.BytesIO()
    torch.save(prop.state_dict(), buffer)
    buffer.seek(0)
    restored = ImplicitPropagation(ALPHA, num_steps=2, backward_init="damped")
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    for key in ("x", "g", "x_filled", "g_filled"):
        torch.testing.assert_close(
            restored.history.state_dict()[key], prop.history.state_dict()[key]
        )
    torch.testing.assert_close(restored(x_in, ei), prop(x_in, ei))

    prop.reset_parameters()
    assert not prop.history.filled_x(torch.arange(N)).any()
    empty = ImplicitPropagation()
    empty.load_state_dict(ImplicitPropagation().state_dict())
    assert not empty.history.allocated


def test_repr_and_validation():
    prop = ImplicitPropagation(alpha=0.2, num_steps=3, backward_init="damped", damping=0.25)
    text = repr(prop)
    for part in ("alpha=0.2", "num_steps=3", "forward_warm_start=True", "'damped'", "0.25"):
        assert part in text
    assert "num_steps=7" in repr(APPNPPropagation(num_steps=7))
    with pytest.raises(ValueError):
        ImplicitPropagation(backward_init="momentum")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ImplicitPropagation(alpha=0.0)


def test_defaults_and_backward_inits():
    prop = ImplicitPropagation()
    assert prop.num_steps == 10 == APPNPPropagation().num_steps  # as Config.prop_steps
    assert prop.backward_init == BACKWARD_INITS[0] == "grad"
    assert set(BACKWARD_INITS) == {"grad", "zero", "history", "damped"}
    for init in BACKWARD_INITS:
        ImplicitPropagation(backward_init=init)
    with pytest.raises(ValueError, match="backward_init must be one of"):
        ImplicitPropagation(backward_init="none")  # type: ignore[arg-type]


def test_cached_adjacency_is_reused(data):
    ei, x_in, _ = data
    prop = ImplicitPropagation(ALPHA, num_steps=2, cached=True)
    prop(x_in, ei)
    kept = prop._cache._last
    assert kept is not None
    prop(x_in, ei)
    assert prop._cache._last is kept
    prop.reset_parameters()
    assert prop._cache._last is None and not prop.history.filled_x(torch.arange(N)).any()
