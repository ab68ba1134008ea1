r"""The tiny text-attributed graph and the tiny configuration that the training, run and bench tests
share (the fixtures ``tiny_graph``, ``tiny_config`` and ``tiny_dataset`` of ``conftest.py`` hand
them out).

The graph: :obj:`3 * per_class` nodes (36 by default), node :obj:`i` of class :obj:`i % 3`, its
text 3 to 5 words of its class and 2 common words, and edges to two nodes of its class and one
random node. The configuration: the paper's LEADING (equal pipeline batch sizes, no
pseudo-labels), small enough for that graph and a tiny random BERT on one CPU thread."""

from __future__ import annotations

import os

import torch

from leading.config import Config
from leading.data.graph import TextAttributedGraph

#: Words that give each class away, and words every class uses.
CLASS_WORDS = [
    ["graph", "neural", "network", "node", "edge"],
    ["protein", "cell", "gene", "dna", "enzyme"],
    ["stock", "market", "price", "trade", "bank"],
]
COMMON_WORDS = ["the", "a", "study", "of", "new", "results"]

#: The tiny graph's split: 4 training, 9 validation and 9 test nodes per class.
TINY_SPLIT = "per_class:4:9:9"


def tiny_graph(per_class: int = 12, labelled: bool = True, seed: int = 0) -> TextAttributedGraph:
    r"""Node :obj:`i` has class :obj:`i % 3` and a text of 3-5 words of its class and 2 common
    words in random order; it links to two nodes of its class (itself possibly: a self-loop,
    which the graph drops) and one random node. :obj:`labelled` ``False`` leaves the classes out
    of the graph (communities, for link prediction)."""
    g = torch.Generator().manual_seed(seed)
    n = 3 * per_class
    texts = []
    for i in range(n):
        k = int(torch.randint(3, 6, (1,), generator=g))
        words = [CLASS_WORDS[i % 3][j] for j in torch.randint(0, 5, (k,), generator=g).tolist()]
        words += [COMMON_WORDS[j] for j in torch.randint(0, 6, (2,), generator=g).tolist()]
        texts.append(" ".join(words[j] for j in torch.randperm(len(words), generator=g).tolist()))
    src, dst = [], []
    for i in range(n):
        same = torch.arange(i % 3, n, 3)
        for j in same[torch.randperm(same.numel(), generator=g)[:2]].tolist():
            src.append(i)
            dst.append(j)
        src.append(i)
        dst.append(int(torch.randint(0, n, (1,), generator=g)))
    if not labelled:
        return TextAttributedGraph(texts, torch.tensor([src, dst]), name="tiny")
    y = torch.arange(n) % 3
    return TextAttributedGraph(texts, torch.tensor([src, dst]), y, ["a", "b", "c"], name="tiny")


#: The settings of :func:`tiny_config`; :data:`TINY_LINK` adds those of ``task="link"``.
TINY = dict(
    # the paper's LEADING: equal pipeline batch sizes, no pseudo-labels
    refresh_fraction=None,
    pseudo_labels=0.0,
    prefill=True,
    epochs=2,
    head_epochs=5,
    batch_size=4,
    hidden=16,
    fanouts=[3, 2],
    eval_steps=20,
    max_length=16,
    pooling="mean",
    precision="fp32",
    split=TINY_SPLIT,
    seeds=1,
    downstream=["gcn"],
    progress=False,
)
TINY_LINK = dict(
    link_split="60/20/20",
    link_eval_negatives=10,
    hits_k=[1, 5],
    link_dim=8,
    link_edges_per_epoch=12,
)


def tiny_config(**changes) -> Config:
    r""":data:`TINY` (and :data:`TINY_LINK` for ``task="link"``) with :obj:`changes`; paths (the
    ``dataset``, ``lm`` or ``out_dir``) may be given as :class:`~pathlib.Path`."""
    values = {**TINY, **(TINY_LINK if changes.get("task") == "link" else {})}
    values.update({k: os.fspath(v) if isinstance(v, os.PathLike) else v
                   for k, v in changes.items()})
    return Config(**values)

