r"""Numerical faults: a non-finite loss or gradient stops training with its place and its likely
causes, instead of silently filling the model with NaN."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from leading.errors import NumericalError

__all__ = ["check_finite"]


def check_finite(value: Tensor, what: str, where: str, rates: str, precision: str,
                 checkpoint: Path | None = None) -> None:
    r"""Raises :class:`~leading.errors.NumericalError` unless every entry of :obj:`value` is
    finite.

    Args:
        value (Tensor): The loss or the gradient norm.
        what (str): Its name (``"loss"``, ``"gradient norm"``).
        where (str): The seed, stage and step.
        rates (str): The learning-rate flags in force, quoted as the first suspects.
        precision (str): The LM precision (an overflow in bf16 / fp16 is the second).
        checkpoint (Path, optional): The last checkpoint, named when it exists (kept).
    """
    if bool(torch.isfinite(value).all()):
        return
    kept = ""
    if checkpoint is not None and checkpoint.exists():
        kept = (f" The last good checkpoint, {checkpoint}, is kept: change the setting and rerun "
                "with --resume.")
    raise NumericalError(
        f"{where}: the {what} is {float(value.detach().float().max())}. Likely causes: a "
        f"learning rate too high ({rates}) or an overflow in reduced precision (LM precision "
        f"{precision}; try --precision fp32).{kept}"
    )
