r"""The text-attributed graph (TAG): one object that holds node texts, structure, labels and
splits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from leading.errors import DataError

__all__ = ["TextAttributedGraph", "canonical_undirected", "check_split"]


def canonical_undirected(edge_index: Tensor, num_nodes: int, source: str = "edge_index") -> Tensor:
    r"""Returns the symmetric form of an edge list: both directions of every edge, with self-loops
    and duplicates removed, sorted by (row, col).

    Args:
        edge_index (Tensor): Edges of shape :obj:`[2, E]` (directed or undirected, any order).
        num_nodes (int): Number of nodes :math:`N`; every id must lie in :obj:`[0, N)`.
        source (str): Where the edges came from, named in error messages.

    Returns:
        Tensor: :obj:`[2, E']` long tensor with :obj:`E'` even (each undirected edge twice).
    """
    edge_index = torch.as_tensor(edge_index)
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise DataError(
            f"{source}: expected an edge tensor of shape [2, E], got {tuple(edge_index.shape)}"
        )
    if edge_index.numel() and (edge_index.is_floating_point() or edge_index.is_complex()):
        if not torch.equal(edge_index, edge_index.round()):
            raise DataError(f"{source}: node ids must be integers")
    edge_index = edge_index.long()
    if edge_index.numel():
        bad = (edge_index < 0) | (edge_index >= num_nodes)
        if bool(bad.any()):
            col = int(bad.any(0).nonzero()[0])
            u, v = edge_index[:, col].tolist()
            raise DataError(
                f"{source}: edge #{col} ({u}, {v}) refers to a node id outside [0, {num_nodes})"
            )
    row, col = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    keep = row != col
    key = torch.unique(row[keep] * num_nodes + col[keep])  # sorted and deduplicated
    return torch.stack([key // num_nodes, key % num_nodes])


@dataclass
class TextAttributedGraph:
    r"""A graph whose nodes carry raw text.

    The edge list is stored symmetric (both directions), without self-loops or duplicates,
    whatever form it was given in; :attr:`num_edges` counts undirected edges.

    Args:
        texts (Sequence[str]): One text per node, :obj:`N` strings.
        edge_index (Tensor): Edges :obj:`[2, E]`, node ids in :obj:`[0, N)`.
        y (Tensor, optional): Integer class labels :obj:`[N]`, or :obj:`None` (unlabelled graph).
        class_names (Sequence[str], optional): Name of each class; defaults to ``"0", "1", ...``.
        splits (Mapping[str, Tensor], optional): Named node-id sets such as
            ``train``/``valid``/``test``.
        name (str): Name used in logs and results.
        edge_splits (dict, optional): Link-prediction splits, e.g. OGB's
            ``{"valid": {"source_node": ..., "target_node": ..., "target_node_neg": ...}}``.
        empty_text (str, optional): Policy for empty texts. :obj:`None` (default) raises; a string
            replaces every empty text with it (explicit opt-in placeholder).
    """

    texts: list[str]
    edge_index: Tensor
    y: Tensor | None = None
    class_names: list[str] | None = None
    splits: dict[str, Tensor] = field(default_factory=dict)
    name: str = "graph"
    empty_text: str | None = None
    edge_splits: dict[str, dict[str, Tensor]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.texts, str) or not isinstance(self.texts, Sequence):
            raise DataError(f"{self.name}: texts must be a sequence of strings")
        self.texts = list(self.texts)
        for i, t in enumerate(self.texts):
            if not isinstance(t, str):
                raise DataError(
                    f"{self.name}: node {i} text must be a string, got {type(t).__name__}"
                )
            if not t.strip():
                if self.empty_text is None:
                    raise DataError(
                        f"{self.name}: node {i} has an empty text (pass empty_text='...' to "
                        "replace empty texts with a placeholder)"
                    )
                self.texts[i] = self.empty_text
        n = len(self.texts)
        self.edge_index = canonical_undirected(self.edge_index, n, f"{self.name}: edge_index")
        if self.y is not None:
            self.y = _check_labels(self.y, n, self.name)
        if self.class_names is None and self.y is not None:
            self.class_names = [str(c) for c in range(int(self.y.max()) + 1 if n else 0)]
        if self.class_names is not None:
            self.class_names = [str(c) for c in self.class_names]
            if self.y is not None and n and int(self.y.max()) >= len(self.class_names):
                node = int((self.y >= len(self.class_names)).nonzero()[0])
                raise DataError(
                    f"{self.name}: node {node} has label {int(self.y[node])} but only "
                    f"{len(self.class_names)} class names were given"
                )
        self.splits = {k: check_split(v, n, k, self.name) for k, v in dict(self.splits).items()}

    # ------------------------------------------------------------------ sizes
    @property
    def num_nodes(self) -> int:
        return len(self.texts)

    @property
    def num_edges(self) -> int:
        r"""Number of undirected edges."""
        return self.edge_index.size(1) // 2

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.class_names is not None else 0

    def degree(self) -> Tensor:
        return torch.bincount(self.edge_index[0], minlength=self.num_nodes)

    def with_splits(self, splits: Mapping[str, Tensor]) -> TextAttributedGraph:
        r"""Returns a shallow copy of this graph with :obj:`splits` replaced."""
        return TextAttributedGraph(
            self.texts,
            self.edge_index,
            self.y,
            self.class_names,
            dict(splits),
            self.name,
            edge_splits=self.edge_splits,
        )

    def mask(self, split: str) -> Tensor:
        r"""Boolean :obj:`[N]` mask of a named split."""
        if split not in self.splits:
            raise KeyError(f"{self.name}: no split named {split!r} (have {sorted(self.splits)})")
        m = torch.zeros(self.num_nodes, dtype=torch.bool)
        m[self.splits[split]] = True
        return m

    # ------------------------------------------------------------- conversion
    def to_pyg(self):
        r"""Converts to :class:`torch_geometric.data.Data` (texts in :obj:`data.text`, splits as
        boolean :obj:`{name}_mask` attributes)."""
        from torch_geometric.data import Data

        data = Data(edge_index=self.edge_index.clone(), num_nodes=self.num_nodes)
        data.text = list(self.texts)
        if self.y is not None:
            data.y = self.y.clone()
        if self.class_names is not None:
            data.class_names = list(self.class_names)
        for k in self.splits:
            data[f"{k}_mask"] = self.mask(k)
        data.name = self.name
        return data

    @classmethod
    def from_pyg(cls, data, name: str | None = None, **kwargs) -> TextAttributedGraph:
        r"""Builds a graph from :class:`torch_geometric.data.Data` that carries a :obj:`text`
        list."""
        texts = getattr(data, "text", None) or getattr(data, "raw_texts", None)
        if texts is None:
            raise DataError("from_pyg: the Data object has no `text` (or `raw_texts`) attribute")
        splits = {}
        for key in data.keys():
            if key.endswith("_mask") and isinstance(data[key], Tensor):
                splits[key[: -len("_mask")]] = data[key].nonzero().view(-1)
        return cls(
            texts=list(texts),
            edge_index=data.edge_index,
            y=getattr(data, "y", None),
            class_names=getattr(data, "class_names", None),
            splits=splits,
            name=name or getattr(data, "name", None) or "graph",
            **kwargs,
        )

    def __repr__(self) -> str:
        splits = ", ".join(f"{k}={v.numel()}" for k, v in self.splits.items())
        return (
            f"{self.__class__.__name__}(name={self.name!r}, num_nodes={self.num_nodes}, "
            f"num_edges={self.num_edges}, num_classes={self.num_classes}"
            + (f", splits=[{splits}]" if splits else "")
            + ")"
        )


def _check_labels(y, n: int, name: str) -> Tensor:
    y = torch.as_tensor(y)
    if y.dim() == 2 and y.size(1) == 1:  # OGB stores labels as [N, 1]
        y = y.view(-1)
    if y.dim() != 1 or y.numel() != n:
        raise DataError(f"{name}: expected {n} labels (one per node), got shape {tuple(y.shape)}")
    if y.is_floating_point():
        bad = ~torch.isfinite(y) | (y != y.round())
        if bool(bad.any()):
            node = int(bad.nonzero()[0])
            raise DataError(f"{name}: node {node} has non-integer label {float(y[node])}")
    elif y.dtype == torch.bool:
        raise DataError(f"{name}: labels must be integers, got booleans")
    y = y.long()
    if bool((y < 0).any()):
        node = int((y < 0).nonzero()[0])
        raise DataError(f"{name}: node {node} has negative label {int(y[node])}")
    return y


def check_split(idx, n: int, split: str, name: str) -> Tensor:
    r"""Validates one split and returns its node ids.

    Args:
        idx: Node ids (any integer-valued sequence or tensor, any shape) or a boolean mask of
            length :obj:`n`.
        n (int): Number of nodes; every id must lie in :obj:`[0, n)`, and none may repeat.
        split (str): The split's name, for error messages.
        name (str): Where the split came from (graph or file), for error messages.

    Returns:
        Tensor: 1-D long tensor of node ids (a mask becomes the ids of its :obj:`True` entries).
    """
    idx = torch.as_tensor(idx)
    if idx.dtype == torch.bool:
        if idx.numel() != n:
            raise DataError(f"{name}: split {split!r} mask has {idx.numel()} entries, expected {n}")
        return idx.nonzero().view(-1)
    idx = idx.reshape(-1)
    if idx.is_floating_point():
        bad = ~torch.isfinite(idx) | (idx != idx.round())
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            raise DataError(
                f"{name}: split {split!r} entry #{i} is {float(idx[i])}, "
                "expected an integer node id"
            )
    idx = idx.long()
    out = (idx < 0) | (idx >= n)
    if bool(out.any()):
        raise DataError(
            f"{name}: split {split!r} contains node id {int(idx[out][0])} outside [0, {n})"
        )
    uniq, counts = torch.unique(idx, return_counts=True)
    if bool((counts > 1).any()):
        raise DataError(
            f"{name}: split {split!r} lists node {int(uniq[counts > 1][0])} more than once"
        )
    return idx
