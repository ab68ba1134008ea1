r"""Figures over seeds: mean ± standard deviation (:func:`summarize`) and the plain-text table
that ``leading run`` prints (:func:`format_table`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_table", "summarize"]


def summarize(values: Sequence[float]) -> dict[str, Any]:
    r"""Mean and standard deviation of repeated runs.

    The standard deviation is the *sample* one (:obj:`ddof=1`) for two or more values, and
    :obj:`0.0` for a single value.

    Returns:
        dict: ``mean``, ``std`` and ``values`` (a list of floats).
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("summarize: no values")
    n = len(vals)
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "values": vals}


def format_table(
    results: Mapping[str, Mapping[str, Sequence[float]]], scale: float = 100.0, decimals: int = 1
) -> str:
    r"""Formats a plain-text table of ``mean ± std`` with one row per method and one column per
    GNN.

    Args:
        results (Mapping): :obj:`results[method][gnn]` is a list of scores (accuracies in
            :obj:`[0, 1]`), or a :func:`summarize` dict.
        scale (float): Factor applied before printing; :obj:`100` prints percentages.
            (default: :obj:`100.0`)
        decimals (int): Digits after the decimal point. (default: :obj:`1`)

    Returns:
        str: The table; a missing (method, GNN) cell reads ``-``.
    """
    columns: list[str] = []
    for per_gnn in results.values():
        columns += [g for g in per_gnn if g not in columns]
    header = ["method"] + columns
    rows = [header]
    for method, per_gnn in results.items():
        row = [str(method)]
        for g in columns:
            if g not in per_gnn:
                row.append("-")
                continue
            v = per_gnn[g]
            s = v if isinstance(v, Mapping) else summarize(v)
            row.append(f"{s['mean'] * scale:.{decimals}f} ± {s['std'] * scale:.{decimals}f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        " | ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
