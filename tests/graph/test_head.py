r"""The end-to-end graph head: every kind's shapes, the graph-less MLP, APPNP and implicit
propagation against dense references, re-initialization, checkpoints and errors."""

from __future__ import annotations

import pytest
import torch

from leading.graph.head import HEAD_KINDS, EndToEndHead
from leading.graph.implicit import ImplicitPropagation

N, D, HIDDEN, C = 10, 6, 8, 3
ALPHA = 0.1


def make_head(kind: str, seed: int = 0, **kwargs) -> EndToEndHead:
    torch.manual_seed(seed)
    kwargs.setdefault("dropout", 0.0)
    return EndToEndHead(kind, N, D, HIDDEN, C, alpha=ALPHA, **kwargs).double()


@pytest.fixture
def data(make_graph, dense_adj):
    torch.manual_seed(1)
    ei = make_graph(N)
    return torch.randn(N, D, dtype=torch.float64), ei, dense_adj(ei, N)


def appnp_reference(a_hat: torch.Tensor, x_in: torch.Tensor, steps: int) -> torch.Tensor:
    x = x_in
    for _ in range(steps):
        x = (1 - ALPHA) * a_hat @ x + ALPHA * x_in
    return x


def fixed_point(a_hat: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(a_hat.size(0), dtype=a_hat.dtype)
    return ALPHA * torch.linalg.solve(eye - (1 - ALPHA) * a_hat, x_in)


def test_kinds_registry():
    assert HEAD_KINDS == ("implicit", "appnp", "gcn", "sage", "mlp")


@pytest.mark.parametrize("kind", HEAD_KINDS)
@pytest.mark.parametrize("training", [True, False])
def test_output_shape_and_gradient(data, kind, training):
    h, ei, _ = data
    head = make_head(kind).train(training)
    x = h.clone().requires_grad_()
    out = head(x, ei, torch.arange(N))
    assert out.shape == (N, C) and out.dtype == torch.float64
    assert torch.isfinite(out).all()
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in head.parameters())


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_subgraph_with_global_ids(kind):
    # 4 rows of a 10-node graph, ids far from 0..3
    torch.manual_seed(0)
    head = make_head(kind)
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    out = head(torch.randn(4, D, dtype=torch.float64), ei, torch.tensor([9, 2, 7, 5]))
    assert out.shape == (4, C)


def test_mlp_ignores_the_graph(data):
    h, ei, _ = data
    head = make_head("mlp").eval()
    ids = torch.arange(N)
    ref = head.mlp(h)
    torch.testing.assert_close(head(h, ei, ids), ref, atol=0, rtol=0)
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(3))
    shuffled = perm[ei]  # another graph on the same nodes
    for other in (shuffled, ei[:, :0], ei.flip(0)):
        torch.testing.assert_close(head(h, other, ids), ref, atol=0, rtol=0)
    # ... whereas a propagating head does see the change
    appnp = make_head("appnp").eval()
    assert not torch.allclose(appnp(h, ei, ids), appnp(h, shuffled, ids))


@pytest.mark.parametrize("steps", [0, 1, 3, 10])
def test_appnp_matches_dense_unrolled_reference(data, steps):
    h, ei, a_hat = data
    head = make_head("appnp", num_steps=steps).eval()
    x_in = head.mlp(h)
    out = head(h, ei, torch.arange(N))
    torch.testing.assert_close(out, appnp_reference(a_hat, x_in, steps), atol=1e-12, rtol=0)


def test_appnp_gradient_matches_dense_reference(data):
    h, ei, a_hat = data
    head = make_head("appnp", num_steps=5).eval()
    x1 = h.clone().requires_grad_()
    x2 = h.clone().requires_grad_()
    y = torch.randn(N, C, dtype=torch.float64)
    (head(x1, ei, torch.arange(N)) * y).sum().backward()
    (appnp_reference(a_hat, head.mlp(x2), 5) * y).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-12, rtol=0)


def test_implicit_eval_approaches_the_fixed_point(data):
    h, ei, a_hat = data
    head = make_head("implicit", num_steps=2, eval_steps=400).eval()
    x_in = head.mlp(h)
    out = head(h, ei, torch.arange(N))
    exact = fixed_point(a_hat, x_in)
    torch.testing.assert_close(out, exact, atol=1e-8, rtol=0)
    # the training mode's 2 steps are far from it (eval_steps is what made the difference)
    train_out = make_head("implicit", num_steps=2, eval_steps=400).train()(h, ei, torch.arange(N))
    assert (train_out - exact).abs().max() > 1e-3


def test_implicit_cold_start_equals_appnp(data):
    h, ei, _ = data
    implicit = make_head("implicit", num_steps=7).train()
    appnp = make_head("appnp", num_steps=7).train()
    ids = torch.arange(N)
    torch.testing.assert_close(implicit(h, ei, ids), appnp(h, ei, ids), atol=1e-12, rtol=0)


def test_implicit_eval_mode_does_not_write_history(data):
    h, ei, _ = data
    head = make_head("implicit").eval()
    head(h, ei, torch.arange(N))
    assert not head.prop.history.allocated
    head.train()
    head(h, ei, torch.arange(N))
    assert bool(head.prop.history.filled_x(torch.arange(N)).all())


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_reset_parameters_changes_parameters(data, kind):
    h, ei, _ = data
    head = make_head(kind)
    before = {k: v.clone() for k, v in head.named_parameters()}
    assert before
    torch.manual_seed(123)
    head.reset_parameters()
    for k, v in head.named_parameters():
        assert v.shape == before[k].shape
        if k.endswith("weight"):
            assert not torch.equal(v, before[k]), k
    # still a working head
    assert head(h, ei, torch.arange(N)).shape == (N, C)


def test_reset_parameters_forgets_the_history(data):
    h, ei, _ = data
    head = make_head("implicit").train()
    head(h, ei, torch.arange(N))
    ids = torch.arange(N)
    assert bool(head.prop.history.filled_x(ids).all())
    head.reset_parameters()
    assert not bool(head.prop.history.filled_x(ids).any())


def _train_steps(head: EndToEndHead, h, ei, ids, steps: int = 3) -> None:
    head.train()
    for _ in range(steps):
        x = h.clone().requires_grad_()
        head(x, ei, ids).square().sum().backward()


def test_state_dict_carries_the_histories(data):
    h, ei, _ = data
    ids = torch.arange(N)
    head = make_head("implicit", num_steps=3, backward_init="history")
    _train_steps(head, h, ei, ids)
    state = head.state_dict()
    assert "history" in state["prop._extra_state"]
    hist = state["prop._extra_state"]["history"]
    assert hist["x_filled"].all() and hist["g_filled"].all()

    loaded = make_head("implicit", seed=7, num_steps=3, backward_init="history")
    loaded.load_state_dict(state)
    fresh = make_head("implicit", seed=7, num_steps=3, backward_init="history")
    fresh.load_state_dict({k: v for k, v in state.items() if "extra_state" not in k}, strict=False)

    outs, grads = [], []
    for m in (head, loaded, fresh):
        x = h.clone().requires_grad_()
        out = m.train()(x, ei, ids)
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append(x.grad)
    # the loaded head continues exactly where the original was: warm forward start and stored
    # gradient start (backward_init="history")
    torch.testing.assert_close(outs[1], outs[0], atol=0, rtol=0)
    torch.testing.assert_close(grads[1], grads[0], atol=0, rtol=0)
    # without the histories the same weights give another output (the test can fail)
    assert not torch.allclose(outs[2], outs[0])
    assert not torch.allclose(grads[2], grads[0])


def test_state_dict_roundtrip_through_torch_save(data, tmp_path):
    h, ei, _ = data
    ids = torch.arange(N)
    head = make_head("implicit", num_steps=3)
    _train_steps(head, h, ei, ids)
    torch.save(head.state_dict(), tmp_path / "head.pt")
    loaded = make_head("implicit", seed=5, num_steps=3)
    loaded.load_state_dict(torch.load(tmp_path / "head.pt", weights_only=False))
    head.eval(), loaded.eval()
    torch.testing.assert_close(loaded(h, ei, ids), head(h, ei, ids), atol=0, rtol=0)


@pytest.mark.parametrize("kind", ["appnp", "gcn", "sage", "mlp"])
def test_state_dict_of_stateless_kinds(data, kind):
    h, ei, _ = data
    head = make_head(kind).eval()
    state = head.state_dict()
    assert not any(k.endswith("_extra_state") for k in state)
    loaded = make_head(kind, seed=9).eval()
    loaded.load_state_dict(state)
    ids = torch.arange(N)
    torch.testing.assert_close(loaded(h, ei, ids), head(h, ei, ids), atol=0, rtol=0)


def test_prop_kwargs_reach_the_implicit_propagation():
    head = make_head("implicit", num_steps=4, eval_steps=9, backward_init="zero")
    assert isinstance(head.prop, ImplicitPropagation)
    assert (head.prop.alpha, head.prop.num_steps, head.prop.eval_steps) == (ALPHA, 4, 9)
    assert head.prop.backward_init == "zero"
    assert head.prop.history.num_nodes == N


def test_repr():
    assert repr(make_head("mlp")) == (
        "EndToEndHead(kind='mlp', MLPHead(6, 3, hidden_channels=8, num_layers=2, dropout=0.0))"
    )
    r = repr(make_head("appnp", num_steps=4))
    assert r.startswith("EndToEndHead(kind='appnp', MLPHead(6, 3, hidden_channels=8")
    assert r.endswith("APPNPPropagation(alpha=0.1, num_steps=4))")
    r = repr(make_head("implicit"))
    assert "kind='implicit'" in r and "ImplicitPropagation(alpha=0.1, num_steps=10" in r
    assert repr(make_head("gcn")).startswith("EndToEndHead(kind='gcn', GCN(6, 3, ")
    assert repr(make_head("sage")).startswith("EndToEndHead(kind='sage', GraphSAGE(6, 3, ")


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match=r"unknown head 'gat'.*expected one of"):
        EndToEndHead("gat", N, D, HIDDEN, C)
