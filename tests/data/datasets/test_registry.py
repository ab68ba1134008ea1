r"""The registry of built-in datasets, and the public names each data package re-exports."""

from __future__ import annotations

import importlib

import pytest

from leading.data.datasets import DATASETS, load_dataset
from leading.errors import DataError


def test_builtin_loaders_are_registered_on_import():
    assert sorted(DATASETS) == ["cora", "ogbl-citation2", "ogbn-arxiv", "ogbn-products", "pubmed"]


def test_unknown_name_lists_the_builtin_names(tmp_path):
    with pytest.raises(DataError, match=r"not a built-in name \(cora, ogbl-citation2, .*pubmed\)"):
        load_dataset("no-such-dataset", root=tmp_path, download=False)


@pytest.mark.parametrize(
    "package", ["leading.data", "leading.data.datasets", "leading.data.datasets.ogb"]
)
def test_all_names_resolve(package: str):
    mod = importlib.import_module(package)
    assert mod.__all__ and len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name
