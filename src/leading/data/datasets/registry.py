r"""The registry of built-in datasets by name, and the data directory where downloaded ones live.

Downloaded datasets live under ``--data-dir``, else ``$LEADING_DATA_DIR``, else
``~/.cache/leading/data``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from leading.data.graph import TextAttributedGraph
from leading.data.readers import read_directory
from leading.errors import DataError

__all__ = ["load_dataset", "data_dir", "DATASETS", "register"]

Loader = Callable[[Path, bool], TextAttributedGraph]
DATASETS: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    r"""Registers a loader ``fn(root: Path, download: bool) -> TextAttributedGraph``."""

    def wrap(fn: Loader) -> Loader:
        DATASETS[name] = fn
        return fn

    return wrap


def data_dir(explicit: str | Path | None = None) -> Path:
    r"""The root directory for downloaded datasets."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("LEADING_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "leading" / "data"


def load_dataset(
    name_or_dir: str | Path, root: str | Path | None = None, download: bool = True
) -> TextAttributedGraph:
    r"""Loads a dataset by registered name or from a directory.

    The built-in loaders register themselves when :mod:`leading.data.datasets` is imported,
    which importing this module does first.

    Args:
        name_or_dir (str or Path): ``cora``, ``pubmed``, ``ogbn-arxiv``, ..., a synthetic graph
            ``synth:N[,key=value,...]`` (built in memory, see
            :mod:`leading.data.datasets.synthetic`) or a directory path.
        root (str or Path, optional): Data directory (see :func:`data_dir`).
        download (bool): Whether a missing dataset may be fetched from its canonical location.
    """
    key = str(name_or_dir).lower()
    if key.strip().startswith("synth:"):
        from leading.data.datasets.synthetic import load_synthetic

        return load_synthetic(str(name_or_dir))
    if key in DATASETS:
        return DATASETS[key](data_dir(root), download)
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        return read_directory(path)
    raise DataError(
        f"unknown dataset {str(name_or_dir)!r}: not a built-in name "
        f"({', '.join(sorted(DATASETS))}), not a synthetic graph (synth:N[,key=value,...]) "
        "and not a directory"
    )
