"""The feed-forward head, and why it is not PyG's MLP."""

import pytest
import torch
from torch import nn
from torch_geometric.nn.models import MLP as PyGMLP

from leading.graph.mlp import MLP, MLPHead, check_sizes


def test_mlp_head_shapes_and_layers():
    torch.manual_seed(0)
    x = torch.randn(10, 6)
    head = MLPHead(6, 16, 3, num_layers=3, dropout=0.1)
    assert len(head.lins) == 3 and all(isinstance(lin, nn.Linear) for lin in head.lins)
    assert head(x).shape == (10, 3)
    assert head(x.unsqueeze(0)).shape == (1, 10, 3)
    assert head.input_dropout == 0.0 and MLP(6, 16, 3).input_dropout == 0.5
    assert repr(head) == (
        "MLPHead(6, 3, hidden_channels=16, num_layers=3, dropout=0.1, input_dropout=0.0)"
    )


def test_eval_forward_by_hand():
    torch.manual_seed(0)
    head = MLPHead(4, 5, 2, dropout=0.5).eval()
    x = torch.randn(7, 4)
    a, b = head.lins
    assert torch.equal(head(x), b(a(x).relu()))


def test_pyg_mlp_differs_under_the_same_seed():
    """PyG's MLP re-initializes its layers at the end of its constructor: under the same seed
    its parameters differ from MLPHead's and the random state after construction too, so it
    cannot replace MLPHead without changing every result."""
    torch.manual_seed(0)
    ours = MLPHead(6, 16, 3, dropout=0.5)
    ours_next = torch.rand(1)
    torch.manual_seed(0)
    pyg = PyGMLP(
        in_channels=6, hidden_channels=16, out_channels=3, num_layers=2, dropout=0.5, norm=None
    )
    pyg_next = torch.rand(1)
    assert list(ours.state_dict()) == list(pyg.state_dict())  # same layout ...
    assert not torch.equal(ours.lins[0].weight, pyg.lins[0].weight)  # ... other values
    assert not torch.equal(ours_next, pyg_next)


def test_check_sizes():
    check_sizes(1, 1, 1, 1, 0.0, None)
    with pytest.raises(ValueError, match="num_layers"):
        check_sizes(4, 8, 2, 0, 0.5)
    with pytest.raises(ValueError, match="dropout"):
        check_sizes(4, 8, 2, 2, 1.0)
    with pytest.raises(ValueError, match="input_dropout"):
        check_sizes(4, 8, 2, 2, 0.5, -0.1)
