r"""The size rule: what the ``auto`` settings become for a graph of :math:`N` nodes.

A training step of LEADING costs :math:`O(B \cdot \prod_l k_l)` (targets :math:`B`, fanouts
:math:`k_l`) when the head runs on each batch's sampled subgraph, whatever :math:`N` is; running
it over the whole graph instead costs :math:`O(N + E)` per step (the MLP on every memory row and
:math:`L` propagation steps over every edge, forward and backward), which is cheap beside an LM
step on a small graph and dominates on a large one. So, for a graph with at most
``full_graph_nodes`` nodes (default 20,000):

* ``scope="auto"`` propagates over the full graph (the setting the Cora results were measured
  with), every target is visited every epoch, and pipeline 2 re-encodes ``refresh_fraction`` of
  the graph per epoch;

and for a larger graph:

* ``scope="auto"`` propagates over each sampled subgraph (warm-started from the per-node
  histories, which carry the propagation across steps);
* an LM epoch visits ``targets_per_epoch`` targets (none: 10,000), a fresh random subset each
  epoch, training nodes first;
* pipeline 2 re-encodes at most ``refresh_batch_size`` (none: ``batch_size``) nodes per step,
  the paper's equal pipelines, so that neither pipeline's cost per step grows with :math:`N`;
* the head warm-up validates :data:`WARMUP_CHECKS` times (every ``head_epochs / 10`` epochs and
  after the last) instead of after every epoch: each validation is a whole-graph pass (the
  head's MLP over every memory row, ``eval_steps`` propagation steps over every edge), about
  5-10 s at 1M nodes on 2 CPU cores, so 100 of them would cost more than the training.

Every quantity is then bounded per step, and whole-graph work (validation, pseudo-labels, the
final encoding) happens only at epoch boundaries. ``grad_hops != 0`` (GAS, coupled training)
always needs sampled subgraphs. The figures behind the threshold are in ``docs/scale.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_LARGE_TARGETS", "WARMUP_CHECKS", "ScaleSettings", "resolve_scale"]

#: Targets per LM epoch on graphs above ``full_graph_nodes`` when ``targets_per_epoch`` is none.
DEFAULT_LARGE_TARGETS = 10_000
#: Validations of the head warm-up on graphs above ``full_graph_nodes``.
WARMUP_CHECKS = 10


@dataclass(frozen=True)
class ScaleSettings:
    r"""The resolved size-dependent settings of a run.

    Args:
        num_nodes (int): Nodes :math:`N` of the graph.
        large (bool): Whether :math:`N` exceeds ``full_graph_nodes``.
        scope (str): ``"full"`` or ``"subgraph"``.
        targets_per_epoch (int, optional): Targets an LM epoch visits (:obj:`None`: all).
        refresh_cap (int, optional): Most nodes pipeline 2 re-encodes per step (:obj:`None`:
            no cap).
        warmup_checks (int, optional): Validations during the head warm-up (:obj:`None`: after
            every epoch).
    """

    num_nodes: int
    large: bool
    scope: str
    targets_per_epoch: int | None
    refresh_cap: int | None
    warmup_checks: int | None = None

    def validates_after(self, epoch: int, epochs: int) -> bool:
        r"""Whether the head warm-up validates after its epoch :obj:`epoch` (1-based) of
        :obj:`epochs`."""
        if self.warmup_checks is None or epoch == epochs:
            return True
        return epoch % max(1, math.ceil(epochs / self.warmup_checks)) == 0

    def describe(self) -> str:
        r"""One line for the start-up log."""
        targets = "all" if self.targets_per_epoch is None else f"{self.targets_per_epoch:,}"
        cap = "" if self.refresh_cap is None else f", pipeline 2 <= {self.refresh_cap}/step"
        size = "large" if self.large else "small"
        return (f"{self.num_nodes:,} nodes ({size}): scope {self.scope}, {targets} targets per "
                f"epoch{cap}")

    def refresh_size(self, cfg: Any, steps_per_epoch: int) -> int:
        r"""Nodes pipeline 2 re-encodes per step: ``refresh_fraction`` of the graph spread over
        an epoch's steps, or else ``refresh_batch_size`` (:obj:`None`: ``batch_size``; 0: off),
        at most :attr:`refresh_cap`."""
        if cfg.refresh_fraction is not None:
            size = math.ceil(cfg.refresh_fraction * self.num_nodes / max(1, steps_per_epoch))
        else:
            size = cfg.batch_size if cfg.refresh_batch_size is None else cfg.refresh_batch_size
        return size if self.refresh_cap is None else min(size, self.refresh_cap)


def resolve_scale(cfg: Any, num_nodes: int) -> ScaleSettings:
    r"""Resolves ``scope``, ``targets_per_epoch`` and pipeline 2's per-step cap for a graph of
    :obj:`num_nodes` nodes from a :class:`~leading.config.Config` (see the module docstring)."""
    large = num_nodes > cfg.full_graph_nodes
    scope = cfg.scope
    if scope == "auto":
        scope = "subgraph" if large or cfg.grad_hops != 0 else "full"
    targets = cfg.targets_per_epoch
    if targets is None:
        targets = DEFAULT_LARGE_TARGETS if large else 0
    cap = None
    if large:
        cap = cfg.batch_size if cfg.refresh_batch_size is None else cfg.refresh_batch_size
    return ScaleSettings(num_nodes, large, scope, targets or None, cap,
                         WARMUP_CHECKS if large else None)
