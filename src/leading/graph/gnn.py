r"""Downstream graph neural networks built from PyTorch Geometric layers.

Every model maps node features :obj:`[N, in_channels]` and an edge list :obj:`[2, E]` to
per-node logits :obj:`[N, out_channels]`, has :meth:`reset_parameters`, and is built by name
with :func:`build_gnn`:

* :class:`GCN` (Kipf & Welling, 2017), :class:`GAT` (Velickovic et al., 2018),
  :class:`GraphSAGE` (Hamilton et al., 2017, mean aggregation),
* :class:`APPNPNet` (Klicpera et al., 2019): an MLP, then personalized-PageRank propagation,
* :class:`MLP`: the graph-less baseline (it ignores :obj:`edge_index`).

:class:`MLPHead` is the plain feed-forward head (:obj:`forward(x)` only) that :class:`MLP` and
:class:`APPNPNet` are made of and that the end-to-end trainer puts before implicit propagation.

All models work with a plain :obj:`edge_index`; neither :obj:`pyg-lib` nor :obj:`torch-sparse`
is needed.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import APPNP, GATConv, GCNConv, SAGEConv

__all__ = ["MLPHead", "MLP", "GCN", "GAT", "GraphSAGE", "APPNPNet", "build_gnn", "GNN_NAMES"]


def _check_sizes(
    in_channels: int, hidden_channels: int, out_channels: int, num_layers: int, dropout: float
) -> None:
    for name, v in (
        ("in_channels", in_channels),
        ("hidden_channels", hidden_channels),
        ("out_channels", out_channels),
        ("num_layers", num_layers),
    ):
        if int(v) < 1:
            raise ValueError(f"{name} must be a positive integer, got {v}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")


def _channels(
    in_channels: int, hidden_channels: int, out_channels: int, num_layers: int
) -> list[tuple[int, int]]:
    r"""(input, output) widths of each of :obj:`num_layers` layers."""
    dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
    return list(zip(dims[:-1], dims[1:], strict=True))


class _Base(nn.Module):
    r"""Shared bookkeeping: sizes, input dropout and a readable :obj:`__repr__`."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int,
        dropout: float,
        input_dropout: float | None,
    ) -> None:
        super().__init__()
        _check_sizes(in_channels, hidden_channels, out_channels, num_layers, dropout)
        self.in_channels = int(in_channels)
        self.hidden_channels = int(hidden_channels)
        self.out_channels = int(out_channels)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.input_dropout = float(dropout if input_dropout is None else input_dropout)
        if not 0.0 <= self.input_dropout < 1.0:
            raise ValueError(f"input_dropout must lie in [0, 1), got {self.input_dropout}")

    def _extra_repr_args(self) -> str:
        return ""

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, "
            f"dropout={self.dropout}"
            + (
                f", input_dropout={self.input_dropout}"
                if self.input_dropout != self.dropout
                else ""
            )
            + f"{self._extra_repr_args()})"
        )


class MLPHead(_Base):
    r"""A feed-forward classifier head: :obj:`num_layers` linear layers with ReLU and dropout in
    between, returning logits (Linear-ReLU-Dropout-...-Linear).

    Args:
        in_channels (int): Input width :obj:`d`.
        hidden_channels (int): Width of the hidden layers.
        out_channels (int): Output width (number of classes).
        num_layers (int): Number of linear layers (:obj:`1` is a linear classifier).
            (default: :obj:`2`)
        dropout (float): Dropout probability after every hidden activation. (default: :obj:`0.5`)
        input_dropout (float, optional): Dropout on the input features; :obj:`None` uses
            :obj:`dropout`. (default: :obj:`0.0`)

    Shapes:
        - **input:** node features :math:`(*, d)`
        - **output:** logits :math:`(*, C)`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        input_dropout: float | None = 0.0,
    ) -> None:
        super().__init__(
            in_channels, hidden_channels, out_channels, num_layers, dropout, input_dropout
        )
        self.lins = nn.ModuleList(
            nn.Linear(i, o)
            for i, o in _channels(in_channels, hidden_channels, out_channels, num_layers)
        )

    def reset_parameters(self) -> None:
        r"""Re-initializes all learnable parameters."""
        for lin in self.lins:
            lin.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        x = F.dropout(x, p=self.input_dropout, training=self.training)
        for i, lin in enumerate(self.lins):
            x = lin(x)
            if i < len(self.lins) - 1:
                x = F.dropout(x.relu(), p=self.dropout, training=self.training)
        return x


class MLP(MLPHead):
    r"""The graph-less baseline: an :class:`MLPHead` with the GNN call signature; it ignores
    :obj:`edge_index`. Arguments as in :class:`MLPHead`, except that :obj:`input_dropout`
    defaults to :obj:`None` (same as :obj:`dropout`) like the other downstream models.

    Shapes:
        - **input:** node features :math:`(N, d)`, edge indices :math:`(2, E)` (unused)
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
    ) -> None:
        super().__init__(
            in_channels, hidden_channels, out_channels, num_layers, dropout, input_dropout
        )

    def forward(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        return super().forward(x)


class _ConvStack(_Base):
    r"""Dropout-Conv-Activation stack shared by :class:`GCN`, :class:`GAT`, :class:`GraphSAGE`:
    dropout on the input of every layer (Kipf & Welling; Velickovic et al.)."""

    act = staticmethod(F.relu)

    def reset_parameters(self) -> None:
        r"""Re-initializes all learnable parameters (and clears cached normalizations)."""
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = F.dropout(x, p=self.input_dropout, training=self.training)
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = F.dropout(x, p=self.dropout, training=self.training)
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = self.act(x)
        return x


class GCN(_ConvStack):
    r"""Graph convolutional network: :obj:`num_layers` :class:`~torch_geometric.nn.GCNConv`
    layers (symmetric normalization with self-loops), ReLU in between.

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
        super().__init__(
            in_channels, hidden_channels, out_channels, num_layers, dropout, input_dropout
        )
        self.cached = bool(cached)
        self.convs = nn.ModuleList(
            GCNConv(i, o, cached=cached)
            for i, o in _channels(in_channels, hidden_channels, out_channels, num_layers)
        )


class GraphSAGE(_ConvStack):
    r"""GraphSAGE with mean aggregation: :obj:`num_layers`
    :class:`~torch_geometric.nn.SAGEConv` layers (root weight included), ReLU in between.
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
        super().__init__(
            in_channels, hidden_channels, out_channels, num_layers, dropout, input_dropout
        )
        self.aggr = aggr
        self.convs = nn.ModuleList(
            SAGEConv(i, o, aggr=aggr)
            for i, o in _channels(in_channels, hidden_channels, out_channels, num_layers)
        )

    def _extra_repr_args(self) -> str:
        return f", aggr={self.aggr!r}"


class GAT(_ConvStack):
    r"""Graph attention network: :obj:`num_layers` :class:`~torch_geometric.nn.GATConv` layers
    with ELU in between; hidden layers concatenate :obj:`heads` attention heads, the output
    layer averages :obj:`output_heads` heads.

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

    act = staticmethod(F.elu)

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
        super().__init__(
            in_channels, hidden_channels, out_channels, num_layers, dropout, input_dropout
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
        self.heads = int(heads)
        self.output_heads = int(output_heads)
        self.attn_dropout = float(dropout if attn_dropout is None else attn_dropout)
        convs = []
        for i, (c_in, c_out) in enumerate(
            _channels(in_channels, hidden_channels, out_channels, num_layers)
        ):
            if i < num_layers - 1:
                conv = GATConv(c_in, c_out // heads, heads=heads, dropout=self.attn_dropout)
            else:
                conv = GATConv(
                    c_in, c_out, heads=output_heads, concat=False, dropout=self.attn_dropout
                )
            convs.append(conv)
        self.convs = nn.ModuleList(convs)

    def _extra_repr_args(self) -> str:
        return (
            f", heads={self.heads}, output_heads={self.output_heads}, "
            f"attn_dropout={self.attn_dropout}"
        )


class APPNPNet(_Base):
    r"""APPNP, "predict then propagate": an :class:`MLPHead` computes logits from the node
    features alone, then :obj:`K` steps of personalized-PageRank propagation
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
        super().__init__(
            in_channels, hidden_channels, out_channels, num_layers, dropout, input_dropout
        )
        if K < 0 or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"need K >= 0 and alpha in [0, 1], got K={K}, alpha={alpha}")
        self.K = int(K)
        self.alpha = float(alpha)
        self.mlp = MLPHead(
            in_channels, hidden_channels, out_channels, num_layers, dropout, self.input_dropout
        )
        self.prop = APPNP(K=self.K, alpha=self.alpha, cached=cached)

    def reset_parameters(self) -> None:
        r"""Re-initializes all learnable parameters (and clears cached normalizations)."""
        self.mlp.reset_parameters()
        self.prop.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.prop(self.mlp(x), edge_index)

    def _extra_repr_args(self) -> str:
        return f", K={self.K}, alpha={self.alpha}"


_REGISTRY: dict[str, type[nn.Module]] = {
    "gcn": GCN,
    "gat": GAT,
    "sage": GraphSAGE,
    "appnp": APPNPNet,
    "mlp": MLP,
}
GNN_NAMES: tuple[str, ...] = tuple(_REGISTRY)


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
        name (str): One of ``"gcn"``, ``"gat"``, ``"sage"``, ``"appnp"``, ``"mlp"``
            (case-insensitive; ``"graphsage"`` is accepted for ``"sage"``).
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
        raise ValueError(f"unknown GNN {name!r}; valid names are {', '.join(GNN_NAMES)}")
    return _REGISTRY[key](
        in_channels, hidden_channels, out_channels, num_layers=num_layers, dropout=dropout, **kwargs
    )
