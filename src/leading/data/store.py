r"""Per-node stores: rows of values addressed by *global* node id.

Two parts of LEADING keep one row per node of the whole graph and read and write them by node
id while training on mini-batches:

* the embedding memory of neighbour decoupling
  (:class:`~leading.train.memory.EmbeddingMemory`, the LM embedding of every node), and
* the propagation histories of implicit APPNP
  (:class:`~leading.graph.history.PropagationHistory`, the last forward output and the last
  backward output of every node, each a :class:`TensorStore`).

:class:`NodeStore` is the small interface they share: :meth:`~NodeStore.read` and
:meth:`~NodeStore.write` rows by node id, :meth:`~NodeStore.state_dict` /
:meth:`~NodeStore.load_state_dict` for checkpoints and :meth:`~NodeStore.reset_parameters` to
empty the store.

It is the seam for multi-process training: every read and write of per-node state goes through
it, so a distributed version only swaps the store and leaves the trainers alone. A *replicated*
store keeps all :math:`N` rows on every rank and all-gathers the :obj:`(ids, values)` of each
:meth:`~NodeStore.write` before applying them, so that every replica holds the same rows; a
*sharded* store owns the rows of its own node ids and routes reads and writes of the other ids to
their owner ranks. Neither needs anything beyond this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

from leading.distributed import all_gather_rows

__all__ = ["NodeStore", "ReplicatedTensorStore", "TensorStore"]


class NodeStore(ABC):
    r"""Abstract per-node store: one row of :attr:`dim` values per node, addressed by global
    node id.

    Attributes:
        num_nodes (int): Number of rows :math:`N` (:obj:`None` while a lazily sized store is
            still empty).
        dim (int): Width of a row (:obj:`None` while a lazily sized store is still empty).
    """

    num_nodes: int | None
    dim: int | None

    @abstractmethod
    def read(self, ids: Tensor) -> Tensor:
        r"""Rows :obj:`[len(ids), dim]` of the node ids :obj:`ids` (never written rows read as
        zeros)."""

    @abstractmethod
    def write(self, ids: Tensor, values: Tensor) -> None:
        r"""Stores :obj:`values` :obj:`[len(ids), dim]` (detached) as the rows of :obj:`ids`."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        r"""The store's contents, for a checkpoint."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        r"""Restores :meth:`state_dict`'s output."""

    @abstractmethod
    def reset_parameters(self) -> None:
        r"""Empties the store: every row reads as never written."""


class TensorStore(NodeStore):
    r"""A :class:`NodeStore` in one dense :obj:`[N, dim]` tensor, with a mask of the rows
    written so far (:attr:`filled`).

    Storage is allocated on the first :meth:`write`; :obj:`dim`, :obj:`dtype` and :obj:`device`
    are taken from it unless given. Without :obj:`num_nodes` the store grows to the largest id
    written; with it, ids outside :obj:`[0, N)` raise :class:`IndexError`. Reads of ids that
    were never written (or lie beyond the rows allocated so far) return zeros, on the device of
    :obj:`ids`.

    Args:
        num_nodes (int, optional): Fixed number of rows :math:`N` (default: grow as needed).
        dim (int, optional): Row width (default: from the first write).
        dtype (torch.dtype, optional): Storage dtype (default: from the first write).
        device (torch.device, optional): Storage device (default: from the first write).
    """

    def __init__(
        self,
        num_nodes: int | None = None,
        dim: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.fixed_size = num_nodes is not None
        self.num_nodes = num_nodes
        self.dim = dim
        self.dtype = dtype
        self.device = None if device is None else torch.device(device)
        self.values: Tensor | None = None
        self.filled: Tensor | None = None

    # -- storage ------------------------------------------------------------------------------

    @property
    def allocated(self) -> bool:
        return self.values is not None

    def allocate(self, num_nodes: int, dim: int, dtype: torch.dtype, device: torch.device) -> None:
        r"""Allocates zeroed, unfilled storage of :obj:`[num_nodes, dim]`."""
        self.num_nodes, self.dim, self.dtype, self.device = num_nodes, dim, dtype, device
        self.values = torch.zeros(num_nodes, dim, dtype=dtype, device=device)
        self.filled = torch.zeros(num_nodes, dtype=torch.bool, device=device)

    def grow(self, num_nodes: int) -> None:
        r"""Appends unfilled rows up to :obj:`num_nodes` rows."""
        assert self.values is not None and self.filled is not None
        extra = num_nodes - self.values.size(0)
        self.values = torch.cat([self.values, self.values.new_zeros(extra, self.values.size(1))])
        self.filled = torch.cat([self.filled, self.filled.new_zeros(extra)])
        self.num_nodes = num_nodes

    def prepare_write(self, ids: Tensor, values: Tensor) -> Tensor:
        r"""Checks a write of :obj:`values` to :obj:`ids`, allocates or grows the storage it
        needs, and returns :obj:`ids` as a flat long tensor on the storage device."""
        ids = torch.as_tensor(ids).long().reshape(-1)
        if values.dim() != 2 or values.size(0) != ids.numel():
            raise ValueError(
                f"values must have shape [{ids.numel()}, C], got {tuple(values.shape)}"
            )
        if not self.allocated:  # sizes, dtype and device not given are taken from the write
            self.allocate(
                self.num_nodes
                if self.num_nodes is not None
                else (int(ids.max()) + 1 if ids.numel() else 0),
                self.dim if self.dim is not None else values.size(-1),
                self.dtype
                if self.dtype is not None
                else (values.dtype if values.is_floating_point() else torch.float32),
                self.device if self.device is not None else values.device,
            )
        if values.size(1) != self.dim:
            raise ValueError(f"store holds {self.dim} channels, got values with {values.size(1)}")
        if ids.numel():
            hi = int(ids.max())
            if int(ids.min()) < 0 or hi >= self.num_nodes:  # type: ignore[operator]
                if self.fixed_size or int(ids.min()) < 0:
                    raise IndexError(f"node id out of range [0, {self.num_nodes}) in store write")
                self.grow(hi + 1)
        return ids.to(self.device)

    # -- NodeStore ----------------------------------------------------------------------------

    def is_filled(self, ids: Tensor) -> Tensor:
        r"""Bool mask :obj:`[len(ids)]`: which of :obj:`ids` hold a written row."""
        ids = torch.as_tensor(ids).long().reshape(-1)
        filled = self.filled
        if filled is None:
            return torch.zeros(ids.numel(), dtype=torch.bool, device=ids.device)
        inside = ids < filled.size(0)
        if bool(inside.all()):
            return filled[ids.to(filled.device)].to(ids.device)
        out = torch.zeros(ids.numel(), dtype=torch.bool, device=ids.device)
        out[inside] = filled[ids[inside].to(filled.device)].to(ids.device)
        return out

    def read(self, ids: Tensor) -> Tensor:
        r"""Rows :obj:`[len(ids), dim]` of :obj:`ids` (zeros where never written), on the
        device of :obj:`ids`.

        Raises:
            RuntimeError: If nothing has been written yet (the width is unknown).
        """
        store = self.values
        if store is None:
            raise RuntimeError(f"{self.__class__.__name__} is empty: nothing has been written yet")
        ids = torch.as_tensor(ids).long().reshape(-1)
        inside = ids < store.size(0)
        if bool(inside.all()):
            return store[ids.to(store.device)].to(ids.device)
        out = store.new_zeros(ids.numel(), store.size(1))
        out[inside.to(store.device)] = store[ids[inside].to(store.device)]
        return out.to(ids.device)

    @torch.no_grad()
    def write(self, ids: Tensor, values: Tensor) -> None:
        ids = self.prepare_write(ids, values)
        assert self.values is not None and self.filled is not None
        self.values[ids] = values.detach().to(device=self.device, dtype=self.dtype)
        self.filled[ids] = True

    def reset_parameters(self) -> None:
        r"""Marks every row unfilled (and zeroes the storage, which is kept)."""
        for t in (self.values, self.filled):
            if t is not None:
                t.zero_()

    def state_dict(self) -> dict[str, Any]:
        r""":obj:`{"values": [N, dim], "filled": [N]}` (empty tensors if nothing was written)."""
        return {
            "values": self.values if self.values is not None else torch.zeros(0, 0),
            "filled": (
                self.filled if self.filled is not None else torch.zeros(0, dtype=torch.bool)
            ),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        r"""Restores :meth:`state_dict`'s output (values are copied, onto :attr:`device` and
        into :attr:`dtype` where those are set)."""
        values = state["values"]
        if values.numel() == 0 and values.dim() == 2 and values.size(0) == 0:
            self.values = self.filled = None
            if not self.fixed_size:
                self.num_nodes = None
            return
        if self.fixed_size and values.size(0) != self.num_nodes:
            raise ValueError(f"state holds {values.size(0)} nodes, this store {self.num_nodes}")
        if self.dim is not None and values.size(1) != self.dim:
            raise ValueError(f"state holds {values.size(1)} channels, this store {self.dim}")
        device = self.device if self.device is not None else values.device
        dtype = self.dtype if self.dtype is not None else values.dtype
        self.values = values.detach().to(device=device, dtype=dtype).clone()
        self.filled = state["filled"].to(device=device, dtype=torch.bool).clone()
        self.num_nodes, self.dim = values.size(0), values.size(1)
        self.device, self.dtype = device, dtype

    def __repr__(self) -> str:
        if self.filled is None:
            return f"{self.__class__.__name__}(num_nodes={self.num_nodes}, empty)"
        return (
            f"{self.__class__.__name__}(num_nodes={self.num_nodes}, dim={self.dim}, "
            f"filled={int(self.filled.sum())}, dtype={self.dtype}, device={self.device})"
        )


class ReplicatedTensorStore(TensorStore):
    r"""A :class:`TensorStore` kept identical on every rank of a process group (the
    propagation histories of distributed training): each write is all-gathered
    (:func:`~leading.distributed.all_gather_rows`) and applied by every rank."""

    def write(self, ids: Tensor, values: Tensor) -> None:
        ids, values = all_gather_rows(torch.as_tensor(ids).long().reshape(-1), values)
        super().write(ids, values)
