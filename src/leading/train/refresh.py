r"""Pipeline 2 of LEADING (paper Algorithm 1, lines 5-6): keeping the embedding memory fresh.

Every training step, a batch of node texts is encoded *without* gradient and written to the
:class:`~leading.train.memory.EmbeddingMemory`. The nodes are taken from a random order of all
nodes, cyclically, so that after :math:`\lceil N / \text{size} \rceil` steps every node has been
re-encoded once by a recent LM.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from leading.text.encoder import TextEncoder
from leading.text.tokens import TokenizedTexts
from leading.train.memory import EmbeddingMemory

__all__ = ["MemoryRefresh", "refresh_size"]


def refresh_size(cfg, num_nodes: int, steps_per_epoch: int) -> int:
    r"""Nodes pipeline 2 re-encodes per step: ``refresh_fraction`` of the graph spread over an
    epoch's steps, or else ``refresh_batch_size`` (:obj:`None`: ``batch_size``, the paper's equal
    pipelines; 0 turns pipeline 2 off)."""
    if cfg.refresh_fraction is not None:
        return math.ceil(cfg.refresh_fraction * num_nodes / max(1, steps_per_epoch))
    return cfg.batch_size if cfg.refresh_batch_size is None else cfg.refresh_batch_size


class MemoryRefresh:
    r"""Re-encodes :obj:`size` nodes per call without gradient and writes them to memory.

    Args:
        num_nodes (int): Nodes :math:`N` of the graph.
        size (int): Nodes per call (0: off).
        generator (torch.Generator): Draws the random order of the nodes.
        encode_batch_size (int): Texts per LM forward pass.
    """

    def __init__(
        self, num_nodes: int, size: int, generator: torch.Generator, encode_batch_size: int = 64
    ) -> None:
        self.num_nodes, self.size, self.encode_batch_size = num_nodes, size, encode_batch_size
        self.order = torch.randperm(num_nodes, generator=generator)
        self.pos = 0

    def next_ids(self) -> Tensor:
        r"""The next :obj:`size` node ids of the cyclic order (advances it)."""
        idx = (self.pos + torch.arange(self.size)) % self.num_nodes
        self.pos = int((self.pos + self.size) % self.num_nodes)
        return self.order[idx]

    def __call__(
        self, encoder: TextEncoder, tokens: TokenizedTexts, memory: EmbeddingMemory
    ) -> Tensor | None:
        r"""One step of pipeline 2; returns the ids it wrote (:obj:`None` when off)."""
        if self.size <= 0:
            return None
        ids = self.next_ids()
        emb = encoder.encode_all(tokens, ids, batch_size=self.encode_batch_size, progress=False)
        memory.write(ids, emb, with_grad=False)
        return ids

    def state_dict(self) -> dict:
        return {"order": self.order, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.pos = state["order"], int(state["pos"])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_nodes={self.num_nodes}, size={self.size})"
