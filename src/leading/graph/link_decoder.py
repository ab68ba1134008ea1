r"""Link decoders: a score (logit) for a node pair from the two nodes' output embeddings.

* :class:`DotProductDecoder`: :math:`s(u, v) = \mathbf{z}_u^\top \mathbf{z}_v` (PyG's
  ``link_pred`` example, the paper's Appendix C setting).
* :class:`MLPDecoder`: :math:`s(u, v) = \mathrm{MLP}(\mathbf{z}_u \odot \mathbf{z}_v)`, the
  Hadamard-product predictor of OGB's link-prediction baselines (symmetric in :math:`u, v`).

Both broadcast over leading dimensions, so one call scores :math:`n` sources against their
:math:`K` candidate destinations (:obj:`[n, 1, d]` with :obj:`[n, K, d]` gives :obj:`[n, K]`);
:meth:`LinkDecoder.score` does that from node ids, in chunks, without materializing
:obj:`[n, K, d]` at once.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from leading.graph.mlp import MLPHead

__all__ = ["LinkDecoder", "DotProductDecoder", "MLPDecoder", "build_link_decoder", "DECODERS"]

DECODERS = ("dot", "mlp")


class LinkDecoder(nn.Module):
    r"""Base class: :meth:`forward` maps embedding pairs to logits.

    Shapes:
        - **input:** :obj:`z_src` :math:`(*, d)`, :obj:`z_dst` :math:`(*, d)` (broadcastable)
        - **output:** logits :math:`(*)`
    """

    def forward(self, z_src: Tensor, z_dst: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, z: Tensor, src: Tensor, dst: Tensor, chunk_size: int = 1 << 20) -> Tensor:
        r"""Logits of the pairs :math:`(\text{src}_i, \text{dst}_{i\cdot})` from node
        embeddings, chunked over rows.

        Args:
            z (Tensor): Node embeddings :obj:`[N, d]`.
            src (Tensor): Source ids :obj:`[n]`.
            dst (Tensor): Destination ids :obj:`[n]` (one per source) or :obj:`[n, K]` (:math:`K`
                candidates per source).
            chunk_size (int): Pairs scored per chunk (bounds memory at
                :obj:`chunk_size * d` floats).

        Returns:
            Tensor: :obj:`[n]` or :obj:`[n, K]`, as :obj:`dst`.
        """
        src, dst = src.to(z.device), dst.to(z.device)
        if dst.dim() == 1:
            if dst.shape != src.shape:
                raise ValueError(f"score: {src.numel()} sources but {dst.numel()} destinations")
            rows = max(1, chunk_size)
            flat = [
                self(z[src[i : i + rows]], z[dst[i : i + rows]])
                for i in range(0, src.numel(), rows)
            ]
            return torch.cat(flat) if flat else z.new_empty(0)
        if dst.dim() != 2 or dst.size(0) != src.numel():
            raise ValueError(
                f"score: expected destinations [n] or [n, K] with n = {src.numel()}, got "
                f"{tuple(dst.shape)}"
            )
        rows = max(1, chunk_size // max(1, dst.size(1)))
        parts = [
            self(z[src[i : i + rows]].unsqueeze(1), z[dst[i : i + rows]])
            for i in range(0, src.numel(), rows)
        ]
        return torch.cat(parts) if parts else z.new_empty(0, dst.size(1))


class DotProductDecoder(LinkDecoder):
    r"""Inner product :math:`s(u, v) = \mathbf{z}_u^\top \mathbf{z}_v`; no parameters."""

    def forward(self, z_src: Tensor, z_dst: Tensor) -> Tensor:
        return (z_src * z_dst).sum(-1)

    def reset_parameters(self) -> None:
        pass


class MLPDecoder(LinkDecoder):
    r"""An MLP on the Hadamard product, :math:`s(u, v) = \mathrm{MLP}(\mathbf{z}_u \odot
    \mathbf{z}_v)`.

    Args:
        in_channels (int): Embedding size :math:`d`.
        hidden_channels (int): Hidden width.
        num_layers (int): Linear layers. (default: :obj:`2`)
        dropout (float): Dropout after hidden activations. (default: :obj:`0.0`)
    """

    def __init__(
        self, in_channels: int, hidden_channels: int, num_layers: int = 2, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.mlp = MLPHead(in_channels, hidden_channels, 1, num_layers, dropout)

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()

    def forward(self, z_src: Tensor, z_dst: Tensor) -> Tensor:
        return self.mlp(z_src * z_dst).squeeze(-1)


def build_link_decoder(
    kind: str, in_channels: int, hidden_channels: int = 64, dropout: float = 0.0
) -> LinkDecoder:
    r"""``"dot"`` (:class:`DotProductDecoder`) or ``"mlp"`` (:class:`MLPDecoder`).

    Raises:
        ValueError: For another :obj:`kind`.
    """
    if kind == "dot":
        return DotProductDecoder()
    if kind == "mlp":
        return MLPDecoder(in_channels, hidden_channels, dropout=dropout)
    raise ValueError(f"unknown link decoder {kind!r}; expected one of {DECODERS}")
