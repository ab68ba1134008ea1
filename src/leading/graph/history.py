r"""Per-node histories of implicit propagation (LEADING eqs. 4 and 6): the last forward output
:math:`\mathbf{X}_L` and the last backward output :math:`\mathbf{G}_0` of every node, indexed by
global node id, from which the next training iteration warm-starts."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from leading.data.store import TensorStore

__all__ = ["PropagationHistory"]


class PropagationHistory:
    r"""Per-node memory of the last forward output :math:`\mathbf{X}_L` (:attr:`x`) and the
    last backward output :math:`\mathbf{G}_0` (:attr:`g`), indexed by *global* node id (eqs. 4
    and 6). Each is a :class:`~leading.data.store.TensorStore`, a
    :class:`~leading.data.store.NodeStore`; the two always have the same rows.

    Storage of shape :obj:`[N, C]` is allocated on the first write (:obj:`C`, dtype and device are
    taken from it unless given). If :obj:`num_nodes` is not given, the store grows to the largest
    id written; if it is given, ids outside :obj:`[0, N)` raise :class:`IndexError`.

    Rows never written (or written before :meth:`reset`) are *unfilled*: :meth:`pull_x` returns
    zeros for them and :meth:`filled_x` reports them as :obj:`False`; callers fall back to a cold
    start.

    All writes go through :meth:`push_x`/:meth:`push_g` (and :meth:`reset`,
    :meth:`load_state_dict`), i.e. through the stores' :meth:`~leading.data.store.NodeStore.write`;
    all reads through :meth:`pull_x`/:meth:`pull_g`/:meth:`filled_x`/:meth:`filled_g`. A
    multi-process version only needs another :obj:`store` class (e.g. one that gathers the ids and
    values of all ranks before writing, so that every replica holds the same memory).

    Args:
        num_nodes (int, optional): Number of nodes :math:`N` of the whole graph.
        num_channels (int, optional): Channels :math:`C` (default: from the first write).
        dtype (torch.dtype, optional): Storage dtype (default: from the first write).
        device (torch.device, optional): Storage device (default: from the first write). Keep it
            on the CPU to spare accelerator memory; values are moved on read and write.
        store (type): The :class:`~leading.data.store.TensorStore` class of the two stores.
            (default: :class:`~leading.data.store.TensorStore`)
    """

    def __init__(
        self,
        num_nodes: int | None = None,
        num_channels: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        store: type[TensorStore] = TensorStore,
    ) -> None:
        self.x = store(num_nodes, num_channels, dtype, device)
        self.g = store(num_nodes, num_channels, dtype, device)

    # -- sizes (shared by both stores) --------------------------------------------------------

    @property
    def fixed_size(self) -> bool:
        return self.x.fixed_size

    @property
    def num_nodes(self) -> int | None:
        return self.x.num_nodes

    @property
    def num_channels(self) -> int | None:
        return self.x.dim

    @property
    def dtype(self) -> torch.dtype | None:
        return self.x.dtype

    @property
    def device(self) -> torch.device | None:
        return self.x.device

    @property
    def allocated(self) -> bool:
        return self.x.allocated

    @staticmethod
    def _match(src: TensorStore, dst: TensorStore) -> None:
        """Gives :obj:`dst` the rows of :obj:`src` (allocating or growing it, unfilled)."""
        assert src.num_nodes is not None and src.dim is not None
        if not dst.allocated:
            assert src.dtype is not None and src.device is not None
            dst.allocate(src.num_nodes, src.dim, src.dtype, src.device)
        elif dst.num_nodes != src.num_nodes:
            dst.grow(src.num_nodes)

    # -- reads and writes ---------------------------------------------------------------------

    def filled_x(self, ids: Tensor) -> Tensor:
        """Bool mask :obj:`[n]`: which of :obj:`ids` hold a stored :math:`\\mathbf{X}_L`."""
        return self.x.is_filled(ids)

    def filled_g(self, ids: Tensor) -> Tensor:
        """Bool mask :obj:`[n]`: which of :obj:`ids` hold a stored :math:`\\mathbf{G}_0`."""
        return self.g.is_filled(ids)

    def pull_x(self, ids: Tensor) -> Tensor:
        """Stored :math:`\\mathbf{X}_L` rows :obj:`[n, C]` of :obj:`ids` (zeros where unfilled),
        on the device of :obj:`ids`."""
        return self._read(self.x, ids)

    def pull_g(self, ids: Tensor) -> Tensor:
        """Stored :math:`\\mathbf{G}_0` rows :obj:`[n, C]` of :obj:`ids` (zeros where unfilled),
        on the device of :obj:`ids`."""
        return self._read(self.g, ids)

    def _read(self, store: TensorStore, ids: Tensor) -> Tensor:
        if not store.allocated:
            raise RuntimeError("PropagationHistory is empty: nothing has been written yet")
        return store.read(ids)

    @torch.no_grad()
    def push_x(self, ids: Tensor, values: Tensor) -> None:
        """Stores :obj:`values` :obj:`[n, C]` (detached) as :math:`\\mathbf{X}_L` of :obj:`ids`."""
        self.x.write(ids, values)
        self._match(self.x, self.g)

    @torch.no_grad()
    def push_g(self, ids: Tensor, values: Tensor) -> None:
        """Stores :obj:`values` :obj:`[n, C]` (detached) as :math:`\\mathbf{G}_0` of :obj:`ids`."""
        self.g.write(ids, values)
        self._match(self.g, self.x)

    def reset(self) -> None:
        """Marks every row unfilled (and zeroes the storage, which is kept)."""
        self.x.reset_parameters()
        self.g.reset_parameters()

    # -- checkpoints --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The memory as a dict of tensors :obj:`x`, :obj:`g`, :obj:`x_filled`, :obj:`g_filled`
        (empty tensors if nothing was written yet)."""
        x, g = self.x.state_dict(), self.g.state_dict()
        return {
            "x": x["values"],
            "g": g["values"],
            "x_filled": x["filled"],
            "g_filled": g["filled"],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output (values are copied, onto :attr:`device` if set)."""
        x = state["x"]
        if not (x.numel() == 0 and x.dim() == 2 and x.size(0) == 0):
            if self.fixed_size and x.size(0) != self.num_nodes:
                raise ValueError(f"state holds {x.size(0)} nodes, this history {self.num_nodes}")
            if self.num_channels is not None and x.size(1) != self.num_channels:
                raise ValueError(
                    f"state holds {x.size(1)} channels, this history {self.num_channels}"
                )
        self.x.load_state_dict({"values": x, "filled": state["x_filled"]})
        self.g.load_state_dict({"values": state["g"], "filled": state["g_filled"]})

    def __repr__(self) -> str:
        if not self.allocated:
            return f"{self.__class__.__name__}(num_nodes={self.num_nodes}, empty)"
        assert self.x.filled is not None and self.g.filled is not None
        return (
            f"{self.__class__.__name__}(num_nodes={self.num_nodes}, "
            f"num_channels={self.num_channels}, x_filled={int(self.x.filled.sum())}, "
            f"g_filled={int(self.g.filled.sum())}, dtype={self.dtype}, device={self.device})"
        )
