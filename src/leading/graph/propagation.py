r"""Implicit graph modeling (LEADING, Section 3.3 and Appendix A).

The GNN part of LEADING is an APPNP-style propagation treated as an *implicit* layer: its output
is the fixed point

.. math::
    \mathbf{X}_* = \alpha \left(\mathbf{I} - (1-\alpha)\hat{\mathbf{A}}\right)^{-1}
    \mathbf{X}_{\text{in}} \qquad \text{(eq. 2)}

approximated by :math:`L` fixed-point iterations

.. math::
    \mathbf{X}_{l+1} = (1-\alpha)\hat{\mathbf{A}}\mathbf{X}_l + \alpha\mathbf{X}_{\text{in}},
    \quad l = 0, \dots, L-1 \qquad \text{(eqs. 3, 5)}

started from the previous training iteration's output, :math:`\mathbf{X}_0^k =
\mathbf{X}_L^{k-1}` (eq. 4). The gradient is not obtained by back-propagating through the
iterations; it is the implicit gradient

.. math::
    \frac{\partial\mathcal{L}}{\partial\mathbf{X}_{\text{in}}} = \alpha\left(\mathbf{I} -
    (1-\alpha)\hat{\mathbf{A}}\right)^{-\top}\mathbf{y}, \qquad \mathbf{y} =
    \frac{\partial\mathcal{L}}{\partial\mathbf{X}_*} \qquad \text{(eqs. 8-13)}

which is the unique fixed point of :math:`\mathbf{G} = (1-\alpha)\hat{\mathbf{A}}^\top\mathbf{G}
+ \alpha\mathbf{y}` (eqs. 14-15: multiply eq. 13 by :math:`\mathbf{I} - (1-\alpha)
\hat{\mathbf{A}}^\top` and rearrange). It is approximated by :math:`L` backward iterations

.. math::
    \mathbf{G}_l = (1-\alpha)\hat{\mathbf{A}}^\top\mathbf{G}_{l+1} + \alpha
    \frac{\partial\mathcal{L}}{\partial\mathbf{X}_L}, \quad l = L-1, \dots, 0
    \qquad \text{(eqs. 7, 16)}

from a start :math:`\mathbf{G}_L` (see :class:`ImplicitPropagation`'s :obj:`backward_init`).
The iteration is a contraction with factor :math:`(1-\alpha)` (the spectral radius of
:math:`\hat{\mathbf{A}}` is at most 1), so the error of :math:`\mathbf{G}_0` is that of the start,
:math:`\mathbf{G}_L - \mathbf{G}_*`, multiplied by :math:`((1-\alpha)\hat{\mathbf{A}}^\top)^L`.

Contents:

* :func:`normalized_adjacency`: :math:`\hat{\mathbf{A}} = \tilde{\mathbf{D}}^{-1/2}
  (\mathbf{A}+\mathbf{I})\tilde{\mathbf{D}}^{-1/2}` as a sparse CSR matrix.
* :class:`PropagationHistory`: per-node store of the last :math:`\mathbf{X}_L` and
  :math:`\mathbf{G}_0`, indexed by global node id.
* :class:`ImplicitPropagation`: the implicit layer (custom :class:`torch.autograd.Function`).
* :class:`APPNPPropagation`: the plain explicit APPNP, unrolled with autograd (reference).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

__all__ = [
    "normalized_adjacency",
    "PropagationHistory",
    "ImplicitPropagation",
    "APPNPPropagation",
    "BACKWARD_INITS",
]

BackwardInit = Literal["zero", "grad", "history", "damped"]
BACKWARD_INITS: tuple[str, ...] = ("zero", "grad", "history", "damped")


# --------------------------------------------------------------------------------------------
# Normalized adjacency
# --------------------------------------------------------------------------------------------


def _gcn_norm(
    edge_index: Tensor,
    num_nodes: int,
    add_self_loops: bool,
    dtype: torch.dtype,
    device: torch.device | None,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Returns :obj:`(row, col, weight)` of :math:`\hat{\mathbf{A}}`, where row is the target
    node and col the source node of each entry."""
    edge_index = torch.as_tensor(edge_index, device=device)
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    edge_index = edge_index.long()
    src, dst = edge_index[0], edge_index[1]
    if add_self_loops:
        loop = torch.arange(num_nodes, device=edge_index.device)
        src = torch.cat([src, loop])
        dst = torch.cat([dst, loop])
    # In-degree (with the self-loop), as torch_geometric's gcn_norm; equal to the degree for a
    # symmetric edge list.
    deg = torch.bincount(dst, minlength=num_nodes).to(dtype)
    deg_inv_sqrt = deg.pow(-0.5)
    deg_inv_sqrt.masked_fill_(deg == 0, 0.0)  # isolated nodes: zero row, no NaN
    weight = deg_inv_sqrt[src] * deg_inv_sqrt[dst]
    return dst, src, weight


def _to_csr(row: Tensor, col: Tensor, weight: Tensor, num_nodes: int) -> Tensor:
    """Builds an :obj:`[N, N]` CSR matrix directly (no COO round trip, which is slower)."""
    perm = torch.argsort(row * num_nodes + col)
    row, col, weight = row[perm], col[perm], weight[perm]
    crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=row.device)
    torch.cumsum(torch.bincount(row, minlength=num_nodes), dim=0, out=crow[1:])
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, weight, (num_nodes, num_nodes))


def normalized_adjacency(
    edge_index: Tensor,
    num_nodes: int,
    add_self_loops: bool = True,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    transpose: bool = False,
) -> Tensor:
    r"""The symmetrically normalized adjacency matrix of GCN/APPNP,

    .. math::
        \hat{\mathbf{A}} = \tilde{\mathbf{D}}^{-1/2}(\mathbf{A} + \mathbf{I})
        \tilde{\mathbf{D}}^{-1/2}, \qquad \tilde{D}_{ii} = 1 + \sum_j A_{ij},

    or :math:`\mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` with :obj:`add_self_loops=False`
    (rows and columns of isolated nodes are then zero, not NaN).

    An edge :math:`(j, i)` of :obj:`edge_index` (source :math:`j`, target :math:`i`) gives the
    entry :math:`\hat{A}_{ij}`, so :math:`\hat{\mathbf{A}}\mathbf{X}` aggregates messages at the
    targets, as in :class:`torch_geometric.nn.APPNP`. Degrees are in-degrees (as in
    :func:`torch_geometric.nn.conv.gcn_conv.gcn_norm`); for the symmetric edge lists used here
    (both directions, no self-loops, no duplicates) :math:`\hat{\mathbf{A}}` is symmetric.

    The result is a :obj:`torch.sparse_csr` tensor: :func:`torch.sparse.mm` with CSR is about
    15x faster than COO or a scatter on CPU (Cora, 7 channels: 20 µs vs 350 µs), and it supports
    autograd with respect to the dense operand.

    Args:
        edge_index (Tensor): Edges :obj:`[2, E]`, node ids in :obj:`[0, N)`.
        num_nodes (int): Number of nodes :math:`N`.
        add_self_loops (bool): Add :math:`\mathbf{I}` before normalizing. (default: :obj:`True`)
        dtype (torch.dtype): Dtype of the values. (default: :obj:`torch.float32`)
        device (torch.device, optional): Device of the result (default: that of
            :obj:`edge_index`).
        transpose (bool): Return :math:`\hat{\mathbf{A}}^\top` instead. (default: :obj:`False`)

    Returns:
        Tensor: Sparse CSR tensor of shape :obj:`[N, N]`.
    """
    row, col, weight = _gcn_norm(
        edge_index,
        num_nodes,
        add_self_loops,
        dtype,
        None if device is None else torch.device(device),
    )
    if transpose:
        row, col = col, row
    return _to_csr(row, col, weight, num_nodes)


class _Adjacency:
    r""":math:`\hat{\mathbf{A}}` and (built lazily, only when a backward runs) its transpose."""

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        add_self_loops: bool,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.num_nodes = num_nodes
        self.dtype = dtype
        self._transposed: Tensor | None = None
        if edge_index.layout != torch.strided:  # an already normalized sparse matrix
            if tuple(edge_index.shape) != (num_nodes, num_nodes):
                raise ValueError(
                    f"sparse adjacency has shape {tuple(edge_index.shape)}, "
                    f"expected ({num_nodes}, {num_nodes})"
                )
            mat = edge_index.to(device=device, dtype=dtype)
            self.matrix = mat.to_sparse_csr() if mat.layout != torch.sparse_csr else mat
            self._entries: tuple[Tensor, Tensor, Tensor] | None = None
        else:
            self._entries = _gcn_norm(edge_index, num_nodes, add_self_loops, dtype, device)
            self.matrix = _to_csr(*self._entries, num_nodes)

    @property
    def transposed(self) -> Tensor:
        if self._transposed is None:
            if self._entries is not None:
                row, col, weight = self._entries
                self._transposed = _to_csr(col, row, weight, self.num_nodes)
            else:
                coo = self.matrix.to_sparse_coo().t().coalesce()
                self._transposed = coo.to_sparse_csr()
        return self._transposed


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


class PropagationHistory:
    r"""Per-node memory of the last forward output :math:`\mathbf{X}_L` and the last backward
    output :math:`\mathbf{G}_0`, indexed by *global* node id (eqs. 4 and 6).

    Storage of shape :obj:`[N, C]` is allocated on the first write (:obj:`C`, dtype and device are
    taken from it unless given). If :obj:`num_nodes` is not given, the store grows to the largest
    id written; if it is given, ids outside :obj:`[0, N)` raise :class:`IndexError`.

    Rows never written (or written before :meth:`reset`) are *unfilled*: :meth:`pull_x` returns
    zeros for them and :meth:`filled_x` reports them as :obj:`False`; callers fall back to a cold
    start.

    All writes go through :meth:`push_x`/:meth:`push_g` (and :meth:`reset`,
    :meth:`load_state_dict`); all reads through :meth:`pull_x`/:meth:`pull_g`/:meth:`filled_x`/
    :meth:`filled_g`. A multi-process version only needs to override the writes (e.g. gather the
    ids and values of all ranks before writing, so that every replica holds the same memory).

    Args:
        num_nodes (int, optional): Number of nodes :math:`N` of the whole graph.
        num_channels (int, optional): Channels :math:`C` (default: from the first write).
        dtype (torch.dtype, optional): Storage dtype (default: from the first write).
        device (torch.device, optional): Storage device (default: from the first write). Keep it
            on the CPU to spare accelerator memory; values are moved on read and write.
    """

    def __init__(
        self,
        num_nodes: int | None = None,
        num_channels: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.fixed_size = num_nodes is not None
        self.num_nodes = num_nodes
        self.num_channels = num_channels
        self.dtype = dtype
        self.device = None if device is None else torch.device(device)
        self.x: Tensor | None = None
        self.g: Tensor | None = None
        self.x_filled: Tensor | None = None
        self.g_filled: Tensor | None = None

    # -- storage ------------------------------------------------------------------------------

    @property
    def allocated(self) -> bool:
        return self.x is not None

    def _allocate(self, ids: Tensor, values: Tensor) -> None:
        if self.num_channels is None:
            self.num_channels = values.size(-1)
        if self.dtype is None:
            self.dtype = values.dtype if values.is_floating_point() else torch.float32
        if self.device is None:
            self.device = values.device
        if self.num_nodes is None:
            self.num_nodes = int(ids.max()) + 1 if ids.numel() else 0
        n, c = self.num_nodes, self.num_channels
        self.x = torch.zeros(n, c, dtype=self.dtype, device=self.device)
        self.g = torch.zeros(n, c, dtype=self.dtype, device=self.device)
        self.x_filled = torch.zeros(n, dtype=torch.bool, device=self.device)
        self.g_filled = torch.zeros(n, dtype=torch.bool, device=self.device)

    def _grow(self, num_nodes: int) -> None:
        assert self.x is not None and self.g is not None
        assert self.x_filled is not None and self.g_filled is not None
        extra = num_nodes - self.x.size(0)
        self.x = torch.cat([self.x, self.x.new_zeros(extra, self.x.size(1))])
        self.g = torch.cat([self.g, self.g.new_zeros(extra, self.g.size(1))])
        self.x_filled = torch.cat([self.x_filled, self.x_filled.new_zeros(extra)])
        self.g_filled = torch.cat([self.g_filled, self.g_filled.new_zeros(extra)])
        self.num_nodes = num_nodes

    def _prepare_write(self, ids: Tensor, values: Tensor) -> Tensor:
        ids = torch.as_tensor(ids).long().reshape(-1)
        if values.dim() != 2 or values.size(0) != ids.numel():
            raise ValueError(
                f"values must have shape [{ids.numel()}, C], got {tuple(values.shape)}"
            )
        if not self.allocated:
            self._allocate(ids, values)
        if values.size(1) != self.num_channels:
            raise ValueError(
                f"history holds {self.num_channels} channels, got values with {values.size(1)}"
            )
        if ids.numel():
            hi = int(ids.max())
            if int(ids.min()) < 0 or hi >= self.num_nodes:  # type: ignore[operator]
                if self.fixed_size or int(ids.min()) < 0:
                    raise IndexError(f"node id out of range [0, {self.num_nodes}) in history write")
                self._grow(hi + 1)
        return ids.to(self.device)

    def _mask(self, filled: Tensor | None, ids: Tensor) -> Tensor:
        ids = torch.as_tensor(ids).long().reshape(-1)
        if filled is None:
            return torch.zeros(ids.numel(), dtype=torch.bool, device=ids.device)
        inside = ids < filled.size(0)
        if bool(inside.all()):
            return filled[ids.to(filled.device)].to(ids.device)
        out = torch.zeros(ids.numel(), dtype=torch.bool, device=ids.device)
        out[inside] = filled[ids[inside].to(filled.device)].to(ids.device)
        return out

    def _pull(self, store: Tensor | None, ids: Tensor) -> Tensor:
        if store is None:
            raise RuntimeError("PropagationHistory is empty: nothing has been written yet")
        ids = torch.as_tensor(ids).long().reshape(-1)
        inside = ids < store.size(0)
        if bool(inside.all()):
            return store[ids.to(store.device)].to(ids.device)
        out = store.new_zeros(ids.numel(), store.size(1))
        out[inside.to(store.device)] = store[ids[inside].to(store.device)]
        return out.to(ids.device)

    # -- public interface -----------------------------------------------------------------

    def filled_x(self, ids: Tensor) -> Tensor:
        """Bool mask :obj:`[n]`: which of :obj:`ids` hold a stored :math:`\\mathbf{X}_L`."""
        return self._mask(self.x_filled, ids)

    def filled_g(self, ids: Tensor) -> Tensor:
        """Bool mask :obj:`[n]`: which of :obj:`ids` hold a stored :math:`\\mathbf{G}_0`."""
        return self._mask(self.g_filled, ids)

    def pull_x(self, ids: Tensor) -> Tensor:
        """Stored :math:`\\mathbf{X}_L` rows :obj:`[n, C]` of :obj:`ids` (zeros where unfilled),
        on the device of :obj:`ids`."""
        return self._pull(self.x, ids)

    def pull_g(self, ids: Tensor) -> Tensor:
        """Stored :math:`\\mathbf{G}_0` rows :obj:`[n, C]` of :obj:`ids` (zeros where unfilled),
        on the device of :obj:`ids`."""
        return self._pull(self.g, ids)

    @torch.no_grad()
    def push_x(self, ids: Tensor, values: Tensor) -> None:
        """Stores :obj:`values` :obj:`[n, C]` (detached) as :math:`\\mathbf{X}_L` of :obj:`ids`."""
        ids = self._prepare_write(ids, values)
        assert self.x is not None and self.x_filled is not None
        self.x[ids] = values.detach().to(device=self.device, dtype=self.dtype)
        self.x_filled[ids] = True

    @torch.no_grad()
    def push_g(self, ids: Tensor, values: Tensor) -> None:
        """Stores :obj:`values` :obj:`[n, C]` (detached) as :math:`\\mathbf{G}_0` of :obj:`ids`."""
        ids = self._prepare_write(ids, values)
        assert self.g is not None and self.g_filled is not None
        self.g[ids] = values.detach().to(device=self.device, dtype=self.dtype)
        self.g_filled[ids] = True

    def reset(self) -> None:
        """Marks every row unfilled (and zeroes the storage, which is kept)."""
        for t in (self.x, self.g, self.x_filled, self.g_filled):
            if t is not None:
                t.zero_()

    def state_dict(self) -> dict[str, Any]:
        """The memory as a dict of tensors (empty tensors if nothing was written yet)."""
        empty, none = torch.zeros(0, 0), torch.zeros(0, dtype=torch.bool)
        return {
            "x": self.x if self.x is not None else empty,
            "g": self.g if self.g is not None else empty,
            "x_filled": self.x_filled if self.x_filled is not None else none,
            "g_filled": self.g_filled if self.g_filled is not None else none,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output (values are copied, onto :attr:`device` if set)."""
        x = state["x"]
        if x.numel() == 0 and x.dim() == 2 and x.size(0) == 0:
            self.x = self.g = self.x_filled = self.g_filled = None
            if not self.fixed_size:
                self.num_nodes = None
            return
        if self.fixed_size and x.size(0) != self.num_nodes:
            raise ValueError(f"state holds {x.size(0)} nodes, this history {self.num_nodes}")
        if self.num_channels is not None and x.size(1) != self.num_channels:
            raise ValueError(f"state holds {x.size(1)} channels, this history {self.num_channels}")
        device = self.device if self.device is not None else x.device
        dtype = self.dtype if self.dtype is not None else x.dtype
        self.x = x.detach().to(device=device, dtype=dtype).clone()
        self.g = state["g"].detach().to(device=device, dtype=dtype).clone()
        self.x_filled = state["x_filled"].to(device=device, dtype=torch.bool).clone()
        self.g_filled = state["g_filled"].to(device=device, dtype=torch.bool).clone()
        self.num_nodes, self.num_channels = x.size(0), x.size(1)
        self.device, self.dtype = device, dtype

    def __repr__(self) -> str:
        if not self.allocated:
            return f"{self.__class__.__name__}(num_nodes={self.num_nodes}, empty)"
        assert self.x_filled is not None and self.g_filled is not None
        return (
            f"{self.__class__.__name__}(num_nodes={self.num_nodes}, "
            f"num_channels={self.num_channels}, x_filled={int(self.x_filled.sum())}, "
            f"g_filled={int(self.g_filled.sum())}, dtype={self.dtype}, device={self.device})"
        )


# --------------------------------------------------------------------------------------------
# Implicit propagation
# --------------------------------------------------------------------------------------------


def _iterate(
    mat: Tensor,
    start: Tensor,
    source: Tensor,
    alpha: float,
    steps: int,
    tol: float | None,
    max_steps: int,
) -> tuple[Tensor, int, float]:
    r"""Runs :math:`Z \leftarrow (1-\alpha) M Z + \alpha S` from :obj:`start`.

    Returns the last iterate, the number of steps run and the last relative change
    :math:`\|Z_{l+1}-Z_l\|/\|Z_l\|` (NaN if not computed)."""
    z = start
    residual = float("nan")
    if tol is None:
        for _ in range(steps):
            z = torch.sparse.mm(mat, z).mul_(1.0 - alpha).add_(source, alpha=alpha)
        return z, steps, residual
    done = 0
    for _ in range(max(1, max_steps)):
        new = torch.sparse.mm(mat, z).mul_(1.0 - alpha).add_(source, alpha=alpha)
        done += 1
        scale = float(torch.linalg.vector_norm(z))
        residual = float(torch.linalg.vector_norm(new - z)) / max(scale, 1e-30)
        z = new
        if residual < tol:
            break
    return z, done, residual


@dataclass
class _Call:
    """Everything the backward needs besides tensors (set up by the module's forward)."""

    adjacency: _Adjacency
    alpha: float
    steps: int
    tol: float | None
    max_steps: int
    backward_init: str
    damping: float
    history: PropagationHistory
    node_ids: Tensor
    write: bool
    stats: dict[str, Any] = field(default_factory=dict)


class _ImplicitPropagationFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x_in: Tensor, x_start: Tensor, call: _Call) -> Tensor:  # type: ignore[override]
        x_out, steps, residual = _iterate(
            call.adjacency.matrix, x_start, x_in, call.alpha, call.steps, call.tol, call.max_steps
        )
        call.stats["forward_steps"] = steps
        call.stats["forward_residual"] = residual
        ctx.call = call
        return x_out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, None, None]:  # type: ignore[override]
        call: _Call = ctx.call
        if not ctx.needs_input_grad[0]:
            return None, None, None
        y = grad_out.contiguous()
        init = call.backward_init
        if init == "zero":
            g_start = torch.zeros_like(y)
        elif init == "grad":
            g_start = y
        else:  # "history" (eq. 6) or "damped"; unfilled rows start from dL/dX_L
            hist = call.history
            mask = hist.filled_g(call.node_ids).to(y.device)
            if bool(mask.any()):
                g_hist = hist.pull_g(call.node_ids).to(device=y.device, dtype=y.dtype)
                if init == "damped":
                    g_hist = call.damping * g_hist + (1.0 - call.damping) * y
                g_start = torch.where(mask.unsqueeze(-1), g_hist, y)
            else:
                g_start = y
        g0, steps, residual = _iterate(
            call.adjacency.transposed, g_start, y, call.alpha, call.steps, call.tol, call.max_steps
        )
        call.stats["backward_steps"] = steps
        call.stats["backward_residual"] = residual
        if call.write:
            call.history.push_g(call.node_ids, g0)
        return g0, None, None


class ImplicitPropagation(nn.Module):
    r"""LEADING's implicit graph modeling layer (Section 3.3, Appendix A): APPNP propagation
    treated as a fixed-point problem, with warm-started forward iterations and an implicit
    (iterative) backward.

    **Forward** (eqs. 3-5), :math:`L` = :obj:`num_steps` iterations

    .. math::
        \mathbf{X}_{l+1} = (1-\alpha)\hat{\mathbf{A}}\mathbf{X}_l + \alpha\mathbf{X}_{\text{in}},
        \qquad l = 0, \dots, L-1,

    from :math:`\mathbf{X}_0` = the stored :math:`\mathbf{X}_L` of the previous call for each
    node (eq. 4, :obj:`forward_warm_start=True`) or :math:`\mathbf{X}_{\text{in}}` (cold start:
    rows never written, or :obj:`forward_warm_start=False`, which is APPNP with :math:`L`
    steps). In training mode :math:`\mathbf{X}_L` is stored (detached) for the next call.

    **Backward** (eqs. 6-7, 16): given :math:`\mathbf{y} = \partial\mathcal{L}/\partial
    \mathbf{X}_L`, :math:`L` iterations

    .. math::
        \mathbf{G}_l = (1-\alpha)\hat{\mathbf{A}}^\top\mathbf{G}_{l+1} + \alpha\mathbf{y},
        \qquad l = L-1, \dots, 0,

    whose fixed point is the exact implicit gradient :math:`\alpha(\mathbf{I}-(1-\alpha)
    \hat{\mathbf{A}})^{-\top}\mathbf{y}` (the factor :math:`\alpha` is carried by the
    :math:`\alpha\mathbf{y}` term; the iteration and eq. 13 agree). :math:`\mathbf{G}_0` is
    returned as the gradient w.r.t. :math:`\mathbf{X}_{\text{in}}` and, in training mode,
    stored. The start :math:`\mathbf{G}_L` is chosen by :obj:`backward_init`:

    * :obj:`"grad"` (default): :math:`\mathbf{G}_L = \mathbf{y}` (Appendix A,
      ":math:`\mathbf{G}_L = \partial\mathcal{L}/\partial\mathbf{X}_L`"). Stateless. For an
      eigen-component :math:`\lambda` of :math:`\hat{\mathbf{A}}` the start error is
      :math:`(1 - \alpha/(1-(1-\alpha)\lambda))\,y`, zero for the smooth component
      (:math:`\lambda = 1`), which dominates the exact gradient; the error left is mostly an
      over-estimate of the magnitude. With a cold forward start this equals the autograd
      gradient of :math:`L`-step APPNP exactly.
    * :obj:`"zero"`: :math:`\mathbf{G}_L = 0`, so :math:`\mathbf{G}_0 = \alpha\sum_{k<L}
      ((1-\alpha)\hat{\mathbf{A}}^\top)^k\mathbf{y}`: the truncated Neumann series (also the
      exact gradient of the computed :math:`\mathbf{X}_L` when :math:`\mathbf{X}_0` is a
      detached history). Misses the amplified smooth component: under-estimates the magnitude.
    * :obj:`"history"`: :math:`\mathbf{G}_L = \mathbf{G}_0^{k-1}`, the stored gradient of the
      previous call (eq. 6); rows without one start from :math:`\mathbf{y}`. Under changing
      mini-batches the previous gradient belongs to another batch's loss, and part of it is
      carried into this one: the stored gradient acts as a momentum over past batches
      (its contributions summed over all later steps equal the exact gradient, but delayed).
      On the current batch's rows it behaves like :obj:`"zero"`. See
      ``benchmarks/results/propagation/README.md``.
    * :obj:`"damped"`: :math:`\mathbf{G}_L = \beta\,\mathbf{G}_0^{k-1} + (1-\beta)\mathbf{y}`
      with :math:`\beta` = :obj:`damping` (rows without a stored gradient start from
      :math:`\mathbf{y}`).

    **Sub-graphs**: :obj:`forward(x_in, edge_index, node_ids)` with a local :obj:`edge_index`
    over the :obj:`n` rows of :obj:`x_in` and their global ids :obj:`node_ids`. Histories are
    read and written by global id; :math:`\hat{\mathbf{A}}` is built from the given sub-graph
    alone (its degrees, with self-loops), i.e. it is the propagation of that sub-graph, not the
    restriction of the full graph's :math:`\hat{\mathbf{A}}`. All :obj:`n` rows are written.

    Args:
        alpha (float): Teleport (restart) probability :math:`\alpha`. (default: :obj:`0.1`)
        num_steps (int): Iterations :math:`L` in training (forward and backward).
            (default: :obj:`3`; the paper uses 2, see the study for the trade-off)
        forward_warm_start (bool): Start the forward from the stored :math:`\mathbf{X}_L`
            (eq. 4). (default: :obj:`True`)
        backward_init (str): :obj:`"zero"`, :obj:`"grad"`, :obj:`"history"` or
            :obj:`"damped"`, see above. (default: :obj:`"grad"`)
        damping (float): :math:`\beta` of :obj:`"damped"`. (default: :obj:`0.5`)
        eval_steps (int, optional): Iterations in eval mode (default: :obj:`num_steps`). Eval
            mode reads but never writes the history.
        tol (float, optional): If set, iterate (forward and backward) until the relative change
            :math:`\|\mathbf{Z}_{l+1}-\mathbf{Z}_l\|/\|\mathbf{Z}_l\|` drops below :obj:`tol`,
            at most :obj:`max_steps` times, instead of a fixed number of steps.
            (default: :obj:`None`)
        max_steps (int): Cap on the iterations when :obj:`tol` is set. (default: :obj:`100`)
        num_nodes (int, optional): Nodes :math:`N` of the whole graph (size of the history;
            default: inferred, growing with the largest id seen).
        add_self_loops (bool): Use :math:`\mathbf{A}+\mathbf{I}`. (default: :obj:`True`)
        cached (bool): Cache :math:`\hat{\mathbf{A}}` between calls with the same
            :obj:`edge_index` tensor (full-graph training). (default: :obj:`False`)
        history (PropagationHistory, optional): Memory to use (default: a new one on the
            device of the first input).

    Shapes:
        - **input:** :obj:`x_in` :math:`(n, C)`, :obj:`edge_index` :math:`(2, E)` (local ids,
          or a sparse :math:`(n, n)` matrix taken as :math:`\hat{\mathbf{A}}`), :obj:`node_ids`
          :math:`(n)` global ids or :obj:`None` (full graph, :obj:`arange(n)`)
        - **output:** :math:`(n, C)`, :math:`\mathbf{X}_L`

    After each call, :attr:`last_stats` holds the steps run and the last relative changes.
    """

    def __init__(
        self,
        alpha: float = 0.1,
        num_steps: int = 3,
        forward_warm_start: bool = True,
        backward_init: BackwardInit = "grad",
        damping: float = 0.5,
        eval_steps: int | None = None,
        tol: float | None = None,
        max_steps: int = 100,
        num_nodes: int | None = None,
        add_self_loops: bool = True,
        cached: bool = False,
        history: PropagationHistory | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
        if num_steps < 0 or (eval_steps is not None and eval_steps < 0):
            raise ValueError("num_steps and eval_steps must be >= 0")
        if backward_init not in BACKWARD_INITS:
            raise ValueError(
                f"backward_init must be one of {BACKWARD_INITS}, got {backward_init!r}"
            )
        if not 0.0 <= damping <= 1.0:
            raise ValueError(f"damping must lie in [0, 1], got {damping}")
        if tol is not None and tol <= 0:
            raise ValueError(f"tol must be positive, got {tol}")
        self.alpha = float(alpha)
        self.num_steps = int(num_steps)
        self.forward_warm_start = bool(forward_warm_start)
        self.backward_init = backward_init
        self.damping = float(damping)
        self.eval_steps = eval_steps
        self.tol = tol
        self.max_steps = int(max_steps)
        self.add_self_loops = add_self_loops
        self.cached = cached
        self.history = history if history is not None else PropagationHistory(num_nodes=num_nodes)
        self.last_stats: dict[str, Any] = {}
        self._cache: tuple[tuple[Any, ...], _Adjacency] | None = None

    def reset_parameters(self) -> None:
        """Forgets the history (every node cold-starts again) and the cached adjacency."""
        self.history.reset()
        self._cache = None

    def _adjacency(
        self, edge_index: Tensor, n: int, dtype: torch.dtype, device: torch.device
    ) -> _Adjacency:
        key = (
            edge_index.data_ptr() if edge_index.layout == torch.strided else id(edge_index),
            tuple(edge_index.shape),
            n,
            dtype,
            device,
        )
        if self.cached and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        adj = _Adjacency(edge_index, n, self.add_self_loops, dtype, device)
        if self.cached:
            self._cache = (key, adj)
        return adj

    def forward(self, x_in: Tensor, edge_index: Tensor, node_ids: Tensor | None = None) -> Tensor:
        r"""Runs the propagation.

        Args:
            x_in (Tensor): Input embeddings :math:`\mathbf{X}_{\text{in}}`, :obj:`[n, C]`.
            edge_index (Tensor): Local edges :obj:`[2, E]` over the :obj:`n` rows, or a sparse
                :obj:`[n, n]` matrix used as :math:`\hat{\mathbf{A}}`.
            node_ids (Tensor, optional): Global ids :obj:`[n]` of the rows (default:
                :obj:`arange(n)`, the full graph).

        Returns:
            Tensor: :math:`\mathbf{X}_L`, :obj:`[n, C]`.
        """
        if x_in.dim() != 2:
            raise ValueError(f"x_in must have shape [n, C], got {tuple(x_in.shape)}")
        n = x_in.size(0)
        if node_ids is None:
            node_ids = torch.arange(n, device=x_in.device)
        else:
            node_ids = torch.as_tensor(node_ids, device=x_in.device).long().reshape(-1)
            if node_ids.numel() != n:
                raise ValueError(f"node_ids has {node_ids.numel()} ids for {n} rows of x_in")
        adjacency = self._adjacency(edge_index, n, x_in.dtype, x_in.device)
        steps = self.num_steps if (self.training or self.eval_steps is None) else self.eval_steps

        x_start = x_in.detach()
        if self.forward_warm_start:
            mask = self.history.filled_x(node_ids)
            if bool(mask.any()):
                stored = self.history.pull_x(node_ids).to(device=x_in.device, dtype=x_in.dtype)
                x_start = torch.where(mask.unsqueeze(-1), stored, x_start)

        call = _Call(
            adjacency=adjacency,
            alpha=self.alpha,
            steps=steps,
            tol=self.tol,
            max_steps=self.max_steps,
            backward_init=self.backward_init,
            damping=self.damping,
            history=self.history,
            node_ids=node_ids,
            write=self.training,
        )
        self.last_stats = call.stats
        out = _ImplicitPropagationFunction.apply(x_in, x_start, call)
        if self.training:
            self.history.push_x(node_ids, out)
        return out

    # -- checkpointing: the history travels in the module's state_dict ------------------------

    def get_extra_state(self) -> dict[str, Any]:
        return {"history": self.history.state_dict()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.history.load_state_dict(state["history"])

    def extra_repr(self) -> str:
        parts = [
            f"alpha={self.alpha}",
            f"num_steps={self.num_steps}",
            f"forward_warm_start={self.forward_warm_start}",
            f"backward_init={self.backward_init!r}",
        ]
        if self.backward_init == "damped":
            parts.append(f"damping={self.damping}")
        if self.eval_steps is not None:
            parts.append(f"eval_steps={self.eval_steps}")
        if self.tol is not None:
            parts.append(f"tol={self.tol}, max_steps={self.max_steps}")
        if not self.add_self_loops:
            parts.append("add_self_loops=False")
        parts.append(f"history={self.history!r}")
        return ", ".join(parts)


class APPNPPropagation(nn.Module):
    r"""Plain APPNP propagation (Gasteiger et al., 2019) unrolled with autograd: the explicit
    reference for :class:`ImplicitPropagation` (no history, gradient by back-propagation
    through every step, memory :math:`O(L\,nC)`).

    .. math::
        \mathbf{X}_0 = \mathbf{X}_{\text{in}}, \qquad \mathbf{X}_{l+1} = (1-\alpha)
        \hat{\mathbf{A}}\mathbf{X}_l + \alpha\mathbf{X}_{\text{in}}, \quad l = 0,\dots,L-1.

    Numerically the same as :class:`torch_geometric.nn.APPNP` (without dropout), using the CSR
    :func:`normalized_adjacency`, which is faster on CPU than message passing.

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
        self._cache: tuple[tuple[Any, ...], Tensor] | None = None

    def reset_parameters(self) -> None:
        self._cache = None

    def forward(self, x_in: Tensor, edge_index: Tensor) -> Tensor:
        n = x_in.size(0)
        key = (
            edge_index.data_ptr() if edge_index.layout == torch.strided else id(edge_index),
            tuple(edge_index.shape),
            n,
            x_in.dtype,
            x_in.device,
        )
        if self.cached and self._cache is not None and self._cache[0] == key:
            mat = self._cache[1]
        else:
            mat = _Adjacency(edge_index, n, self.add_self_loops, x_in.dtype, x_in.device).matrix
            if self.cached:
                self._cache = (key, mat)
        x = x_in
        for _ in range(self.num_steps):
            x = (1.0 - self.alpha) * torch.sparse.mm(mat, x) + self.alpha * x_in
        return x

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, num_steps={self.num_steps}"
