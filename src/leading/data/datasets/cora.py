r"""Cora with raw text (2,708 papers, 5,278 undirected edges, 7 classes), shipped inside the
package.

Provenance and licence: ``leading/data/builtin/README.md``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from leading.data.datasets.registry import register
from leading.data.graph import TextAttributedGraph
from leading.data.readers import read_directory

__all__ = ["load_cora", "cora_dir"]


def cora_dir() -> Path:
    return Path(str(resources.files("leading") / "data" / "builtin" / "cora"))


@register("cora")
def load_cora(root: Path | None = None, download: bool = False) -> TextAttributedGraph:
    r"""Loads the packaged Cora (no download, :obj:`root` is unused)."""
    return read_directory(cora_dir(), name="cora")
