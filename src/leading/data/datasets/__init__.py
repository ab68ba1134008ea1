r"""Built-in datasets by name, and the data directory where downloaded ones live.

``load_dataset(name_or_dir)`` accepts a registered name (``cora``, ``pubmed``, ``ogbn-arxiv``,
``ogbn-products``, ``ogbl-citation2``), a synthetic graph ``synth:N[,key=value,...]``
(:mod:`.synthetic`, built in memory) or a path to a directory in the documented format.
Downloaded datasets live under ``--data-dir``, else ``$LEADING_DATA_DIR``, else
``~/.cache/leading/data``.

Modules: :mod:`.registry` (names to loaders, the data directory), :mod:`.download` (required
files and fetching them), :mod:`.text_files` (reading released text files), and one module or
package per source: :mod:`.cora`, :mod:`.pubmed`, :mod:`.ogb`, and :mod:`.synthetic`
(generated graphs of any size, in memory or streamed to a directory). Importing this package
registers every built-in loader.
"""

from leading.data.datasets.cora import load_cora
from leading.data.datasets.ogb import load_ogbl_citation2, load_ogbn_arxiv, load_ogbn_products
from leading.data.datasets.pubmed import load_pubmed
from leading.data.datasets.registry import DATASETS, data_dir, load_dataset, register
from leading.data.datasets.synthetic import (
    SynthSpec,
    load_synthetic,
    parse_synth_spec,
    synthetic_graph,
    write_synthetic,
)

__all__ = [
    "load_dataset",
    "data_dir",
    "DATASETS",
    "register",
    "load_cora",
    "load_pubmed",
    "load_ogbn_arxiv",
    "load_ogbn_products",
    "load_ogbl_citation2",
    "SynthSpec",
    "parse_synth_spec",
    "synthetic_graph",
    "load_synthetic",
    "write_synthetic",
]
