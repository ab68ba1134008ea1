r"""Negative sampling for link prediction: node pairs that are *not* edges.

Two kinds of negatives are drawn, both seeded by an explicit :class:`torch.Generator` (the global
RNG is never touched):

* :func:`sample_negative_pairs`: random node pairs :math:`(a, b)`, :math:`a \ne b`, uniform over
  the non-edges (as :func:`torch_geometric.utils.negative_sampling`). Used for AUC, which compares
  positive edges with an equal number of negative pairs, and by the downstream link predictor.
* :func:`sample_negative_targets`: for every source :math:`u` of a positive edge :math:`(u, v)`,
  :math:`K` destinations :math:`w` with :math:`(u, w)` not an edge ("corrupted destinations", the
  form of OGB's ``target_node_neg``). Used for the ranking metrics (MRR, Hits@K), where each
  positive is ranked against its own :math:`K` negatives, and by the LEADING link trainer, where a
  negative adds one node (not two) that the language model must encode with gradient.

Which pairs count as edges is given by an :class:`EdgeSet`: the whole graph for the fixed
evaluation negatives of a split, the training edges only for the negatives drawn during training
(the held-out edges are unknown to training).
"""

from __future__ import annotations

import torch
from torch import Tensor

from leading.errors import DataError

__all__ = ["EdgeSet", "sample_negative_pairs", "sample_negative_targets"]

_MAX_ROUNDS = 100  # rejection-sampling rounds before giving up (each keeps most candidates)


class EdgeSet:
    r"""A set of *undirected* node pairs with vectorized membership tests.

    Each pair :math:`\{u, v\}` is stored once as the key :math:`\min(u,v) \cdot N + \max(u,v)` in
    a sorted tensor; :meth:`contains` is a binary search (:func:`torch.searchsorted`), so a
    membership test of :math:`m` pairs costs :math:`O(m \log E)`. Self-loops are ignored.

    Args:
        edge_index (Tensor): Edges :obj:`[2, E]` (either or both directions), ids in
            :obj:`[0, N)`.
        num_nodes (int): Number of nodes :math:`N`.
        source (str): What the edges are, named in error messages.

    Attributes:
        keys (Tensor): Sorted, distinct pair keys :obj:`[E']`.
        degree (Tensor): Number of distinct neighbors of every node, :obj:`[N]`.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, source: str = "edge_index") -> None:
        edge_index = torch.as_tensor(edge_index)
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise DataError(
                f"{source}: expected edges of shape [2, E], got {tuple(edge_index.shape)}"
            )
        if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
            raise DataError(f"{source}: edges must hold integer node ids, got {edge_index.dtype}")
        self.num_nodes = int(num_nodes)
        edge_index = edge_index.long().cpu()
        if edge_index.numel():
            bad = ((edge_index < 0) | (edge_index >= self.num_nodes)).any(0)
            if bool(bad.any()):
                e = int(bad.nonzero()[0])
                u, v = edge_index[:, e].tolist()
                raise DataError(
                    f"{source}: edge #{e} ({u}, {v}) refers to a node id outside "
                    f"[0, {self.num_nodes})"
                )
        u, v = edge_index
        keep = u != v
        self.keys = torch.unique(self.key(u[keep], v[keep]))
        lo, hi = self.keys // max(self.num_nodes, 1), self.keys % max(self.num_nodes, 1)
        self.degree = torch.bincount(torch.cat([lo, hi]), minlength=self.num_nodes)

    def key(self, u: Tensor, v: Tensor) -> Tensor:
        r"""The key :math:`\min(u,v) \cdot N + \max(u,v)` of each pair (any matching shapes)."""
        return torch.minimum(u, v) * self.num_nodes + torch.maximum(u, v)

    def contains(self, u: Tensor, v: Tensor) -> Tensor:
        r"""Whether each pair :math:`\{u_i, v_i\}` is in the set (a bool tensor of their shape)."""
        k = self.key(u.long().cpu(), v.long().cpu())
        if self.keys.numel() == 0:
            return torch.zeros_like(k, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, k).clamp_max(self.keys.numel() - 1)
        return self.keys[pos] == k

    @property
    def num_non_edges(self) -> int:
        r"""Unordered pairs of distinct nodes that are not in the set."""
        n = self.num_nodes
        return n * (n - 1) // 2 - self.keys.numel()

    def __len__(self) -> int:
        return self.keys.numel()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_nodes={self.num_nodes}, num_pairs={len(self)})"


def sample_negative_pairs(
    num: int,
    edges: EdgeSet,
    generator: torch.Generator,
    unique: bool = True,
) -> Tensor:
    r"""Draws :obj:`num` node pairs :math:`(a, b)`, :math:`a \ne b`, that are not in
    :obj:`edges`, uniformly at random (rejection sampling).

    Args:
        num (int): Number of pairs.
        edges (EdgeSet): The pairs to avoid (e.g. every edge of the graph).
        generator (torch.Generator): Source of randomness.
        unique (bool): No two returned pairs are the same unordered pair. (default: :obj:`True`)

    Returns:
        Tensor: :obj:`[2, num]` long tensor.

    Raises:
        DataError: If the graph has fewer than :obj:`num` non-edges (with :obj:`unique`), or none.
    """
    num = int(num)
    n = edges.num_nodes
    if num == 0:
        return torch.empty(2, 0, dtype=torch.long)
    available = edges.num_non_edges
    if available <= 0 or (unique and available < num):
        raise DataError(
            f"cannot sample {num} negative node pairs: the graph ({n} nodes, {len(edges)} "
            f"undirected edges) has only {max(available, 0)} pairs of distinct nodes that are not "
            "edges"
        )
    chosen = torch.empty(0, dtype=torch.long)  # keys, in the order drawn
    pairs = torch.empty(2, 0, dtype=torch.long)
    for _ in range(_MAX_ROUNDS):
        need = num - pairs.size(1)
        if need <= 0:
            break
        m = 2 * need + 16
        a = torch.randint(0, n, (m,), generator=generator)
        b = torch.randint(0, n, (m,), generator=generator)
        ok = (a != b) & ~edges.contains(a, b)
        a, b = a[ok], b[ok]
        if unique:
            keys = edges.key(a, b)
            # keys not drawn before, each once (chosen keys occupy the first positions)
            first = _first_occurrence(torch.cat([chosen, keys]))
            first = first[first >= chosen.numel()] - chosen.numel()
            a, b, keys = a[first], b[first], keys[first]
            a, b, keys = a[:need], b[:need], keys[:need]
            chosen = torch.cat([chosen, keys])
        pairs = torch.cat([pairs, torch.stack([a, b])[:, :need]], dim=1)
    if pairs.size(1) < num:  # pragma: no cover - only for graphs with almost no non-edges
        raise DataError(
            f"could not sample {num} distinct negative pairs in {_MAX_ROUNDS} rounds "
            f"({n} nodes, {len(edges)} edges); the graph is too dense"
        )
    return pairs


def sample_negative_targets(
    sources: Tensor,
    num_per_source: int,
    edges: EdgeSet,
    generator: torch.Generator,
) -> Tensor:
    r"""For each source :math:`u`, draws :obj:`num_per_source` destinations :math:`w \ne u`
    with :math:`\{u, w\}` not in :obj:`edges`, uniformly with replacement (a row may repeat a
    node).

    Args:
        sources (Tensor): Source node ids :obj:`[m]`.
        num_per_source (int): Destinations per source :math:`K`.
        edges (EdgeSet): The pairs to avoid.
        generator (torch.Generator): Source of randomness.

    Returns:
        Tensor: :obj:`[m, K]` long tensor of destination node ids.

    Raises:
        DataError: If a source is adjacent to every other node (it has no negative).
    """
    sources = torch.as_tensor(sources).long().reshape(-1).cpu()
    n, k = edges.num_nodes, int(num_per_source)
    if sources.numel() == 0 or k == 0:
        return torch.empty(sources.numel(), k, dtype=torch.long)
    full = edges.degree[sources] >= n - 1
    if bool(full.any()):
        u = int(sources[full][0])
        raise DataError(
            f"node {u} is adjacent to all {n - 1} other nodes, so it has no negative destination"
        )
    src = sources.unsqueeze(1).expand(-1, k)
    dst = torch.randint(0, n, (sources.numel(), k), generator=generator)
    bad = (dst == src) | edges.contains(src, dst)
    for _ in range(_MAX_ROUNDS):
        count = int(bad.sum())
        if count == 0:
            return dst
        dst[bad] = torch.randint(0, n, (count,), generator=generator)
        bad = (dst == src) | edges.contains(src, dst)
    # each retry succeeds with probability >= 1/n per entry: only reachable for huge degrees
    u = int(src[bad][0])  # pragma: no cover
    raise DataError(  # pragma: no cover
        f"could not sample negative destinations of node {u} in {_MAX_ROUNDS} rounds "
        f"(degree {int(edges.degree[u])} of {n - 1})"
    )


def _first_occurrence(keys: Tensor) -> Tensor:
    r"""Positions of the first occurrence of every distinct value of :obj:`keys`, in order."""
    if keys.numel() == 0:
        return keys.new_empty(0)
    _, inverse = torch.unique(keys, return_inverse=True)
    pos = torch.arange(keys.numel())
    first = torch.full((int(inverse.max()) + 1,), keys.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, pos, reduce="amin")
    return first.sort().values
