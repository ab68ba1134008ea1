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

The modules of the subpackage:

* :mod:`leading.graph.normalization`: :math:`\hat{\mathbf{A}} = \tilde{\mathbf{D}}^{-1/2}
  (\mathbf{A}+\mathbf{I})\tilde{\mathbf{D}}^{-1/2}` as a sparse CSR matrix.
* :mod:`leading.graph.history`: :class:`~leading.graph.history.PropagationHistory`, the
  per-node store of the last :math:`\mathbf{X}_L` and :math:`\mathbf{G}_0`, indexed by global
  node id.
* :mod:`leading.graph.appnp`: the fixed-point iteration
  :func:`~leading.graph.appnp.appnp_iterate` and the plain explicit APPNP,
  :class:`~leading.graph.appnp.APPNPPropagation`, unrolled with autograd (reference).
* this module: :class:`ImplicitPropagation`, the implicit layer (a custom
  :class:`torch.autograd.Function`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from leading.graph.appnp import appnp_iterate
from leading.graph.history import PropagationHistory
from leading.graph.normalization import AdjacencyCache, NormalizedAdjacency

__all__ = ["ImplicitPropagation", "BACKWARD_INITS"]

BackwardInit = Literal["grad", "zero", "history", "damped"]
BACKWARD_INITS: tuple[str, ...] = ("grad", "zero", "history", "damped")
r"""The choices of :class:`ImplicitPropagation`'s :obj:`backward_init` (the start
:math:`\mathbf{G}_L` of the backward iterations); the first is the default."""


@dataclass
class _Call:
    """Everything the backward needs besides tensors (set up by the module's forward)."""

    adjacency: NormalizedAdjacency
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
        x_out, steps, residual = appnp_iterate(
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
        g0, steps, residual = appnp_iterate(
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
            (default: :obj:`10`, as :class:`~leading.config.Config`'s ``prop_steps``; the paper
            uses 2, see the study for the trade-off)
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
        num_steps: int = 10,
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
        self._cache = AdjacencyCache(cached)

    def reset_parameters(self) -> None:
        """Forgets the history (every node cold-starts again) and the cached adjacency."""
        self.history.reset()
        self._cache.clear()

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
        adjacency = self._cache.get(edge_index, n, self.add_self_loops, x_in.dtype, x_in.device)
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
