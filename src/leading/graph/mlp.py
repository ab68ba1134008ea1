r"""Feed-forward models: :class:`MLPHead` (:obj:`forward(x)`), the head that the end-to-end
trainer puts before implicit propagation and that :class:`~leading.graph.gnn.APPNPNet` and the
link decoders are made of, and :class:`MLP`, the graph-less baseline with the GNN call signature.

Also the size checks and the :obj:`__repr__` shared by the models of :mod:`leading.graph.gnn`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MLPHead", "MLP", "check_sizes", "model_repr"]


def check_sizes(
    in_channels: int,
    hidden_channels: int,
    out_channels: int,
    num_layers: int,
    dropout: float,
    input_dropout: float | None = None,
) -> None:
    r"""Raises :class:`ValueError` unless the widths and :obj:`num_layers` are positive and the
    dropout probabilities lie in :obj:`[0, 1)`."""
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
    if input_dropout is not None and not 0.0 <= input_dropout < 1.0:
        raise ValueError(f"input_dropout must lie in [0, 1), got {input_dropout}")


def model_repr(
    model: nn.Module,
    in_channels: int,
    out_channels: int,
    hidden_channels: int,
    num_layers: int,
    dropout: float,
    input_dropout: float,
    extra: str = "",
) -> str:
    r"""``Name(in, out, hidden_channels=.., num_layers=.., dropout=..[, input_dropout=..]...)``
    (:obj:`input_dropout` only where it differs from :obj:`dropout`)."""
    return (
        f"{model.__class__.__name__}({in_channels}, {out_channels}, "
        f"hidden_channels={hidden_channels}, num_layers={num_layers}, dropout={dropout}"
        + (f", input_dropout={input_dropout}" if input_dropout != dropout else "")
        + f"{extra})"
    )


class MLPHead(nn.Module):
    r"""A feed-forward classifier head: :obj:`num_layers` linear layers with ReLU and dropout in
    between, returning logits (Linear-ReLU-Dropout-...-Linear).

    Not :class:`torch_geometric.nn.models.MLP`: that one initializes every layer twice (once
    when it is built, once more by the :meth:`reset_parameters` that ends its constructor), so
    under the same seed its parameters differ and it leaves the random generator in another
    state; it also has no input dropout (``tests/graph/test_mlp.py`` shows the difference).

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
        super().__init__()
        check_sizes(in_channels, hidden_channels, out_channels, num_layers, dropout, input_dropout)
        self.in_channels = int(in_channels)
        self.hidden_channels = int(hidden_channels)
        self.out_channels = int(out_channels)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.input_dropout = float(dropout if input_dropout is None else input_dropout)
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.lins = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:], strict=True))

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

    def __repr__(self) -> str:
        return model_repr(
            self,
            self.in_channels,
            self.out_channels,
            self.hidden_channels,
            self.num_layers,
            self.dropout,
            self.input_dropout,
        )


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
