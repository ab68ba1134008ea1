"""Downstream GNNs, and bit-for-bit equality of the PyG-based models with the hand-written
Dropout-Conv-Activation stacks they replaced (kept below as the reference)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GATConv, GCNConv, SAGEConv

from leading.graph.gnn import GAT, GCN, GNNS, MLP, APPNPNet, GraphSAGE, build_gnn


def _graph(n: int = 10, d: int = 6):
    torch.manual_seed(0)
    x = torch.randn(n, d)
    src = torch.arange(n)
    ring = torch.stack([src, (src + 1) % n])
    return x, torch.cat([ring, ring.flip(0)], dim=1)


@pytest.mark.parametrize("name", GNNS)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_forward_shape(name, num_layers):
    x, edge_index = _graph()
    model = build_gnn(name, 6, 16, 3, num_layers=num_layers, dropout=0.5)
    model.eval()
    out = model(x, edge_index)
    assert out.shape == (10, 3)
    assert torch.isfinite(out).all()
    model.train()  # training-mode forward and backward work too
    model(x, edge_index).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_build_gnn_names():
    assert isinstance(build_gnn("GCN", 4, 8, 2), GCN)
    assert isinstance(build_gnn("Gat", 4, 8, 2), GAT)
    assert isinstance(build_gnn("sage", 4, 8, 2), GraphSAGE)
    assert isinstance(build_gnn("graphsage", 4, 8, 2), GraphSAGE)
    assert isinstance(build_gnn("APPNP", 4, 8, 2, K=3, alpha=0.2), APPNPNet)
    assert isinstance(build_gnn("mlp", 4, 8, 2), MLP)
    with pytest.raises(ValueError, match="gcn, gat, sage, appnp, mlp"):
        build_gnn("gin", 4, 8, 2)


@pytest.mark.parametrize("name", GNNS)
def test_reset_parameters(name):
    x, edge_index = _graph()
    model = build_gnn(name, 6, 16, 3)
    torch.manual_seed(1)
    model.reset_parameters()
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    torch.manual_seed(1)
    model.reset_parameters()
    for k, v in model.state_dict().items():
        assert torch.equal(v, init[k]), k
    torch.manual_seed(2)
    model.reset_parameters()
    weights = [k for k, v in init.items() if v.dim() == 2]
    assert weights and all(not torch.equal(model.state_dict()[k], init[k]) for k in weights)


def test_gat_heads_split_hidden_width():
    model = GAT(6, 64, 3, heads=8)
    first, last = model.convs
    assert (first.heads, first.out_channels, first.concat) == (8, 8, True)
    assert (last.heads, last.out_channels, last.concat) == (1, 3, False)
    with pytest.raises(ValueError, match="multiple of heads"):
        GAT(6, 60, 3, heads=8)


def test_appnp_and_mlp():
    x, edge_index = _graph()
    # K=0 propagation is the identity: APPNP reduces to its MLP
    net = APPNPNet(6, 16, 3, K=0).eval()
    assert torch.allclose(net(x, edge_index), net.mlp(x))
    # an MLP ignores the graph
    mlp = MLP(6, 16, 3).eval()
    assert torch.equal(mlp(x, edge_index), mlp(x))


def test_gcn_cached_reset_clears_cache():
    x, edge_index = _graph()
    model = GCN(6, 8, 3, cached=True).eval()
    model(x, edge_index)
    assert model.convs[0]._cached_edge_index is not None
    model.reset_parameters()
    assert model.convs[0]._cached_edge_index is None


def test_repr_and_validation():
    assert repr(GCN(6, 16, 3)) == "GCN(6, 3, hidden_channels=16, num_layers=2, dropout=0.5)"
    assert repr(GraphSAGE(6, 16, 3, input_dropout=0.0)) == (
        "GraphSAGE(6, 3, hidden_channels=16, num_layers=2, dropout=0.5, input_dropout=0.0, "
        "aggr='mean')"
    )
    assert repr(APPNPNet(6, 16, 3)) == (
        "APPNPNet(6, 3, hidden_channels=16, num_layers=2, dropout=0.5, K=10, alpha=0.1)"
    )
    assert "heads=8" in repr(GAT(6, 16, 3))
    assert "K=10, alpha=0.1" in repr(APPNPNet(6, 16, 3))
    with pytest.raises(ValueError):
        GCN(6, 16, 3, num_layers=0)
    with pytest.raises(ValueError):
        GCN(6, 16, 3, dropout=1.0)
    with pytest.raises(ValueError, match="input_dropout"):
        GAT(6, 16, 3, input_dropout=1.5)
    with pytest.raises(ValueError, match="heads"):
        GAT(6, 16, 3, heads=0)


# -- the replaced hand-written models, the reference of the equality tests ---------------------


class _OldStack(nn.Module):
    """Dropout-Conv-Activation stack as it was (dropout on the input of every layer)."""

    act = staticmethod(F.relu)

    def __init__(self, convs, dropout, input_dropout):
        super().__init__()
        self.dropout = dropout
        self.input_dropout = dropout if input_dropout is None else input_dropout
        self.convs = nn.ModuleList(convs)

    def reset_parameters(self):
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x, edge_index):
        x = F.dropout(x, p=self.input_dropout, training=self.training)
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = F.dropout(x, p=self.dropout, training=self.training)
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = self.act(x)
        return x


class _OldGAT(_OldStack):
    act = staticmethod(F.elu)


def _widths(d, hidden, out, layers):
    dims = [d] + [hidden] * (layers - 1) + [out]
    return list(zip(dims[:-1], dims[1:], strict=True))


def _old_model(name, d, hidden, out, num_layers, dropout, input_dropout=None, **kw):
    widths = _widths(d, hidden, out, num_layers)
    if name == "gcn":
        convs = [GCNConv(i, o, cached=kw.get("cached", False)) for i, o in widths]
        return _OldStack(convs, dropout, input_dropout)
    if name == "sage":
        convs = [SAGEConv(i, o, aggr=kw.get("aggr", "mean")) for i, o in widths]
        return _OldStack(convs, dropout, input_dropout)
    heads, output_heads = kw.get("heads", 8), kw.get("output_heads", 1)
    attn = kw.get("attn_dropout", dropout)
    convs = [
        GATConv(i, o // heads, heads=heads, dropout=attn)
        if k < num_layers - 1
        else GATConv(i, o, heads=output_heads, concat=False, dropout=attn)
        for k, (i, o) in enumerate(widths)
    ]
    return _OldGAT(convs, dropout, input_dropout)


_CASES = [
    ("gcn", {}),
    ("gcn", {"input_dropout": 0.0, "cached": True}),
    ("sage", {}),
    ("sage", {"aggr": "max", "input_dropout": 0.1}),
    ("gat", {}),
    ("gat", {"heads": 4, "output_heads": 2, "attn_dropout": 0.3}),
]


@pytest.mark.parametrize(("name", "kwargs"), _CASES)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_equal_to_the_replaced_stack(name, kwargs, num_layers):
    """Under the same seed: the same parameters (same names, same init order), the same outputs
    and gradients in train mode (same dropout draws), the same eval outputs, the same random
    state afterwards, the same re-initialization."""
    torch.manual_seed(0)
    x = torch.randn(30, 12)
    edge_index = torch.randint(0, 30, (2, 120))
    runs = []
    for build in (build_gnn, _old_model):
        torch.manual_seed(5)
        model = build(name, 12, 16, 3, num_layers=num_layers, dropout=0.4, **kwargs)
        state = dict(model.state_dict())
        model.train()
        torch.manual_seed(7)
        out = model(x, edge_index)
        out.square().sum().backward()
        grads = [p.grad for p in model.parameters()]
        after = torch.rand(4)
        model.eval()
        with torch.no_grad():
            eval_out = model(x, edge_index)
        torch.manual_seed(9)
        model.reset_parameters()
        runs.append((state, out, grads, after, eval_out, dict(model.state_dict())))
    new, old = runs
    assert list(new[0]) == list(old[0])
    assert all(torch.equal(new[0][k], old[0][k]) for k in old[0])
    for a, b in zip(new[1:5], old[1:5], strict=True):
        if isinstance(a, list):
            assert len(a) == len(b) and all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
        else:
            assert torch.equal(a, b)
    assert all(torch.equal(new[5][k], old[5][k]) for k in old[5])
