import pytest
import torch

from leading.graph.gnn import GAT, GCN, GNN_NAMES, MLP, APPNPNet, GraphSAGE, MLPHead, build_gnn


def _graph(n: int = 10, d: int = 6):
    torch.manual_seed(0)
    x = torch.randn(n, d)
    src = torch.arange(n)
    ring = torch.stack([src, (src + 1) % n])
    return x, torch.cat([ring, ring.flip(0)], dim=1)


@pytest.mark.parametrize("name", GNN_NAMES)
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


@pytest.mark.parametrize("name", GNN_NAMES)
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


def test_mlp_head_and_appnp():
    x, edge_index = _graph()
    head = MLPHead(6, 16, 3, num_layers=3, dropout=0.1)
    assert len(head.lins) == 3
    assert head(x).shape == (10, 3)
    assert head(x.unsqueeze(0)).shape == (1, 10, 3)
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
    assert "heads=8" in repr(GAT(6, 16, 3))
    assert "K=10, alpha=0.1" in repr(APPNPNet(6, 16, 3))
    with pytest.raises(ValueError):
        GCN(6, 16, 3, num_layers=0)
    with pytest.raises(ValueError):
        GCN(6, 16, 3, dropout=1.0)
