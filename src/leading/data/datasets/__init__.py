r"""Built-in datasets by name, and the data directory where downloaded ones live.

``load_dataset(name_or_dir)`` accepts a registered name (``cora``, ``pubmed``, ``ogbn-arxiv``,
``ogbn-products``, ``ogbl-citation2``) or a path to a directory in the documented format.
Downloaded datasets live under ``--data-dir``, else ``$LEADING_DATA_DIR``, else
``~/.cache/leading/data``.

Modules: :mod:`.registry` (names to loaders, the data directory), :mod:`.download` (required
files and fetching them), :mod:`.text_files` (reading released text files), and one module or
package per source: :mod:`.cora`, :mod:`.pubmed`, :mod:`.ogb`. Importing this package registers
every built-in loader.
"""

from leading.data.datasets.cora import load_cora
from leading.data.datasets.ogb import load_ogbl_citation2, load_ogbn_arxiv, load_ogbn_products
from leading.data.datasets.pubmed import load_pubmed
from leading.data.datasets.registry import DATASETS, data_dir, load_dataset, register

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
]
