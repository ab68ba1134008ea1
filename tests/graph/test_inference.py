r"""Layer-wise whole-graph inference equals the plain forward of the GNN heads."""

import pytest
import torch

from leading.graph.gnn import build_gnn
from leading.graph.inference import layerwise


def random_graph(n: int = 57, e: int = 300, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    return torch.randn(n, 12, generator=g), edge_index


@pytest.mark.parametrize("kind", ["gcn", "sage"])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("chunk", [1, 10, 57, 1000])
def test_layerwise_equals_the_forward(kind, layers, chunk):
    torch.manual_seed(0)
    x, edge_index = random_graph()
    x[5] = 0  # and a node without incoming edges
    edge_index = edge_index[:, edge_index[1] != 7]
    gnn = build_gnn(kind, 12, 16, 5, num_layers=layers, dropout=0.5).eval()
    torch.testing.assert_close(layerwise(gnn, x, edge_index, chunk), gnn(x, edge_index),
                               atol=1e-5, rtol=1e-4)


def test_layerwise_refuses_layers_it_does_not_know():
    gnn = build_gnn("gat", 12, 16, 5).eval()
    x, edge_index = random_graph()
    with pytest.raises(TypeError, match="GATConv layers are not supported"):
        layerwise(gnn, x, edge_index)
