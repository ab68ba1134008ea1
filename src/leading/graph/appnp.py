r"""Explicit APPNP propagation and the fixed-point iteration it is made of.

.. math::
    \mathbf{Z}_{l+1} = (1-\alpha)\mathbf{M}\mathbf{Z}_l + \alpha\mathbf{S}

with :math:`\mathbf{M} = \hat{\mathbf{A}}` and :math:`\mathbf{S} = \mathbf{X}_{\text{in}}` is
APPNP's personalized-PageRank propagation (Gasteiger et al., 2019); with
:math:`\mathbf{M} = \hat{\mathbf{A}}^\top` and :math:`\mathbf{S} = \partial\mathcal{L}/
\partial\mathbf{X}_L` it is the implicit backward of :mod:`leading.graph.implicit`.

* :func:`appnp_iterate`: the iteration, without autograd (in-place updates), with a fixed number
  of steps or until a relative change below a tolerance.
* :class:`APPNPPropagation`: :math:`L` steps unrolled with autograd, the explicit reference.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import spmm

from leading.graph.normalization import AdjacencyCache

__all__ = ["appnp_iterate", "APPNPPropagation"]


def appnp_iterate(
    mat: Tensor,
    start: Tensor,
    source: Tensor,
    alpha: float,
    steps: int,
    tol: float | None = None,
    max_steps: int = 100,
) -> tuple[Tensor, int, float]:
    r"""Runs :math:`\mathbf{Z} \leftarrow (1-\alpha)\mathbf{M}\mathbf{Z} + \alpha\mathbf{S}`
    from :obj:`start`, updating in place (no autograd through the steps).

    Args:
        mat (Tensor): Sparse :math:`\mathbf{M}` :obj:`[n, n]` (CSR).
        start (Tensor): :math:`\mathbf{Z}_0` :obj:`[n, C]`.
        source (Tensor): :math:`\mathbf{S}` :obj:`[n, C]`.
        alpha (float): Teleport probability :math:`\alpha`.
        steps (int): Steps to run when :obj:`tol` is :obj:`None`.
        tol (float, optional): If set, iterate until the relative change
            :math:`\|\mathbf{Z}_{l+1}-\mathbf{Z}_l\|/\|\mathbf{Z}_l\|` drops below it, at most
            :obj:`max_steps` (at least one) times, ignoring :obj:`steps`. (default: :obj:`None`)
        max_steps (int): Cap on the steps when :obj:`tol` is set. (default: :obj:`100`)

    Returns:
        The last iterate, the number of steps run and the last relative change (NaN if not
        computed, i.e. without :obj:`tol`).
    """
    z = start
    residual = float("nan")
    if tol is None:
        for _ in range(steps):
            z = spmm(mat, z).mul_(1.0 - alpha).add_(source, alpha=alpha)
        return z, steps, residual
    done = 0
    for _ in range(max(1, max_steps)):
        new = spmm(mat, z).mul_(1.0 - alpha).add_(source, alpha=alpha)
        done += 1
        scale = float(torch.linalg.vector_norm(z))
        residual = float(torch.linalg.vector_norm(new - z)) / max(scale, 1e-30)
        z = new
        if residual < tol:
            break
    return z, done, residual


class APPNPPropagation(nn.Module):
    r"""Plain APPNP propagation (Gasteiger et al., 2019) unrolled with autograd: the explicit
    reference for :class:`~leading.graph.implicit.ImplicitPropagation` (no history, gradient by
    back-propagation through every step, memory :math:`O(L\,nC)`).

    .. math::
        \mathbf{X}_0 = \mathbf{X}_{\text{in}}, \qquad \mathbf{X}_{l+1} = (1-\alpha)
        \hat{\mathbf{A}}\mathbf{X}_l + \alpha\mathbf{X}_{\text{in}}, \quad l = 0,\dots,L-1.

    Numerically the same as :class:`torch_geometric.nn.APPNP` (without dropout), using the CSR
    :func:`~leading.graph.normalization.normalized_adjacency`, which is faster on CPU than
    message passing.

    Args:
        alpha (float): Teleport probability :math:`\alpha`. (default: :obj:`0.1`)
        num_steps (int): Steps :math:`L`. (default: :obj:`10`)
        add_self_loops (bool): Use :math:`\mathbf{A}+\mathbf{I}`. (default: :obj:`True`)
        cached (bool): Cache :math:`\hat{\mathbf{A}}` for the same :obj:`edge_index` tensor.
            (default: :obj:`False`)

    Shapes:
        - **input:** :obj:`x_in` :math:`(n, C)`, :obj:`edge_index` :math:`(2, E)` or a sparse
          :math:`(n, n)` matrix taken as :math:`\hat{\mathbf{A}}`
        - **output:** :math:`(n, C)`
    """

    def __init__(
        self,
        alpha: float = 0.1,
        num_steps: int = 10,
        add_self_loops: bool = True,
        cached: bool = False,
    ) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.num_steps = int(num_steps)
        self.add_self_loops = add_self_loops
        self.cached = cached
        self._cache = AdjacencyCache(cached)

    def reset_parameters(self) -> None:
        self._cache.clear()

    def forward(self, x_in: Tensor, edge_index: Tensor) -> Tensor:
        n = x_in.size(0)
        mat = self._cache.get(edge_index, n, self.add_self_loops, x_in.dtype, x_in.device).matrix
        x = x_in
        for _ in range(self.num_steps):
            # out of place, for autograd (not appnp_iterate's in-place update)
            x = (1.0 - self.alpha) * spmm(mat, x) + self.alpha * x_in
        return x

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, num_steps={self.num_steps}"
