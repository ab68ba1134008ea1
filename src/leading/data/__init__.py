"""Text-attributed graphs: the data model, file readers, built-in datasets and splits."""

from leading.data.datasets import data_dir, load_dataset, synthetic_graph, write_synthetic
from leading.data.graph import TextAttributedGraph, canonical_undirected, check_split
from leading.data.link_splits import (
    LINK_SPLIT_PRESETS,
    LinkSplit,
    canonical_link_split,
    make_link_split,
    parse_link_split,
    random_link_split,
)
from leading.data.negative_sampling import EdgeSet, sample_negative_pairs, sample_negative_targets
from leading.data.readers import find_file, open_text, read_directory, read_tables
from leading.data.splits import make_split, per_class_split, ratio_split
from leading.data.store import NodeStore, TensorStore

__all__ = [
    "TextAttributedGraph",
    "canonical_undirected",
    "check_split",
    "load_dataset",
    "data_dir",
    "synthetic_graph",
    "write_synthetic",
    "read_directory",
    "read_tables",
    "open_text",
    "find_file",
    "make_split",
    "per_class_split",
    "ratio_split",
    "LINK_SPLIT_PRESETS",
    "LinkSplit",
    "parse_link_split",
    "random_link_split",
    "canonical_link_split",
    "make_link_split",
    "EdgeSet",
    "sample_negative_pairs",
    "sample_negative_targets",
    "NodeStore",
    "TensorStore",
]
