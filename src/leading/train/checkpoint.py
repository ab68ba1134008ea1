r"""What a training run leaves on disk: its checkpoint and its per-epoch metrics.

A checkpoint is written atomically (a temporary file, then a rename), so that a run killed while
saving never leaves a half-written one behind; :func:`load_checkpoint` reads it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["load_checkpoint", "save_checkpoint", "write_metrics"]


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    r"""Saves :obj:`state` to :obj:`path` atomically (via ``path.tmp`` and a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def load_checkpoint(path: str | Path) -> dict[str, Any] | None:
    r"""The state saved at :obj:`path`, or :obj:`None` when there is none."""
    path = Path(path)
    if not path.exists():
        return None
    return torch.load(path, weights_only=False)


def write_metrics(rows: list[dict[str, Any]], path: str | Path) -> None:
    r"""Writes one CSV row per dict of :obj:`rows` (the keys of the first row as the header;
    floats with 6 significant digits)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    lines = [",".join(keys)]
    lines += [",".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k]) for k in keys)
              for r in rows]
    path.write_text("\n".join(lines) + "\n")
