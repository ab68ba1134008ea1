r"""Seeded, deterministic node splits.

* :func:`per_class_split`: the low-label-rate protocol of the paper on Cora and PubMed
  (20 labelled nodes per class for training, then 500 validation and 1000 test nodes).
* :func:`ratio_split`: a random split by fractions, e.g. 60/20/20 (the high-label-rate protocol).
* ``"canonical"``: keep the dataset's own split (OGB), see :func:`make_split`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from leading.data.graph import TextAttributedGraph
from leading.errors import ConfigError, DataError

__all__ = ["per_class_split", "ratio_split", "make_split"]


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def per_class_split(
    y: Tensor, num_per_class: int = 20, num_valid: int = 500, num_test: int = 1000, seed: int = 0
) -> dict[str, Tensor]:
    r"""Samples :obj:`num_per_class` training nodes from every class, then :obj:`num_valid`
    validation and :obj:`num_test` test nodes uniformly from the rest.

    Args:
        y (Tensor): Labels :obj:`[N]`.

    Returns:
        dict: ``train``, ``valid``, ``test`` sorted node-id tensors, pairwise disjoint.
    """
    g = _generator(seed)
    n = y.numel()
    train = []
    for c in range(int(y.max()) + 1):
        idx = (y == c).nonzero().view(-1)
        if idx.numel() < num_per_class:
            raise DataError(
                f"class {c} has {idx.numel()} nodes, fewer than the {num_per_class} per class "
                "needed for training"
            )
        train.append(idx[torch.randperm(idx.numel(), generator=g)[:num_per_class]])
    train_idx = torch.cat(train)
    rest = torch.ones(n, dtype=torch.bool)
    rest[train_idx] = False
    rest_idx = rest.nonzero().view(-1)
    if rest_idx.numel() < num_valid + num_test:
        raise DataError(
            f"only {rest_idx.numel()} nodes remain after training, need {num_valid} validation "
            f"+ {num_test} test"
        )
    rest_idx = rest_idx[torch.randperm(rest_idx.numel(), generator=g)]
    return {
        "train": train_idx.sort().values,
        "valid": rest_idx[:num_valid].sort().values,
        "test": rest_idx[num_valid : num_valid + num_test].sort().values,
    }


def ratio_split(
    num_nodes: int, ratios: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0
) -> dict[str, Tensor]:
    r"""Random train/valid/test split by fractions of :obj:`num_nodes` (they may sum to < 1)."""
    if any(r < 0 for r in ratios) or sum(ratios) > 1 + 1e-9:
        raise ConfigError(f"split ratios must be non-negative and sum to at most 1, got {ratios}")
    perm = torch.randperm(num_nodes, generator=_generator(seed))
    n_train = int(round(ratios[0] * num_nodes))
    n_valid = int(round(ratios[1] * num_nodes))
    n_test = min(int(round(ratios[2] * num_nodes)), num_nodes - n_train - n_valid)
    return {
        "train": perm[:n_train].sort().values,
        "valid": perm[n_train : n_train + n_valid].sort().values,
        "test": perm[n_train + n_valid : n_train + n_valid + n_test].sort().values,
    }


def make_split(graph: TextAttributedGraph, spec: str, seed: int) -> dict[str, Tensor]:
    r"""Builds a split from a short specification.

    Args:
        graph (TextAttributedGraph): The graph (needs labels for per-class splits).
        spec (str): ``"per_class"`` (20 per class / 500 / 1000), ``"per_class:K:V:T"``,
            ``"60/20/20"`` (percentages), or ``"canonical"`` (the dataset's own split).
        seed (int): Seed; the same seed always gives the same split.
    """
    spec = spec.strip()
    if spec == "canonical":
        if not graph.splits:
            raise ConfigError(f"{graph.name} has no canonical split; use 'per_class' or '60/20/20'")
        return dict(graph.splits)
    if spec == "per_class" or spec.startswith("per_class:"):
        if graph.y is None:
            raise ConfigError(f"{graph.name} has no labels; a per-class split needs them")
        parts = spec.split(":")[1:]
        try:
            k, v, t = (int(p) for p in parts) if parts else (20, 500, 1000)
        except ValueError:
            raise ConfigError(f"bad split {spec!r}; expected per_class:K:VALID:TEST") from None
        return per_class_split(graph.y, k, v, t, seed)
    if "/" in spec:
        try:
            ratios = tuple(float(p) / 100.0 for p in spec.split("/"))
        except ValueError:
            raise ConfigError(f"bad split {spec!r}; expected percentages like 60/20/20") from None
        if len(ratios) != 3:
            raise ConfigError(f"bad split {spec!r}; expected three percentages like 60/20/20")
        return ratio_split(graph.num_nodes, ratios, seed)  # type: ignore[arg-type]
    raise ConfigError(
        f"unknown split {spec!r}; use per_class, per_class:K:V:T, 60/20/20, canonical"
    )
