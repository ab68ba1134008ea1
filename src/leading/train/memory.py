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

__all__ = ["EmbeddingMemory"]


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

    Args:
        num_nodes (int): Number of nodes :math:`N`.
        dim (int): Embedding size :math:`d`.
        dtype (torch.dtype): Storage dtype (``float32``, ``bfloat16`` or ``float16``); reads are
            returned as ``float32``.
        device (torch.device or str): Storage device.
    """

    def __init__(
        self,
        num_nodes: int,
        dim: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        if dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise ValueError(f"memory dtype must be float32, bfloat16 or float16, got {dtype}")
        self.num_nodes, self.dim, self.dtype = int(num_nodes), int(dim), dtype
        self.values = torch.zeros(num_nodes, dim, dtype=dtype, device=device)
        self.filled = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        self.last_write = torch.full((num_nodes,), -1, dtype=torch.long, device=device)
        self.grad_encodings = torch.zeros(num_nodes, dtype=torch.long, device=device)
        self.free_encodings = torch.zeros(num_nodes, dtype=torch.long, device=device)
        self.step = 0

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
        r"""Rows :obj:`ids` as float32 :obj:`[len(ids), d]` (zeros where never written)."""
        return self.values[ids.to(self.values.device)].float()

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
        self.values[ids] = values.detach().to(self.values.device, self.dtype)
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
        last = self.last_write if ids is None else self.last_write[ids]
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
            f"step={self.step})"
        )
