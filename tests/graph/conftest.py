"""Shared graphs and dense references of the graph tests."""

from __future__ import annotations

import pytest
import torch


def ring_with_chords(num_nodes: int = 10, seed: int = 0) -> torch.Tensor:
    """A ring plus a few random chords, symmetric, no self-loops, no duplicates."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.arange(num_nodes)
    dst = (src + 1) % num_nodes
    extra = torch.randint(0, num_nodes, (2, num_nodes // 2), generator=gen)
    edges = torch.cat([torch.stack([src, dst]), extra], dim=1)
    edges = torch.cat([edges, edges.flip(0)], dim=1)
    edges = edges[:, edges[0] != edges[1]]
    key = torch.unique(edges[0] * num_nodes + edges[1])
    return torch.stack([key // num_nodes, key % num_nodes])


def dense_normalized(
    edge_index: torch.Tensor, num_nodes: int, self_loops: bool = True
) -> torch.Tensor:
    r"""Dense float64 :math:`\hat{\mathbf{A}}` (row = target, column = source)."""
    a = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    a[edge_index[1], edge_index[0]] = 1.0
    if self_loops:
        a += torch.eye(num_nodes, dtype=torch.float64)
    deg = a.sum(1)
    dis = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return dis[:, None] * a * dis[None, :]


@pytest.fixture
def make_graph():
    """``make_graph(num_nodes=10, seed=0)``: :func:`ring_with_chords`."""
    return ring_with_chords


@pytest.fixture
def dense_adj():
    """``dense_adj(edge_index, num_nodes, self_loops=True)``: :func:`dense_normalized`."""
    return dense_normalized
