r"""A vectorized, seeded multi-hop neighbor sampler (GraphSAGE style) in plain PyTorch.

PyG's :class:`~torch_geometric.loader.NeighborLoader` needs :obj:`pyg-lib` or
:obj:`torch-sparse`; this module needs neither. All work per hop is done with whole-tensor
operations (:meth:`torch.repeat_interleave`, :meth:`torch.sort`, :meth:`torch.scatter_reduce`),
so there is no Python loop over nodes.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from leading.errors import DataError

__all__ = ["CSRGraph", "NeighborSampler", "SampledSubgraph", "batches"]

_UNSEEN = 2**62  # marks "not in the current subgraph" in the sampler's global->local map


class CSRGraph:
    r"""Compressed sparse row adjacency of a graph, keyed by the node that receives messages.

    Row :obj:`i` lists the *sources* :obj:`j` of the edges :obj:`j -> i` in :obj:`edge_index`
    (PyG's :obj:`"source_to_target"` flow), sorted ascending. For the symmetric edge lists of
    :class:`~leading.data.graph.TextAttributedGraph` these are simply the neighbors of :obj:`i`.

    Args:
        edge_index (Tensor): Edges :obj:`[2, E]` (row 0 = source, row 1 = destination),
            node ids in :obj:`[0, N)`.
        num_nodes (int): Number of nodes :math:`N`.

    Attributes:
        rowptr (Tensor): :obj:`[N + 1]` long tensor; the neighbors of :obj:`i` are
            :obj:`col[rowptr[i]:rowptr[i + 1]]`.
        col (Tensor): :obj:`[E]` long tensor of neighbor ids.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int) -> None:
        edge_index = torch.as_tensor(edge_index)
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise DataError(
                f"CSRGraph: expected edge_index of shape [2, E], got {tuple(edge_index.shape)}"
            )
        if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
            raise DataError(f"CSRGraph: edge_index must hold integer ids, got {edge_index.dtype}")
        num_nodes = int(num_nodes)
        if num_nodes < 0:
            raise DataError(f"CSRGraph: num_nodes must be >= 0, got {num_nodes}")
        edge_index = edge_index.long()
        if edge_index.numel():
            bad = ((edge_index < 0) | (edge_index >= num_nodes)).any(0)
            if bool(bad.any()):
                e = int(bad.nonzero()[0])
                u, v = edge_index[:, e].tolist()
                raise DataError(
                    f"CSRGraph: edge #{e} ({u}, {v}) refers to a node id outside [0, {num_nodes})"
                )
        src, dst = edge_index
        perm = torch.argsort(dst * max(num_nodes, 1) + src)
        self.num_nodes = num_nodes
        self.col = src[perm].contiguous()
        counts = torch.bincount(dst, minlength=num_nodes)
        self.rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)
        self.rowptr[1:] = torch.cumsum(counts, 0)
        self._degree = counts

    @property
    def num_edges(self) -> int:
        r"""Number of stored (directed) edges :obj:`E`."""
        return self.col.numel()

    @property
    def degree(self) -> Tensor:
        r"""Number of neighbors of every node, :obj:`[N]` long tensor."""
        return self._degree

    def neighbors(self, i: int) -> Tensor:
        r"""Neighbor ids of node :obj:`i`, sorted ascending (a view into :attr:`col`)."""
        i = int(i)
        if not 0 <= i < self.num_nodes:
            raise ValueError(f"CSRGraph: node id {i} outside [0, {self.num_nodes})")
        return self.col[int(self.rowptr[i]) : int(self.rowptr[i + 1])]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_nodes={self.num_nodes}, num_edges={self.num_edges})"


@dataclass
class SampledSubgraph:
    r"""The computation subgraph of one mini-batch of target nodes.

    Args:
        node_ids (Tensor): Global ids :obj:`[N_sub]`: the targets first (in the given order), then
            the nodes first reached at hop 1, hop 2, ... No id appears twice.
        edge_index (Tensor): Local edges :obj:`[2, E_sub]` indexing :obj:`node_ids`, with
            row 0 = the sampled neighbor (message source) and row 1 = the node that sampled it
            (message destination), as in PyG. Edges are grouped hop by hop.
        num_targets (int): Number of targets :obj:`B`; they are :obj:`node_ids[:B]`.
        num_sampled_nodes (list[int]): Nodes added per hop, :obj:`[B, n_1, n_2, ...]`
            (length :obj:`len(fanouts) + 1`).
        num_sampled_edges (list[int]): Edges sampled per hop (length :obj:`len(fanouts)`).
    """

    node_ids: Tensor
    edge_index: Tensor
    num_targets: int
    num_sampled_nodes: list[int] = field(default_factory=list)
    num_sampled_edges: list[int] = field(default_factory=list)

    @property
    def num_nodes(self) -> int:
        return self.node_ids.numel()

    @property
    def num_edges(self) -> int:
        return self.edge_index.size(1)

    @property
    def targets(self) -> Tensor:
        r"""Global ids of the targets, :obj:`[B]`."""
        return self.node_ids[: self.num_targets]

    def to(self, device: torch.device | str) -> SampledSubgraph:
        r"""Returns a copy with :obj:`node_ids` and :obj:`edge_index` on :obj:`device`."""
        return SampledSubgraph(
            self.node_ids.to(device),
            self.edge_index.to(device),
            self.num_targets,
            list(self.num_sampled_nodes),
            list(self.num_sampled_edges),
        )

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
            f"num_targets={self.num_targets}, num_sampled_nodes={self.num_sampled_nodes}, "
            f"num_sampled_edges={self.num_sampled_edges})"
        )


class NeighborSampler:
    r"""Samples multi-hop neighborhoods of target nodes, uniformly and without replacement.

    At hop :obj:`h` every node of the frontier (the targets for hop 1, afterwards the nodes first
    reached at the previous hop) samples :obj:`min(degree, fanouts[h])` distinct neighbors;
    :obj:`-1` takes all of them. Per hop, each frontier edge gets a distinct random key and a single
    sort by :obj:`(frontier node, key)` picks the first :obj:`k` per node, so the cost is
    :math:`O(D \log D)` with :math:`D` the summed frontier degree, with no Python loop over nodes.

    The sampler owns a :class:`torch.Generator`, so results depend only on :obj:`seed` and the
    sequence of calls, and the global RNG is never touched. It keeps a global-to-local map of
    size :obj:`N` between calls (reset after each one), so a single instance must not be used
    from several threads at once (forked data-loader workers each get their own copy).

    Args:
        graph_or_edge_index (CSRGraph or Tensor or graph): A :class:`CSRGraph`, an edge tensor
            :obj:`[2, E]` (then :obj:`num_nodes` is required), or any object with
            :obj:`edge_index` and :obj:`num_nodes` such as
            :class:`~leading.data.graph.TextAttributedGraph` or a PyG :class:`Data`.
        num_nodes (int, optional): Number of nodes :math:`N`; needed only with an edge tensor.
        fanouts (list[int]): Neighbors to sample per node at each hop, e.g. :obj:`[15, 10]`;
            :obj:`-1` means all neighbors, :obj:`[]` returns the targets alone.
        seed (int, optional): Seed of the sampler's generator; :obj:`None` seeds it
            non-deterministically.

    Example:
        >>> sampler = NeighborSampler(graph.edge_index, graph.num_nodes, fanouts=[15, 10], seed=0)
        >>> sub = sampler.sample(torch.tensor([3, 7, 42]))
        >>> x = encode([texts[i] for i in sub.node_ids.tolist()])  # [sub.num_nodes, F]
        >>> out = gnn(x, sub.edge_index)[: sub.num_targets]  # rows of the targets
    """

    def __init__(
        self,
        graph_or_edge_index: CSRGraph | Tensor | object,
        num_nodes: int | None = None,
        fanouts: Sequence[int] = (),
        seed: int | None = None,
    ) -> None:
        g = graph_or_edge_index
        if isinstance(g, CSRGraph):
            if num_nodes is not None and int(num_nodes) != g.num_nodes:
                raise ValueError(
                    f"NeighborSampler: num_nodes={num_nodes} does not match the graph's "
                    f"{g.num_nodes} nodes"
                )
        elif isinstance(g, Tensor):
            if num_nodes is None:
                raise ValueError("NeighborSampler: num_nodes is required with an edge_index tensor")
            g = CSRGraph(g, num_nodes)
        elif hasattr(g, "edge_index") and hasattr(g, "num_nodes"):
            g = CSRGraph(g.edge_index, g.num_nodes if num_nodes is None else num_nodes)
        else:
            raise TypeError(
                "NeighborSampler: expected a CSRGraph, an edge_index tensor or an object with "
                f"edge_index and num_nodes, got {type(g).__name__}"
            )
        self.graph: CSRGraph = g
        self.fanouts: list[int] = _check_fanouts(fanouts)
        self.seed = seed
        self.generator = torch.Generator(device=g.rowptr.device)
        self.manual_seed(seed)
        self._map = torch.full((g.num_nodes,), _UNSEEN, dtype=torch.long, device=g.rowptr.device)

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    def manual_seed(self, seed: int | None) -> NeighborSampler:
        r"""Re-seeds the sampler's generator (:obj:`None`: non-deterministically)."""
        self.seed = seed
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))
        return self

    # ---------------------------------------------------------------- sampling
    def sample(self, targets: Tensor | Sequence[int]) -> SampledSubgraph:
        r"""Samples the :obj:`len(fanouts)`-hop computation subgraph of :obj:`targets`.

        Args:
            targets (Tensor): Distinct global node ids :obj:`[B]`.

        Returns:
            SampledSubgraph: :obj:`node_ids` :obj:`[N_sub]` (targets first) and local
            :obj:`edge_index` :obj:`[2, E_sub]` (row 0 = neighbor, row 1 = sampling node).
        """
        targets = self._check_targets(targets)
        rowptr, col, node_map = self.graph.rowptr, self.graph.col, self._map
        device = rowptr.device
        num_targets = targets.numel()
        node_parts, edge_parts = [targets], []
        num_sampled_nodes, num_sampled_edges = [num_targets], []
        try:
            node_map[targets] = torch.arange(num_targets, device=device)
            frontier, frontier_start, total = targets, 0, num_targets
            for k in self.fanouts:
                src, dst_seg = self._sample_hop(rowptr, col, frontier, k)
                # New nodes in order of first appearance: the scatter-min leaves in node_map the
                # position of each unseen node's first occurrence (every unseen entry is rewritten
                # with its local id right after).
                cand = src[node_map[src] == _UNSEEN]
                pos = torch.arange(cand.numel(), device=device)
                node_map.scatter_reduce_(0, cand, pos, reduce="amin")
                new = cand[node_map[cand] == pos]
                node_map[new] = torch.arange(total, total + new.numel(), device=device)
                edge_parts.append(torch.stack([node_map[src], dst_seg + frontier_start]))
                node_parts.append(new)
                num_sampled_nodes.append(new.numel())
                num_sampled_edges.append(src.numel())
                frontier, frontier_start, total = new, total, total + new.numel()
            node_ids = torch.cat(node_parts)
            node_map[node_ids] = _UNSEEN
        except BaseException:
            node_map.fill_(_UNSEEN)
            raise
        if edge_parts:
            edge_index = torch.cat(edge_parts, dim=1)
        else:
            edge_index = torch.empty(2, 0, dtype=torch.long, device=device)
        return SampledSubgraph(
            node_ids, edge_index, num_targets, num_sampled_nodes, num_sampled_edges
        )

    def __call__(self, targets: Tensor | Sequence[int]) -> SampledSubgraph:
        return self.sample(targets)

    def _sample_hop(
        self, rowptr: Tensor, col: Tensor, frontier: Tensor, k: int
    ) -> tuple[Tensor, Tensor]:
        r"""Returns the sampled neighbors (global ids) and, for each, the index of the frontier
        node that sampled it (:obj:`[S]` each, grouped by frontier node)."""
        device = rowptr.device
        start = rowptr[frontier]
        deg = rowptr[frontier + 1] - start
        num_edges = int(deg.sum())
        seg = torch.repeat_interleave(
            torch.arange(frontier.numel(), device=device), deg, output_size=num_edges
        )
        seg_start = torch.cumsum(deg, 0) - deg
        rank = torch.arange(num_edges, device=device) - seg_start[seg]  # offset within the segment
        edge_pos = start[seg] + rank  # position in col
        if k < 0 or num_edges == 0 or int(deg.max()) <= k:
            return col[edge_pos], seg
        # Distinct random keys within each segment (a random permutation), so sorting by
        # (segment, key) shuffles each segment uniformly; the sort keeps segments in place, so
        # sorted position j still belongs to seg[j] with rank[j] inside it.
        key = seg * num_edges + torch.randperm(num_edges, generator=self.generator, device=device)
        order = torch.argsort(key)
        keep = rank < k
        return col[edge_pos[order[keep]]], seg[keep]

    def _check_targets(self, targets: Tensor | Sequence[int]) -> Tensor:
        targets = torch.as_tensor(targets, device=self.graph.rowptr.device)
        if targets.dim() != 1:
            raise ValueError(
                f"NeighborSampler: targets must be a 1-D tensor of node ids, got shape "
                f"{tuple(targets.shape)}"
            )
        if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
            raise ValueError(
                f"NeighborSampler: targets must be integer node ids, got {targets.dtype}"
            )
        targets = targets.long()
        if targets.numel() == 0:
            return targets
        bad = (targets < 0) | (targets >= self.num_nodes)
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            raise ValueError(
                f"NeighborSampler: target #{i} has node id {int(targets[i])}, outside "
                f"[0, {self.num_nodes})"
            )
        s = targets.sort().values
        dup = s[1:] == s[:-1]
        if bool(dup.any()):
            node = int(s[1:][dup][0])
            count = int((targets == node).sum())
            raise ValueError(
                f"NeighborSampler: targets must be distinct, but node {node} appears {count} times"
            )
        return targets

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_nodes={self.graph.num_nodes}, "
            f"num_edges={self.graph.num_edges}, fanouts={self.fanouts}, seed={self.seed})"
        )


def batches(
    node_ids: Tensor,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[Tensor]:
    r"""Splits target nodes into mini-batches.

    Args:
        node_ids (Tensor): Node ids :obj:`[M]` (e.g. a training split).
        batch_size (int): Targets per batch; the last batch may be smaller.
        shuffle (bool): Visit the ids in a random order drawn from :obj:`generator`.
        generator (torch.Generator, optional): Source of the shuffle; :obj:`None` uses a fresh,
            non-deterministically seeded generator (the global RNG is never touched).
        drop_last (bool): Skip a last batch smaller than :obj:`batch_size`.

    Yields:
        Tensor: Batches of ids, :obj:`[batch_size]` (the last one possibly shorter).
    """
    node_ids = torch.as_tensor(node_ids)
    if node_ids.dim() != 1:
        raise ValueError(f"batches: node_ids must be 1-D, got shape {tuple(node_ids.shape)}")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)
    if shuffle:
        if generator is None:
            generator = torch.Generator()
            generator.seed()
        perm = torch.randperm(node_ids.numel(), generator=generator)
        node_ids = node_ids[perm.to(node_ids.device)]
    n = node_ids.numel()
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        yield node_ids[i : i + batch_size]


def _check_fanouts(fanouts: Sequence[int]) -> list[int]:
    if isinstance(fanouts, (int, str)) or not isinstance(fanouts, Sequence):
        raise ValueError(f"NeighborSampler: fanouts must be a list of ints, got {fanouts!r}")
    out = []
    for h, k in enumerate(fanouts):
        try:
            value = operator.index(k)  # ints, NumPy and 0-d torch integers; not floats
        except TypeError:
            value = None
        if isinstance(k, bool) or value is None or value < -1:
            raise ValueError(
                f"NeighborSampler: fanout of hop {h + 1} must be an int >= 0 or -1 (all "
                f"neighbors), got {k!r}"
            )
        out.append(value)
    return out
