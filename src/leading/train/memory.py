r"""The embedding memory of neighbor decoupling (paper section 3.2, Algorithm 1 lines 6, 8 and 9).

Only target nodes are encoded with gradient; every other node's LM embedding is read from an
:math:`N \times d` memory that both pipelines write into. The memory also keeps the counters that
make the method's cost measurable: LM encodings per node (with and without gradient) and, per row,
the step of its last write (staleness).
"""

from __future__ import annotations

import torch
from torch import Tensor

from leading.data.store import NodeStore
from leading.distributed import all_gather_rows, all_sum, all_to_all_rows, rank, world_size

__all__ = [
    "EmbeddingMemory", "MEMORY_DTYPES", "ReplicatedMemory", "ShardedMemory", "memory_dtype",
]

#: The storage types of the memory (``memory_dtype`` setting) and their torch dtypes.
MEMORY_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
}
#: ``pin_memory="auto"`` keeps the rows in pinned host memory when they would take more than
#: this share of the CUDA device's free memory.
AUTO_PIN_FRACTION = 0.25


def memory_dtype(name: str | torch.dtype) -> torch.dtype:
    r"""The torch dtype of a ``memory_dtype`` setting: ``"fp32"`` (float32), ``"fp16"``
    (float16) or ``"bf16"`` (bfloat16); torch's names (``"float16"``...) and a dtype among
    those are accepted too.

    Raises:
        ValueError: For any other name or dtype.
    """
    if isinstance(name, torch.dtype) and name in MEMORY_DTYPES.values():
        return name
    if isinstance(name, str):
        key = name.strip().lower().removeprefix("torch.")
        key = {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}.get(
            key, key
        )
        if key in MEMORY_DTYPES:
            return MEMORY_DTYPES[key]
    raise ValueError(f"unknown memory dtype {name!r}; expected one of {', '.join(MEMORY_DTYPES)}")


def _auto_pin(num_nodes: int, dim: int, dtype: torch.dtype, device: torch.device) -> bool:
    r"""Whether ``pin_memory="auto"`` pins: on a CUDA device whose free memory is less than
    :obj:`1 / AUTO_PIN_FRACTION` times the rows' bytes."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return num_nodes * dim * dtype.itemsize > AUTO_PIN_FRACTION * free


class EmbeddingMemory(NodeStore):
    r"""An :math:`N \times d` store of LM embeddings addressed by global node id, a
    :class:`~leading.data.store.NodeStore`.

    Rows are always stored detached. Rows never written read as zeros and are flagged in
    :attr:`filled`; the trainer avoids them by default by prefilling the memory with one
    gradient-free pass (``prefill``), and otherwise the rule is: *an unwritten neighbor contributes
    a zero embedding* (its message carries only the head's bias) until a pipeline writes it.

    This class is the single seam through which embeddings are shared (see
    :mod:`leading.data.store`); a multi-process version only needs to override :meth:`write` (to
    broadcast the written rows) and keep the rest.

    Storage: ``float16`` or ``bfloat16`` rows (:func:`memory_dtype` of ``"fp16"`` /
    ``"bf16"``) halve the memory's bytes; reads are float32 either way (float16 keeps ~3
    significant digits of embeddings up to 65504, bfloat16 ~2 with float32's range). With
    :obj:`pin_memory` and a CUDA :obj:`device`, the rows live in pinned (page-locked) host memory
    instead of on the GPU: :meth:`read` gathers the rows on the host into a pinned buffer and
    sends them in one non-blocking transfer, :meth:`write` casts on the GPU and copies the rows
    back in one transfer; reads and writes are still addressed and returned as without it.

    Args:
        num_nodes (int): Number of nodes :math:`N`.
        dim (int): Embedding size :math:`d`.
        dtype (torch.dtype or str): Storage dtype (``float32``, ``bfloat16`` or ``float16``, or
            their names ``"fp32"``, ``"bf16"``, ``"fp16"``); reads are returned as ``float32``.
        device (torch.device or str): The device reads are returned on, and where the rows are
            stored unless pinned on the host.
        pin_memory (bool or str): Keep the rows in pinned host memory when :obj:`device` is a
            CUDA device (ignored on others); ``"auto"``: when they would take more than
            :data:`AUTO_PIN_FRACTION` of the device's free memory. (default: :obj:`False`)

    Attributes:
        pinned (bool): Whether the rows (and the counters) are in pinned host memory.
    """

    def __init__(
        self,
        num_nodes: int,
        dim: int,
        dtype: torch.dtype | str = torch.float32,
        device: torch.device | str = "cpu",
        pin_memory: bool | str = False,
    ) -> None:
        try:
            dtype = memory_dtype(dtype)
        except ValueError:
            raise ValueError(
                f"memory dtype must be float32, bfloat16 or float16, got {dtype}"
            ) from None
        self.num_nodes, self.dim, self.dtype = int(num_nodes), int(dim), dtype
        self.device = torch.device(device)
        if pin_memory == "auto":
            pin_memory = _auto_pin(self.num_nodes, self.dim, dtype, self.device)
        elif not isinstance(pin_memory, bool):
            raise ValueError(f"pin_memory must be a bool or 'auto', got {pin_memory!r}")
        self.pinned = bool(pin_memory) and self.device.type == "cuda"
        store = torch.device("cpu") if self.pinned else self.device
        self.values = torch.zeros(num_nodes, dim, dtype=dtype, device=store,
                                  pin_memory=self.pinned)
        self.filled = torch.zeros(num_nodes, dtype=torch.bool, device=store)
        self.last_write = torch.full((num_nodes,), -1, dtype=torch.long, device=store)
        self.grad_encodings = torch.zeros(num_nodes, dtype=torch.long, device=store)
        self.free_encodings = torch.zeros(num_nodes, dtype=torch.long, device=store)
        self.step = 0

    @property
    def nbytes(self) -> int:
        r"""Bytes of the stored rows (:math:`N d` times the dtype's size)."""
        return self.values.numel() * self.values.element_size()

    def reset_parameters(self) -> None:
        r"""Empties the memory and zeroes every counter."""
        self.values.zero_()
        self.filled.zero_()
        self.last_write.fill_(-1)
        self.grad_encodings.zero_()
        self.free_encodings.zero_()
        self.step = 0

    # ---------------------------------------------------------------- access
    def read(self, ids: Tensor) -> Tensor:
        r"""Rows :obj:`ids` as float32 :obj:`[len(ids), d]` on :attr:`device` (zeros where
        never written)."""
        ids = ids.to(self.values.device)
        if not self.pinned:
            return self.values[ids].float()
        rows = torch.empty(ids.numel(), self.dim, dtype=self.dtype, pin_memory=True)
        torch.index_select(self.values, 0, ids, out=rows)  # gathered into pinned memory ...
        # ... so the transfer is asynchronous; the cast to float32 happens on the GPU (fewer
        # bytes sent for fp16 / bf16 rows). The caching host allocator keeps the buffer alive
        # until the copy is done.
        return rows.to(self.device, non_blocking=True).float()

    def write(self, ids: Tensor, values: Tensor, with_grad: bool = False) -> None:
        r"""Stores :obj:`values` :obj:`[len(ids), d]` (detached) and counts one LM encoding per id.

        Args:
            with_grad (bool): Whether these embeddings were computed with gradient (pipeline 1) or
                without (pipeline 2, prefill); the two are counted separately. (default:
                :obj:`False`, as a plain :meth:`NodeStore.write
                <leading.data.store.NodeStore.write>`)
        """
        ids = ids.to(self.values.device)
        if values.shape != (ids.numel(), self.dim):
            raise ValueError(
                f"memory write: expected values of shape [{ids.numel()}, {self.dim}], "
                f"got {list(values.shape)}"
            )
        values = values.detach().to(dtype=self.dtype)  # cast where they are (fewer bytes sent)
        if self.pinned and values.device.type == "cuda":
            rows = torch.empty(values.shape, dtype=self.dtype, pin_memory=True)
            rows.copy_(values)  # one device-to-host transfer into pinned memory
            values = rows
        self.values[ids] = values.to(self.values.device)
        self.filled[ids] = True
        self.last_write[ids] = self.step
        counter = self.grad_encodings if with_grad else self.free_encodings
        counter.index_add_(0, ids, torch.ones_like(ids))

    def tick(self) -> int:
        r"""Advances the step clock (call once per training step); returns the new step."""
        self.step += 1
        return self.step

    # -------------------------------------------------------------- measures
    def staleness(self, ids: Tensor | None = None) -> Tensor:
        r"""Steps since each row was last written (:obj:`-1` for rows never written)."""
        last = self.last_write if ids is None else self.last_write[ids.to(self.last_write.device)]
        return self._age(last)

    def _age(self, last: Tensor) -> Tensor:
        r"""Steps since the writes at steps :obj:`last` (:obj:`-1` where never written)."""
        return torch.where(last >= 0, self.step - last, torch.full_like(last, -1))

    def counters(self) -> dict[str, int]:
        r"""Total LM encodings so far: ``with_grad``, ``without_grad`` and ``total``."""
        g, f = int(self.grad_encodings.sum()), int(self.free_encodings.sum())
        return {"with_grad": g, "without_grad": f, "total": g + f}

    # ----------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Tensor | int]:
        return {
            "values": self.values,
            "filled": self.filled,
            "last_write": self.last_write,
            "grad_encodings": self.grad_encodings,
            "free_encodings": self.free_encodings,
            "step": self.step,
        }

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["values"].shape) != (self.num_nodes, self.dim):
            raise ValueError(
                f"memory checkpoint has shape {list(state['values'].shape)}, "
                f"expected [{self.num_nodes}, {self.dim}]"
            )
        for k in ("values", "filled", "last_write", "grad_encodings", "free_encodings"):
            getattr(self, k).copy_(state[k])
        self.step = int(state["step"])

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_nodes={self.num_nodes}, dim={self.dim}, "
            f"dtype={str(self.dtype).replace('torch.', '')}, filled={int(self.filled.sum())}, "
            f"step={self.step}{', pinned' if self.pinned else ''})"
        )


class ReplicatedMemory(EmbeddingMemory):
    r"""An :class:`EmbeddingMemory` kept identical on every rank of a process group: each
    :meth:`write` is all-gathered (:func:`~leading.distributed.all_gather_rows`; every rank
    calls it, in the same order) and every rank applies all of them, in rank order, so the
    counters count every rank's encodings. For one process it is an :class:`EmbeddingMemory`."""

    def write(self, ids: Tensor, values: Tensor, with_grad: bool = False) -> None:
        ids, values = all_gather_rows(ids.reshape(-1), values)
        super().write(ids, values, with_grad=with_grad)


class ShardedMemory(EmbeddingMemory):
    r"""An :class:`EmbeddingMemory` split over the ranks of a process group: rank :math:`r`
    of :math:`W` holds the rows of the node ids :math:`i \equiv r \pmod W` (about
    :math:`N / W` rows each), for banks larger than one host (papers100M: 111M x 384 x 2 bytes
    = 85 GB in fp16).

    Every rank calls every method in the same order (they are collectives), and rows move by
    ``all_to_all`` (:func:`~leading.distributed.all_to_all_rows`): :meth:`write` sends each
    written row to its owner only; :meth:`read` sends each requested id to its owner, which
    sends the row back to the asking rank only. A rank thus receives only the rows it owns or
    asked for, in the order of the replicated bank (by sending rank), so training with it
    equals training with :class:`ReplicatedMemory`. Checkpoints hold each rank's own rows
    (:meth:`state_dict`; ``per_rank``: every rank writes its own file, see
    :class:`~leading.train.checkpoint.Checkpointed`), so no rank ever holds the whole bank;
    :meth:`full_state_dict` gathers it in the format of :class:`EmbeddingMemory`. For one
    process it is an :class:`EmbeddingMemory`.
    """

    #: Each rank checkpoints its own rows (:meth:`state_dict`).
    per_rank = True

    def __init__(self, num_nodes: int, dim: int, dtype: torch.dtype | str = torch.float32,
                 device: torch.device | str = "cpu", pin_memory: bool | str = False) -> None:
        self.world, self.rank = world_size(), rank()
        super().__init__(len(range(self.rank, int(num_nodes), self.world)), dim, dtype, device,
                         pin_memory)
        self.local_rows = self.num_nodes
        self.num_nodes = int(num_nodes)

    def _by_owner(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        r"""The order grouping :obj:`ids` by owning rank (stable) and the count per rank."""
        owner = ids % self.world
        return owner.argsort(stable=True), torch.bincount(owner, minlength=self.world)

    def _fetch(self, ids: Tensor, rows_of) -> Tensor:
        r"""``rows_of(local ids)`` for the global :obj:`ids` of this rank's request, whichever
        ranks own them: the ids go to their owners, the rows come back."""
        ids = ids.reshape(-1).cpu()
        order, counts = self._by_owner(ids)
        asked, asked_counts = all_to_all_rows(ids[order], counts)
        answers = rows_of(asked // self.world).float().cpu()
        rows, _ = all_to_all_rows(answers, asked_counts)
        return rows.new_empty(rows.shape).index_copy_(0, order, rows)

    def read(self, ids: Tensor) -> Tensor:
        return self._fetch(ids, super().read).to(self.device)

    def write(self, ids: Tensor, values: Tensor, with_grad: bool = False) -> None:
        ids = ids.reshape(-1).cpu()
        order, counts = self._by_owner(ids)
        got, _ = all_to_all_rows(ids[order], counts)
        rows, _ = all_to_all_rows(values.detach()[order.to(values.device)], counts)
        super().write(got // self.world, rows, with_grad)

    def staleness(self, ids: Tensor | None = None) -> Tensor:
        ids = torch.arange(self.num_nodes) if ids is None else ids
        last = self._fetch(ids, lambda local: self.last_write[local].view(-1, 1))
        return self._age(last.view(-1).long())

    def counters(self) -> dict[str, int]:
        g, f = all_sum([int(self.grad_encodings.sum()), int(self.free_encodings.sum())])
        return {"with_grad": g, "without_grad": f, "total": g + f}

    #: What :meth:`state_dict` holds per row.
    _ROWS = ("values", "filled", "last_write", "grad_encodings", "free_encodings")

    def state_dict(self) -> dict[str, Tensor | int]:
        r"""This rank's rows (those of the ids :math:`i \equiv r \pmod W`), its rank and the
        world size."""
        return {**{k: getattr(self, k) for k in self._ROWS}, "step": self.step,
                "rank": self.rank, "world": self.world, "num_nodes": self.num_nodes}

    def load_state_dict(self, state: dict) -> None:
        saved = (state.get("rank"), state.get("world"), state.get("num_nodes"))
        if saved != (self.rank, self.world, self.num_nodes):
            raise ValueError(
                f"memory checkpoint of rank {saved[0]} of {saved[1]} over {saved[2]} nodes, "
                f"expected rank {self.rank} of {self.world} over {self.num_nodes}")
        for k in self._ROWS:
            getattr(self, k).copy_(state[k])
        self.step = int(state["step"])

    def full_state_dict(self) -> dict[str, Tensor | int]:
        r"""The whole bank in the format of :meth:`EmbeddingMemory.state_dict`, on every rank
        (every rank must call it)."""
        ids = torch.arange(self.num_nodes)
        full = {k: self._fetch(ids, lambda local, k=k: getattr(self, k)[local].view(-1, 1))
                .view(-1).to(getattr(self, k).dtype) for k in self._ROWS[1:]}
        values = self._fetch(ids, lambda local: self.values[local]).to(self.dtype)
        return {"values": values, **full, "step": self.step}
