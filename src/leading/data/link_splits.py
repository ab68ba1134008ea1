r"""Seeded edge splits for link prediction (paper Appendix C).

A :class:`LinkSplit` holds positive edges for training, validation and test, the fixed negatives
that the held-out positives are scored against, and the one graph that message passing may use:
the training edges (:meth:`LinkSplit.message_passing_edge_index`). No validation or test edge
ever enters message passing.

Split specifications (:func:`make_link_split`):

* ``"low"``: 10/30/60 percent of the undirected edges for train/valid/test (Table 9, "Low").
* ``"high"``: 85/5/10 (Table 9, "High").
* ``"A/B/C"``: any percentages, e.g. ``"70/10/20"`` (they may sum to less than 100; the rest of
  the edges is left out of every split and out of message passing).
* ``"canonical"``: the dataset's own split (:attr:`TextAttributedGraph.edge_splits`, e.g.
  ``ogbl-citation2``'s official time split with its 1,000 negatives per held-out positive).
* ``"auto"``: ``"canonical"`` when the graph has :attr:`edge_splits`, ``"low"`` otherwise.

Negatives of a random split, drawn once per seed (so every method of a seed is scored on the
same ones) among the non-edges of the *whole* graph:

* :attr:`LinkSplit.valid_neg` / :attr:`LinkSplit.test_neg` :obj:`[2, E]`: one random node pair
  per positive, for AUC (positives against an equal number of negatives, as PyG's
  :class:`~torch_geometric.transforms.RandomLinkSplit`);
* :attr:`LinkSplit.valid_neg_targets` / :attr:`LinkSplit.test_neg_targets` :obj:`[E, K]`:
  :math:`K` corrupted destinations :math:`w` per positive :math:`(u, v)`, for MRR and Hits@K (the
  positive is ranked among :math:`(u, w_1), \dots, (u, w_K)`, OGB's protocol).

Each held-out positive is oriented at random (which endpoint is the source :math:`u` whose
destination is corrupted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from leading.data.graph import TextAttributedGraph, canonical_undirected
from leading.data.negative_sampling import EdgeSet, sample_negative_pairs, sample_negative_targets
from leading.errors import ConfigError, DataError

__all__ = [
    "LINK_SPLIT_PRESETS",
    "LinkSplit",
    "parse_link_split",
    "random_link_split",
    "canonical_link_split",
    "make_link_split",
]

#: Percentages train/valid/test of the named splits of the paper's Table 9.
LINK_SPLIT_PRESETS: dict[str, tuple[float, float, float]] = {
    "low": (10.0, 30.0, 60.0),
    "high": (85.0, 5.0, 10.0),
}

PARTS = ("train", "valid", "test")


@dataclass
class LinkSplit:
    r"""Positive and negative edges of a link-prediction split.

    Args:
        train (Tensor): Training positives :obj:`[2, E_train]` (each undirected edge once).
        valid (Tensor): Validation positives :obj:`[2, E_valid]`, row 0 the source :math:`u`.
        test (Tensor): Test positives :obj:`[2, E_test]`.
        valid_neg (Tensor): Validation negative pairs :obj:`[2, E_valid]` (for AUC).
        test_neg (Tensor): Test negative pairs :obj:`[2, E_test]`.
        valid_neg_targets (Tensor): :obj:`[E_valid, K]` negative destinations per validation
            positive (for MRR and Hits@K).
        test_neg_targets (Tensor): :obj:`[E_test, K]`.
        num_nodes (int): Number of nodes :math:`N`.
        spec (str): The specification it was made from (``"low"``, ``"canonical"``, ...).
        directed (bool): Whether the positives are directed (OGB citations); message passing
            always uses both directions.
    """

    train: Tensor
    valid: Tensor
    test: Tensor
    valid_neg: Tensor
    test_neg: Tensor
    valid_neg_targets: Tensor
    test_neg_targets: Tensor
    num_nodes: int
    spec: str = "custom"
    directed: bool = False

    def __post_init__(self) -> None:
        n = int(self.num_nodes)
        for name in ("train", "valid", "test", "valid_neg", "test_neg"):
            setattr(self, name, _check_pairs(getattr(self, name), n, f"link split {name!r}"))
        for part in ("valid", "test"):
            name = f"{part}_neg_targets"
            t = torch.as_tensor(getattr(self, name))
            where = f"link split {name!r}"
            if t.dim() != 2 or t.size(0) != getattr(self, part).size(1):
                raise DataError(
                    f"{where}: expected shape [{getattr(self, part).size(1)}, K] (one row per "
                    f"{part} positive), got {tuple(t.shape)}"
                )
            if t.is_floating_point() or t.dtype == torch.bool:
                raise DataError(f"{where}: expected integer node ids, got {t.dtype}")
            t = t.long()
            if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n):
                row = int(((t < 0) | (t >= n)).any(1).nonzero()[0])
                raise DataError(f"{where}: row {row} has a node id outside [0, {n})")
            setattr(self, name, t)
            if getattr(self, f"{part}_neg").size(1) != getattr(self, part).size(1):
                raise DataError(
                    f"link split '{part}_neg': expected {getattr(self, part).size(1)} pairs (one "
                    f"per {part} positive), got {getattr(self, f'{part}_neg').size(1)}"
                )
        if self.train.size(1) == 0:
            raise DataError(f"link split {self.spec!r}: no training edges")

    # ------------------------------------------------------------------ graph
    def message_passing_edge_index(self) -> Tensor:
        r"""The graph that every GNN of the link-prediction protocol propagates over: the
        training positives in both directions, without self-loops or duplicates, and without any
        pair that is also a validation or test positive.

        Returns:
            Tensor: :obj:`[2, 2 E']` symmetric edge list.
        """
        ei = canonical_undirected(self.train, self.num_nodes, "link split 'train'")
        held_out = EdgeSet(torch.cat([self.valid, self.test], dim=1), self.num_nodes)
        return ei[:, ~held_out.contains(ei[0], ei[1])]

    @property
    def num_neg_targets(self) -> int:
        r"""Negatives :math:`K` ranked against each held-out positive."""
        return int(self.test_neg_targets.size(1))

    def sizes(self) -> dict[str, int]:
        r"""Numbers of positives per part, :math:`K`, and the message-passing edges
        (undirected)."""
        return {
            "train": int(self.train.size(1)),
            "valid": int(self.valid.size(1)),
            "test": int(self.test.size(1)),
            "neg_targets_per_positive": self.num_neg_targets,
            "message_passing_edges": int(self.message_passing_edge_index().size(1) // 2),
        }

    def __repr__(self) -> str:
        s = self.sizes()
        return (
            f"{self.__class__.__name__}(spec={self.spec!r}, num_nodes={self.num_nodes}, "
            f"train={s['train']}, valid={s['valid']}, test={s['test']}, "
            f"neg_targets={s['neg_targets_per_positive']}, directed={self.directed})"
        )


def _check_pairs(pairs: Tensor, n: int, where: str) -> Tensor:
    pairs = torch.as_tensor(pairs)
    if pairs.dim() != 2 or pairs.size(0) != 2:
        raise DataError(f"{where}: expected edges of shape [2, E], got {tuple(pairs.shape)}")
    if pairs.is_floating_point() or pairs.dtype == torch.bool:
        raise DataError(f"{where}: expected integer node ids, got {pairs.dtype}")
    pairs = pairs.long()
    if pairs.numel():
        bad = ((pairs < 0) | (pairs >= n)).any(0)
        if bool(bad.any()):
            e = int(bad.nonzero()[0])
            u, v = pairs[:, e].tolist()
            raise DataError(f"{where}: edge #{e} ({u}, {v}) refers to a node id outside [0, {n})")
    return pairs


def parse_link_split(spec: str) -> tuple[float, float, float] | None:
    r"""Reads a split specification.

    Args:
        spec (str): ``"low"``, ``"high"``, ``"A/B/C"`` (percentages) or ``"canonical"``.

    Returns:
        The train/valid/test percentages, or :obj:`None` for ``"canonical"``.

    Raises:
        ConfigError: For anything else, or percentages that are negative, sum to more than 100,
            or leave no training or no held-out edges.
    """
    s = str(spec).strip().lower()
    if s == "canonical":
        return None
    if s in LINK_SPLIT_PRESETS:
        return LINK_SPLIT_PRESETS[s]
    parts = s.split("/")
    try:
        pct = tuple(float(p) for p in parts)
    except ValueError:
        pct = ()
    if len(pct) != 3 or not all(math.isfinite(p) for p in pct):
        raise ConfigError(
            f"link_split {spec!r}: expected auto, low (10/30/60), high (85/5/10), canonical, or "
            "three train/valid/test percentages such as 85/5/10"
        )
    if min(pct) < 0 or sum(pct) > 100 + 1e-9:
        raise ConfigError(
            f"link_split {spec!r}: percentages must be >= 0 and sum to at most 100"
        )
    if pct[0] <= 0 or pct[1] <= 0 or pct[2] <= 0:
        raise ConfigError(
            f"link_split {spec!r}: train, valid and test each need a positive percentage"
        )
    return pct  # type: ignore[return-value]


def random_link_split(
    edge_index: Tensor,
    num_nodes: int,
    percentages: tuple[float, float, float] = (85.0, 5.0, 10.0),
    seed: int = 0,
    num_neg_targets: int = 100,
    spec: str | None = None,
) -> LinkSplit:
    r"""Splits the undirected edges of a graph at random into train/valid/test positives and
    draws the fixed negatives of the held-out parts (see the module docstring).

    Sizes follow :class:`~torch_geometric.transforms.RandomLinkSplit`: with :math:`E` undirected
    edges, :math:`\lfloor bE/100 \rfloor` validation and :math:`\lfloor cE/100 \rfloor` test
    edges, and the rest for training when the percentages sum to 100 (else
    :math:`\lfloor aE/100 \rfloor`).

    Args:
        edge_index (Tensor): Edges :obj:`[2, E]` (either or both directions).
        num_nodes (int): Number of nodes :math:`N`.
        percentages (tuple): Train/valid/test percentages. (default: :obj:`(85, 5, 10)`)
        seed (int): Seed; the same seed always gives the same split.
        num_neg_targets (int): Negatives :math:`K` per held-out positive for the ranking
            metrics. (default: :obj:`100`)
        spec (str, optional): Name stored in :attr:`LinkSplit.spec` (default: ``"a/b/c"``).

    Returns:
        LinkSplit: Disjoint positives; negatives that are non-edges of the whole graph.
    """
    ei = canonical_undirected(edge_index, num_nodes, "link split: edge_index")
    edges = ei[:, ei[0] < ei[1]]
    num_edges = edges.size(1)
    a, b, c = (float(p) for p in percentages)
    n_valid = int(math.floor(b * num_edges / 100.0))
    n_test = int(math.floor(c * num_edges / 100.0))
    if abs(a + b + c - 100.0) < 1e-9:
        n_train = num_edges - n_valid - n_test
    else:
        n_train = int(math.floor(a * num_edges / 100.0))
    name = spec or "/".join(f"{p:g}" for p in (a, b, c))
    if min(n_train, n_valid, n_test) < 1:
        raise DataError(
            f"link split {name!r}: {num_edges} undirected edges give {n_train} train, {n_valid} "
            f"valid and {n_test} test edges; every part needs at least one"
        )
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(num_edges, generator=gen)
    edges = edges[:, perm]
    # orient every edge at random: row 0 is the source whose destination negatives corrupt
    flip = torch.rand(num_edges, generator=gen) < 0.5
    edges = torch.where(flip, edges.flip(0), edges)
    train = edges[:, :n_train]
    valid = edges[:, n_train : n_train + n_valid]
    test = edges[:, n_train + n_valid : n_train + n_valid + n_test]
    whole = EdgeSet(ei, num_nodes, "link split: edge_index")
    neg = sample_negative_pairs(n_valid + n_test, whole, gen, unique=True)
    targets = sample_negative_targets(
        torch.cat([valid[0], test[0]]), num_neg_targets, whole, gen
    )
    return LinkSplit(
        train=train,
        valid=valid,
        test=test,
        valid_neg=neg[:, :n_valid],
        test_neg=neg[:, n_valid:],
        valid_neg_targets=targets[:n_valid],
        test_neg_targets=targets[n_valid:],
        num_nodes=num_nodes,
        spec=name,
    )


def canonical_link_split(
    edge_splits: dict[str, dict[str, Tensor]], num_nodes: int, name: str = "graph"
) -> LinkSplit:
    r"""The dataset's own split in OGB's format: ``train`` with ``source_node`` and
    ``target_node`` :obj:`[E]`, ``valid`` and ``test`` with those and ``target_node_neg``
    :obj:`[E, K]` (``ogbl-citation2``: :math:`K = 1000`). The AUC negatives of a held-out
    positive :math:`(u, v)` are :math:`(u, w_1)`, its first negative destination.

    Args:
        edge_splits (dict): As :attr:`TextAttributedGraph.edge_splits`.
        num_nodes (int): Number of nodes :math:`N`.
        name (str): The dataset, named in error messages.
    """
    missing = [p for p in PARTS if p not in edge_splits]
    if missing:
        raise DataError(
            f"{name}: edge_splits lacks {missing}; a canonical link split needs "
            f"'train', 'valid' and 'test' (has {sorted(edge_splits)})"
        )
    pos, targets = {}, {}
    for part in PARTS:
        d = edge_splits[part]
        keys = ["source_node", "target_node"] + (["target_node_neg"] if part != "train" else [])
        lacking = [k for k in keys if k not in d]
        if lacking:
            raise DataError(f"{name}: edge_splits[{part!r}] lacks {lacking} (has {sorted(d)})")
        src, dst = torch.as_tensor(d["source_node"]), torch.as_tensor(d["target_node"])
        if src.dim() != 1 or src.shape != dst.shape:
            raise DataError(
                f"{name}: edge_splits[{part!r}] source_node {tuple(src.shape)} and target_node "
                f"{tuple(dst.shape)} must be 1-D of the same length"
            )
        pos[part] = torch.stack([src, dst])
        if part != "train":
            targets[part] = torch.as_tensor(d["target_node_neg"])
    split = LinkSplit(
        train=pos["train"],
        valid=pos["valid"],
        test=pos["test"],
        valid_neg=torch.stack([pos["valid"][0], targets["valid"][:, 0]])
        if targets["valid"].dim() == 2 and targets["valid"].size(1)
        else torch.empty(2, 0, dtype=torch.long),
        test_neg=torch.stack([pos["test"][0], targets["test"][:, 0]])
        if targets["test"].dim() == 2 and targets["test"].size(1)
        else torch.empty(2, 0, dtype=torch.long),
        valid_neg_targets=targets["valid"],
        test_neg_targets=targets["test"],
        num_nodes=num_nodes,
        spec="canonical",
        directed=True,
    )
    return split


def make_link_split(
    graph: TextAttributedGraph, spec: str = "auto", seed: int = 0, num_neg_targets: int = 100
) -> LinkSplit:
    r"""Builds the link split that :obj:`spec` names (see the module docstring).

    Args:
        graph (TextAttributedGraph): The graph.
        spec (str): ``"auto"``, ``"low"``, ``"high"``, ``"A/B/C"`` or ``"canonical"``.
        seed (int): Seed of a random split (unused by ``"canonical"``).
        num_neg_targets (int): Negatives per held-out positive of a random split (a canonical
            split keeps the dataset's own).

    Raises:
        ConfigError: For an unknown specification, or ``"canonical"`` on a graph without
            :attr:`edge_splits`.
    """
    s = str(spec).strip().lower()
    if s == "auto":
        s = "canonical" if graph.edge_splits else "low"
    pct = parse_link_split(s)
    if pct is None:
        if not graph.edge_splits:
            raise ConfigError(
                f"{graph.name} has no canonical link split (no edge_splits); use link_split "
                "low, high or percentages such as 85/5/10"
            )
        return canonical_link_split(graph.edge_splits, graph.num_nodes, graph.name)
    if num_neg_targets < 1:
        raise ConfigError(f"link_eval_negatives must be >= 1, got {num_neg_targets}")
    return random_link_split(graph.edge_index, graph.num_nodes, pct, seed, num_neg_targets, s)
