r"""Open Graph Benchmark datasets with raw text: ``ogbn-arxiv``, ``ogbn-products``
(:mod:`.nodeproppred`) and ``ogbl-citation2`` (:mod:`.linkproppred`).

The graph, labels and splits are read from OGB's released raw files (the layout that the
``arxiv.zip``, ``products.zip`` and ``citation-v2.zip`` archives unpack to, read by :mod:`.raw`);
the node texts come from a separate file mapped to node ids through OGB's ``mapping/`` tables.
Expected files, URLs and text formats are listed in ``leading/data/datasets/README.md``.

Nothing here needs :obj:`ogb`, :obj:`pandas` or :obj:`torch_geometric`: the large integer tables
(``edge.csv.gz`` has 61.9M rows for ``ogbn-products``) are parsed block by block with numpy, with
an exact file/line error for any malformed row.
"""

from leading.data.datasets.ogb.linkproppred import load_ogbl_citation2, load_pt_split
from leading.data.datasets.ogb.nodeproppred import (
    load_ogbn_arxiv,
    load_ogbn_products,
    read_amazon_json,
)
from leading.data.datasets.ogb.raw import read_int_csv, read_titleabs

__all__ = [
    "load_ogbn_arxiv",
    "load_ogbn_products",
    "load_ogbl_citation2",
    "read_int_csv",
    "read_titleabs",
    "read_amazon_json",
    "load_pt_split",
]
