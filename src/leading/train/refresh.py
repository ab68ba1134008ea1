r"""Pipeline 2 of LEADING (paper Algorithm 1, lines 5-6): keeping the embedding memory fresh.

Every training step, a batch of node texts is encoded *without* gradient and written to the
:class:`~leading.train.memory.EmbeddingMemory`. Which nodes (``refresh_order``):

* ``"cyclic"`` (the paper's): a random order of all nodes, cyclically, so that after
  :math:`\lceil N / \text{size} \rceil` steps every node has been re-encoded once by a recent LM.
* ``"influence"``: each step draws distinct nodes with probability proportional to their
  influence on the targets' predictions (:func:`influence_weights`), so that a budget far
  smaller than the graph goes to the rows the loss actually reads.
"""

from __future__ import annotations

import torch
from torch import Tensor

from leading.distributed import shard
from leading.graph.appnp import appnp_iterate
from leading.graph.normalization import normalized_adjacency
from leading.text.encoder import TextEncoder
from leading.text.tokens import TokenizedTexts
from leading.train.memory import EmbeddingMemory

__all__ = ["MemoryRefresh", "influence_weights"]


@torch.no_grad()
def influence_weights(
    edge_index: Tensor, num_nodes: int, targets: Tensor, alpha: float, steps: int = 50
) -> Tensor:
    r"""How much each node's memory row weighs on the targets' propagated predictions.

    The implicit head predicts :math:`\mathbf{Y} = \boldsymbol{\Pi}\mathbf{Z}` with
    :math:`\boldsymbol{\Pi} = \alpha(\mathbf{I} - (1-\alpha)\hat{\mathbf{A}})^{-1}` and
    :math:`\mathbf{Z}` the MLP of the memory rows, so row :math:`j` enters target :math:`i`'s
    prediction with weight :math:`\Pi_{ij}`. Its total weight over the targets :math:`T` is the
    personalized PageRank mass from :math:`T`,

    .. math::
        w_j = \sum_{i \in T} \Pi_{ij}, \qquad
        \mathbf{w} = (1-\alpha)\hat{\mathbf{A}}^\top\mathbf{w} + \alpha \mathbf{1}_T,

    computed by :obj:`steps` fixed-point iterations (the error shrinks as
    :math:`(1-\alpha)^{\text{steps}}`). For explicit heads on sampled subgraphs it is the same
    notion of reach with their own depth left out.

    Args:
        edge_index (Tensor): Edges :obj:`[2, E]`.
        num_nodes (int): Nodes :math:`N`.
        targets (Tensor): Target node ids :obj:`[T]`.
        alpha (float): Teleport probability :math:`\alpha` of the propagation.
        steps (int): Fixed-point iterations. (default: :obj:`50`)

    Returns:
        Tensor: :obj:`[N]` non-negative weights, zero for nodes that cannot reach a target.
    """
    adj_t = normalized_adjacency(edge_index, num_nodes, transpose=True)
    indicator = torch.zeros(num_nodes, 1)
    indicator[targets.cpu()] = 1.0
    w, _, _ = appnp_iterate(adj_t, alpha * indicator, indicator, alpha, steps)
    return w.view(-1)


class MemoryRefresh:
    r"""Re-encodes :obj:`size` nodes per call without gradient and writes them to memory.

    Args:
        num_nodes (int): Nodes :math:`N` of the graph.
        size (int): Nodes per call (0: off).
        generator (torch.Generator): Draws the random order of the nodes (and, with weights,
            each step's nodes).
        encode_batch_size (int): Texts per LM forward pass.
    """

    def __init__(
        self, num_nodes: int, size: int, generator: torch.Generator, encode_batch_size: int = 64
    ) -> None:
        self.num_nodes, self.size, self.encode_batch_size = num_nodes, size, encode_batch_size
        self.generator = generator
        self.order = torch.randperm(num_nodes, generator=generator)
        self.pos = 0
        self.weights: Tensor | None = None

    def set_weights(self, weights: Tensor | None) -> None:
        r"""Draw each step's nodes with probability proportional to :obj:`weights` :obj:`[N]`
        (distinct nodes within a step; :obj:`None`: back to the cyclic order)."""
        if weights is not None:
            weights = weights.detach().float().cpu().clamp_min(0)
            if weights.shape != (self.num_nodes,) or int((weights > 0).sum()) < self.size:
                raise ValueError(
                    f"refresh weights: expected [{self.num_nodes}] non-negative values with at "
                    f"least {self.size} positive, got shape {tuple(weights.shape)} with "
                    f"{int((weights > 0).sum())} positive"
                )
        self.weights = weights

    def next_ids(self) -> Tensor:
        r"""The next :obj:`size` node ids: drawn by weight, or the next of the cyclic order
        (which advances it)."""
        if self.weights is not None:
            return torch.multinomial(self.weights, self.size, generator=self.generator)
        idx = (self.pos + torch.arange(self.size)) % self.num_nodes
        self.pos = int((self.pos + self.size) % self.num_nodes)
        return self.order[idx]

    def __call__(
        self, encoder: TextEncoder, tokens: TokenizedTexts, memory: EmbeddingMemory
    ) -> Tensor | None:
        r"""One step of pipeline 2; returns the ids it wrote (:obj:`None` when off)."""
        if self.size <= 0:
            return None
        ids = shard(self.next_ids())  # several processes: each encodes its part of them
        emb = encoder.encode_all(tokens, ids, batch_size=self.encode_batch_size, progress=False)
        memory.write(ids, emb, with_grad=False)
        return ids

    def state_dict(self) -> dict:
        return {"order": self.order, "pos": self.pos, "weights": self.weights}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.pos = state["order"], int(state["pos"])
        self.weights = state.get("weights")

    def __repr__(self) -> str:
        order = "cyclic" if self.weights is None else "influence"
        return (f"{self.__class__.__name__}(num_nodes={self.num_nodes}, size={self.size}, "
                f"order={order})")
