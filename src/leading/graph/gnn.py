r"""Downstream graph neural networks, built on PyTorch Geometric's models.

Every model maps node features :obj:`[N, in_channels]` and an edge list :obj:`[2, E]` to
per-node logits :obj:`[N, out_channels]`, has :meth:`reset_parameters`, and is built by name
with :func:`build_gnn` (names in :data:`GNNS`):

* :class:`GCN` (Kipf & Welling, 2017), :class:`GAT` (Velickovic et al., 2018),
  :class:`GraphSAGE` (Hamilton et al., 2017, mean aggregation): thin subclasses of
  :class:`torch_geometric.nn.models.GCN`, :class:`~torch_geometric.nn.models.GAT` and
  :class:`~torch_geometric.nn.models.GraphSAGE` that add dropout on the input features (PyG's
  models have none) and, for :class:`GAT`, their own number of output heads;
* :class:`APPNPNet` (Klicpera et al., 2019): an :class:`~leading.graph.mlp.MLPHead`, then
  personalized-PageRank propagation (:class:`torch_geometric.nn.APPNP`);
* :class:`~leading.graph.mlp.MLP`: the graph-less baseline (it ignores :obj:`edge_index`).

``tests/graph/test_gnn.py`` checks that each model gives exactly the outputs (train and eval mode)
and parameters of the hand-written stack it replaced, under the same seed.

All models work with a plain :obj:`edge_index`; neither :obj:`pyg-lib` nor :obj:`torch-sparse`
is needed.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import APPNP, GATConv
from torch_geometric.nn import models as pyg

from leading.graph.mlp import MLP, MLPHead, check_sizes, model_repr

__all__ = ["MLPHead", "MLP", "GCN", "GAT", "GraphSAGE", "APPNPNet", "build_gnn", "GNNS"]


class _InputDropout:
    r"""What the PyG-based models share: size checks, dropout on the input features before
    PyG's Conv-Activation-Dropout stack, and a readable :obj:`__repr__`."""

    dropout: nn.Dropout
    input_dropout: float

    def _setup(self, sizes: tuple[int, int, int, int], dropout: float, input_dropout) -> None:
        check_sizes(*sizes, dropout, input_dropout)
        self.input_dropout = float(dropout if input_dropout is None else input_dropout)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = F.dropout(x, p=self.input_dropout, training=self.training)  # type: ignore[attr-defined]
        return super().forward(x, edge_index)  # type: ignore[misc]

    def _extra_repr_args(self) -> str:
        return ""

    def __repr__(self) -> str:
        m: Any = self
        return model_repr(
            m,
            m.in_channels,
            m.out_channels,
            m.hidden_channels,
            m.num_layers,
            m.dropout.p,
            m.input_dropout,
            self._extra_repr_args(),
        )


class GCN(_InputDropout, pyg.GCN):
    r"""Graph convolutional network: :obj:`num_layers` :class:`~torch_geometric.nn.GCNConv`
    layers (symmetric normalization with self-loops), ReLU in between; PyG's
    :class:`~torch_geometric.nn.models.GCN` with dropout on the input features too (Kipf &
    Welling drop the input of every layer).

    Args:
        in_channels (int): Input width :obj:`d`.
        hidden_channels (int): Width of the hidden layers.
        out_channels (int): Output width (number of classes).
        num_layers (int): Number of graph convolutions. (default: :obj:`2`)
        dropout (float): Dropout on the input of every hidden layer. (default: :obj:`0.5`)
        input_dropout (float, optional): Dropout on the input features; :obj:`None` uses
            :obj:`dropout`. (default: :obj:`None`)
        cached (bool): Cache the normalized adjacency after the first call; only for a graph
            that does not change between calls (full-batch training). (default: :obj:`False`)

    Shapes:
        - **input:** node features :math:`(N, d)`, edge indices :math:`(2, E)`
        - **output:** logits :math:`(N, C)`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        input_dropout: float | None = None,
        cached: bool = False,
    ) -> None:
        self._setup(
            (in_channels, hidden_channels, out_channels, num_layers), dropout, input_dropout
        )
        super().__init__(
            in_channels,
            hidden_channels,
            num_layers,
            out_channels,
            dropout=dropout,
            act="relu",
            cached=bool(cached),
        )
        self.cached = bool(cached)


class GraphSAGE(_InputDropout, pyg.GraphSAGE):
    r"""GraphSAGE with mean aggregation: :obj:`num_layers`
    :class:`~torch_geometric.nn.SAGEConv` layers (root weight included), ReLU in between; PyG's
    :class:`~torch_geometric.nn.models.GraphSAGE` with dropout on the input features too.
    Arguments as in :class:`GCN` (without :obj:`cached`); :obj:`aggr` picks the neighbour
    aggregation. (default: :obj:`"mean"`)

    Shapes:
        - **input:** node features :math:`(N, d)`, edge indices :math:`(2, E)`
        - **output:** logits :math:`(N, C)`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        input_dropout: float | None = None,
        aggr: str = "mean",
    ) -> None:
        self._setup(
            (in_channels, hidden_channels, out_channels, num_layers), dropout, input_dropout
        )
        super().__init__(
            in_channels,
            hidden_channels,
            num_layers,
            out_channels,
            dropout=dropout,
            act="relu",
            aggr=aggr,
        )
        self.aggr = aggr

    def _extra_repr_args(self) -> str:
        return f", aggr={self.aggr!r}"


class GAT(_InputDropout, pyg.GAT):
    r"""Graph attention network: :obj:`num_layers` :class:`~torch_geometric.nn.GATConv` layers
    with ELU in between; hidden layers concatenate :obj:`heads` attention heads, the output
    layer averages :obj:`output_heads` heads.

    PyG's :class:`~torch_geometric.nn.models.GAT` with dropout on the input features, and with
    its own :obj:`output_heads` and :obj:`attn_dropout`: PyG's output layer averages as many
    heads as the hidden layers have (8 here, where the GAT paper's Cora model has 1) and its
    attention dropout is always :obj:`dropout`.

    :obj:`hidden_channels` is the *total* hidden width, split evenly across the heads, so that
    a hyperparameter grid over :obj:`hidden_channels` means the same width for every GNN: the
    Cora setting of the GAT paper (8 heads of 8 units) is :obj:`hidden_channels=64, heads=8`.

    Args:
        in_channels (int): Input width :obj:`d`.
        hidden_channels (int): Total hidden width, a multiple of :obj:`heads`.
        out_channels (int): Output width (number of classes).
        num_layers (int): Number of attention layers. (default: :obj:`2`)
        dropout (float): Dropout on the input of every hidden layer. (default: :obj:`0.5`)
        input_dropout (float, optional): Dropout on the input features; :obj:`None` uses
            :obj:`dropout`. (default: :obj:`None`)
        heads (int): Attention heads of every hidden layer. (default: :obj:`8`)
        output_heads (int): Attention heads of the output layer (averaged). (default: :obj:`1`)
        attn_dropout (float, optional): Dropout on the attention coefficients; :obj:`None` uses
            :obj:`dropout`. (default: :obj:`None`)

    Shapes:
        - **input:** node features :math:`(N, d)`, edge indices :math:`(2, E)`
        - **output:** logits :math:`(N, C)`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        input_dropout: float | None = None,
        heads: int = 8,
        output_heads: int = 1,
        attn_dropout: float | None = None,
    ) -> None:
        self._setup(
            (in_channels, hidden_channels, out_channels, num_layers), dropout, input_dropout
        )
        if heads < 1 or output_heads < 1:
            raise ValueError(
                f"heads and output_heads must be positive, got {heads}, {output_heads}"
            )
        if num_layers > 1 and hidden_channels % heads:
            raise ValueError(
                f"hidden_channels ({hidden_channels}) must be a multiple of heads "
                f"({heads}); it is the total width, split across the heads"
            )
        attn = float(dropout if attn_dropout is None else attn_dropout)
        super().__init__(
            in_channels,
            hidden_channels,
            num_layers,
            out_channels,
            dropout=dropout,
            act="elu",
            heads=int(heads),
            output_heads=int(output_heads),
            attn_dropout=attn,
        )
        self.heads, self.output_heads, self.attn_dropout = int(heads), int(output_heads), attn

    def init_conv(self, in_channels: int, out_channels: int, **kwargs: Any) -> GATConv:
        r"""Hidden layers: :obj:`heads` concatenated heads of :obj:`out_channels // heads`;
        the output layer (the last one built): :obj:`output_heads` averaged heads."""
        heads, output_heads = kwargs.pop("heads"), kwargs.pop("output_heads")
        attn = kwargs.pop("attn_dropout")
        if len(self.convs) == self.num_layers - 1:
            return GATConv(
                in_channels, out_channels, heads=output_heads, concat=False, dropout=attn, **kwargs
            )
        return GATConv(in_channels, out_channels // heads, heads=heads, dropout=attn, **kwargs)

    def _extra_repr_args(self) -> str:
        return (
            f", heads={self.heads}, output_heads={self.output_heads}, "
            f"attn_dropout={self.attn_dropout}"
        )


class APPNPNet(nn.Module):
    r"""APPNP, "predict then propagate": an :class:`~leading.graph.mlp.MLPHead` computes logits
    from the node features alone, then :obj:`K` steps of personalized-PageRank propagation
    (:class:`~torch_geometric.nn.APPNP`, teleport probability :obj:`alpha`) smooth them over
    the graph.

    Args:
        in_channels (int): Input width :obj:`d`.
        hidden_channels (int): Width of the hidden MLP layers.
        out_channels (int): Output width (number of classes).
        num_layers (int): Number of linear layers of the MLP. (default: :obj:`2`)
        dropout (float): Dropout after every hidden MLP activation. (default: :obj:`0.5`)
        input_dropout (float, optional): Dropout on the input features; :obj:`None` uses
            :obj:`dropout`. (default: :obj:`None`)
        K (int): Propagation steps. (default: :obj:`10`)
        alpha (float): Teleport (restart) probability. (default: :obj:`0.1`)
        cached (bool): Cache the normalized adjacency (fixed graph only). (default: :obj:`False`)

    Shapes:
        - **input:** node features :math:`(N, d)`, edge indices :math:`(2, E)`
        - **output:** logits :math:`(N, C)`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        input_dropout: float | None = None,
        K: int = 10,
        alpha: float = 0.1,
        cached: bool = False,
    ) -> None:
        super().__init__()
        check_sizes(in_channels, hidden_channels, out_channels, num_layers, dropout, input_dropout)
        if K < 0 or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"need K >= 0 and alpha in [0, 1], got K={K}, alpha={alpha}")
        self.K = int(K)
        self.alpha = float(alpha)
        input_dropout = float(dropout if input_dropout is None else input_dropout)
        self.mlp = MLPHead(
            in_channels, hidden_channels, out_channels, num_layers, dropout, input_dropout
        )
        self.prop = APPNP(K=self.K, alpha=self.alpha, cached=cached)

    def reset_parameters(self) -> None:
        r"""Re-initializes all learnable parameters (and clears cached normalizations)."""
        self.mlp.reset_parameters()
        self.prop.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.prop(self.mlp(x), edge_index)

    def __repr__(self) -> str:
        m = self.mlp
        return model_repr(
            self,
            m.in_channels,
            m.out_channels,
            m.hidden_channels,
            m.num_layers,
            m.dropout,
            m.input_dropout,
            f", K={self.K}, alpha={self.alpha}",
        )


_REGISTRY: dict[str, type[nn.Module]] = {
    "gcn": GCN,
    "gat": GAT,
    "sage": GraphSAGE,
    "appnp": APPNPNet,
    "mlp": MLP,
}
GNNS: tuple[str, ...] = tuple(_REGISTRY)
"""Names :func:`build_gnn` accepts (besides the alias ``"graphsage"`` for ``"sage"``)."""


def build_gnn(
    name: str,
    in_channels: int,
    hidden_channels: int,
    out_channels: int,
    num_layers: int = 2,
    dropout: float = 0.5,
    **kwargs: Any,
) -> nn.Module:
    r"""Builds a downstream model by name.

    Args:
        name (str): One of :data:`GNNS`: ``"gcn"``, ``"gat"``, ``"sage"``, ``"appnp"``,
            ``"mlp"`` (case-insensitive; ``"graphsage"`` is accepted for ``"sage"``).
        in_channels (int): Input width :obj:`d`.
        hidden_channels (int): Hidden width (for :class:`GAT`, the total over all heads).
        out_channels (int): Output width (number of classes).
        num_layers (int): Number of layers. (default: :obj:`2`)
        dropout (float): Dropout probability. (default: :obj:`0.5`)
        **kwargs: Model-specific options, e.g. :obj:`heads` for :class:`GAT`, :obj:`K` and
            :obj:`alpha` for :class:`APPNPNet`, :obj:`cached` for :class:`GCN`.

    Raises:
        ValueError: If :obj:`name` is unknown.
    """
    key = str(name).strip().lower()
    if key == "graphsage":
        key = "sage"
    if key not in _REGISTRY:
        raise ValueError(f"unknown GNN {name!r}; valid names are {', '.join(GNNS)}")
    return _REGISTRY[key](
        in_channels, hidden_channels, out_channels, num_layers=num_layers, dropout=dropout, **kwargs
    )
