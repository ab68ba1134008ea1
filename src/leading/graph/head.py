r"""The end-to-end graph head that sits on the LM embeddings during fine-tuning.

By default (``kind="implicit"``) it is the paper's model: an MLP on each node's LM embedding,
then implicit APPNP propagation (eqs. 4-7) warm-started from per-node histories,

.. math::
    \mathbf{X}_{\text{in}} = \mathrm{MLP}(\mathbf{H}), \qquad
    \mathbf{X}_{l+1} = (1-\alpha)\hat{\mathbf{A}}\mathbf{X}_l + \alpha\mathbf{X}_{\text{in}}.

``"appnp"`` unrolls the same propagation explicitly with autograd (the ablation's APPNP(L)),
``"gcn"`` / ``"sage"`` are two-layer message-passing heads on the sampled subgraph, and ``"mlp"``
is the MLP alone, which ignores the graph (the supervised fine-tuning baseline).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from leading.data.store import ReplicatedTensorStore
from leading.graph.appnp import APPNPPropagation
from leading.graph.gnn import build_gnn
from leading.graph.history import PropagationHistory
from leading.graph.implicit import ImplicitPropagation
from leading.graph.mlp import MLPHead

__all__ = ["EndToEndHead", "HEAD_KINDS", "build_head"]

HEAD_KINDS: tuple[str, ...] = ("implicit", "appnp", "gcn", "sage", "mlp")


class EndToEndHead(nn.Module):
    r"""Maps LM embeddings of a (sub)graph to class logits.

    Args:
        kind (str): ``"implicit"``, ``"appnp"``, ``"gcn"``, ``"sage"`` or ``"mlp"`` (no graph:
            :obj:`edge_index` and :obj:`node_ids` are ignored).
        num_nodes (int): Nodes in the whole graph (sizes the propagation histories).
        in_channels (int): LM embedding size :obj:`d`.
        hidden_channels (int): Hidden width.
        num_classes (int): Number of classes :obj:`C`.
        dropout (float): Dropout of the MLP / GNN.
        alpha (float): Teleport probability :math:`\alpha` of APPNP propagation.
        num_steps (int): Propagation steps :math:`L` per training iteration. (default:
            :obj:`10`, as :class:`~leading.config.Config`'s ``prop_steps``)
        **prop_kwargs: Further :class:`~leading.graph.implicit.ImplicitPropagation` options.

    Shapes:
        - **input:** :obj:`h` :math:`(n, d)`, local :obj:`edge_index` :math:`(2, E)`, global
          :obj:`node_ids` :math:`(n)`
        - **output:** logits :math:`(n, C)`
    """

    def __init__(
        self,
        kind: str,
        num_nodes: int,
        in_channels: int,
        hidden_channels: int,
        num_classes: int,
        dropout: float = 0.5,
        alpha: float = 0.1,
        num_steps: int = 10,
        **prop_kwargs,
    ) -> None:
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ValueError(f"unknown head {kind!r}; expected one of {HEAD_KINDS}")
        self.kind = kind
        self.mlp: nn.Module | None = None
        self.prop: nn.Module | None = None
        self.gnn: nn.Module | None = None
        if kind in ("implicit", "appnp", "mlp"):
            self.mlp = MLPHead(in_channels, hidden_channels, num_classes, 2, dropout)
            if kind == "implicit":
                self.prop = ImplicitPropagation(
                    alpha=alpha, num_steps=num_steps, num_nodes=num_nodes, **prop_kwargs
                )
            elif kind == "appnp":
                self.prop = APPNPPropagation(alpha=alpha, num_steps=num_steps)
        else:
            self.gnn = build_gnn(kind, in_channels, hidden_channels, num_classes, dropout=dropout)

    def reset_parameters(self) -> None:
        for m in (self.mlp, self.prop, self.gnn):
            if m is not None:
                m.reset_parameters()

    def replicate_history(self) -> None:
        r"""Keeps the implicit propagation's per-node history identical on every rank of a
        process group (:class:`~leading.data.store.ReplicatedTensorStore`); other heads have
        no per-node state."""
        if isinstance(self.prop, ImplicitPropagation):
            n = self.prop.history.num_nodes
            self.prop.history = PropagationHistory(num_nodes=n, store=ReplicatedTensorStore)

    def forward(self, h: Tensor, edge_index: Tensor, node_ids: Tensor) -> Tensor:
        if self.gnn is not None:
            return self.gnn(h, edge_index)
        return self.propagate(self.mlp(h), edge_index, node_ids)

    def propagate(self, x_in: Tensor, edge_index: Tensor, node_ids: Tensor) -> Tensor:
        r"""The propagation stage alone, on the MLP's outputs :obj:`x_in` :math:`(n, C)` (the
        identity for ``"mlp"``); :meth:`forward` is ``propagate(mlp(h), ...)``, and a caller can
        run the MLP over chunks of a large graph first."""
        if self.prop is None:  # "mlp": each node's logits from its own embedding only
            return x_in
        if isinstance(self.prop, ImplicitPropagation):
            return self.prop(x_in, edge_index, node_ids)
        return self.prop(x_in, edge_index)

    def __repr__(self) -> str:
        if self.gnn is not None:
            inner = str(self.gnn)
        else:
            inner = str(self.mlp) if self.prop is None else f"{self.mlp}, {self.prop}"
        return f"{self.__class__.__name__}(kind={self.kind!r}, {inner})"


def build_head(cfg: Any, num_nodes: int, in_channels: int, out_channels: int) -> EndToEndHead:
    r"""The graph head that a :class:`~leading.config.Config` describes (``head``, ``hidden``,
    ``dropout`` and the propagation group)."""
    prop = {}
    if cfg.head == "implicit":
        prop = dict(
            forward_warm_start=cfg.forward_warm_start,
            backward_init=cfg.backward_init,
            damping=cfg.damping,
            eval_steps=cfg.eval_steps,
            cached=cfg.scope == "full",
        )
    return EndToEndHead(
        cfg.head, num_nodes, in_channels, cfg.hidden, out_channels, cfg.dropout, cfg.alpha,
        cfg.prop_steps, **prop,
    )
