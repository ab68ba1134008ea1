r"""Whole-graph inference of a message-passing GNN in bounded memory, layer by layer.

A GNN's forward over every node of a large graph materialises one message per edge and layer,
an :math:`E \times` hidden tensor (10M edges x 256 x 4 bytes = 10 GB). :func:`layerwise`
computes the same outputs one layer at a time: layer :math:`i` runs over chunks of destination
nodes, each with all of its incoming edges (the exact neighbourhood, nothing sampled) and the
previous layer's outputs of every node, so at most a chunk's edges carry messages at once,

.. math::
    \mathbf{X}^{(i+1)}_{\mathcal{B}} = \sigma\big(\mathrm{conv}_i(\mathbf{X}^{(i)},
    \{(j, k) \in \mathcal{E} : k \in \mathcal{B}\})\big) \quad \text{for each chunk }
    \mathcal{B}.

Memory is :math:`O(N \cdot \text{hidden} + |\mathcal{E}_\mathcal{B}| \cdot \text{hidden})`.
PyG's own ``BasicGNN.inference`` does the same with a ``NeighborLoader``, which needs
``pyg-lib`` or ``torch-sparse``; this needs neither. Supported layers: ``SAGEConv`` (its
bipartite form) and ``GCNConv`` (its symmetric normalisation computed once over the whole graph
with :func:`torch_geometric.nn.conv.gcn_conv.gcn_norm`, then applied per chunk).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

__all__ = ["layerwise"]


@torch.no_grad()
def layerwise(gnn: nn.Module, x: Tensor, edge_index: Tensor, chunk: int = 65_536) -> Tensor:
    r"""The outputs of :obj:`gnn` (a PyG ``BasicGNN`` of ``GCNConv`` or ``SAGEConv`` layers,
    e.g. :class:`~leading.graph.gnn.GCN` or :class:`~leading.graph.gnn.GraphSAGE`, in eval
    mode) over every node, computed layer by layer on chunks of :obj:`chunk` destination nodes.

    Args:
        gnn (nn.Module): The model; its dropout is not applied (inference).
        x (Tensor): Node features :obj:`[N, d]`.
        edge_index (Tensor): Edges :obj:`[2, E]` (source, destination).
        chunk (int): Destination nodes per chunk.

    Returns:
        Tensor: :obj:`[N, out_channels]`, equal to ``gnn(x, edge_index)`` in eval mode up to
        the order of floating-point sums.
    """
    if getattr(gnn, "jk_mode", None) is not None:
        raise ValueError("layerwise: jumping knowledge is not supported")
    n = x.size(0)
    plain: _Chunked | None = None
    normalized: _Chunked | None = None
    for i, (conv, layer_norm) in enumerate(zip(gnn.convs, gnn.norms, strict=True)):
        if isinstance(conv, GCNConv) and conv.normalize:
            if normalized is None:  # the whole graph's normalisation, self-loops included
                ei, w = gcn_norm(edge_index, None, n, conv.improved, conv.add_self_loops,
                                 conv.flow, x.dtype)
                normalized = _Chunked(ei, w, n, chunk)
            h = conv.lin(x)
            out = torch.cat([
                conv.propagate(e, x=(h, h[a:b]), edge_weight=w, size=(n, b - a))
                for a, b, e, w in normalized])
            if conv.bias is not None:
                out = out + conv.bias
        elif isinstance(conv, SAGEConv):
            if plain is None:
                plain = _Chunked(edge_index, None, n, chunk)
            out = torch.cat([conv((x, x[a:b]), e) for a, b, e, _ in plain])
        else:
            raise TypeError(f"layerwise: {type(conv).__name__} layers are not supported "
                            "(GCNConv with normalisation and SAGEConv are)")
        if i < gnn.num_layers - 1:  # as BasicGNN.forward between layers (dropout off)
            if gnn.act is not None and gnn.act_first:
                out = gnn.act(out)
            out = layer_norm(out)
            if gnn.act is not None and not gnn.act_first:
                out = gnn.act(out)
        x = out
    return x


class _Chunked:
    r"""The edges of a graph grouped by chunks of destination nodes: iterating gives, for each
    chunk :obj:`[a, b)`, its incoming edges with destinations renumbered from 0 (and their
    weights, if any)."""

    def __init__(self, edge_index: Tensor, weight: Tensor | None, n: int, chunk: int) -> None:
        order = edge_index[1].argsort(stable=True)
        self.src, self.dst = edge_index[0, order], edge_index[1, order]
        self.weight = None if weight is None else weight[order]
        bounds = torch.arange(0, n + chunk, chunk, device=self.dst.device).clamp(max=n)
        self.bounds = bounds.unique_consecutive().tolist()
        self.ptr = torch.searchsorted(self.dst, bounds.unique_consecutive()).tolist()

    def __iter__(self):
        for k in range(len(self.bounds) - 1):
            a, b = self.bounds[k], self.bounds[k + 1]
            lo, hi = self.ptr[k], self.ptr[k + 1]
            e = torch.stack([self.src[lo:hi], self.dst[lo:hi] - a])
            yield a, b, e, None if self.weight is None else self.weight[lo:hi]
