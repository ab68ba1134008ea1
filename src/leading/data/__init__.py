"""Text-attributed graphs: the data model, file readers, built-in datasets and splits."""

from leading.data.datasets import data_dir, load_dataset
from leading.data.graph import TextAttributedGraph
from leading.data.readers import read_directory, read_tables
from leading.data.splits import make_split, per_class_split, ratio_split

__all__ = [
    "TextAttributedGraph",
    "load_dataset",
    "data_dir",
    "read_directory",
    "read_tables",
    "make_split",
    "per_class_split",
    "ratio_split",
]
