r"""Evaluation metrics."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["accuracy"]


def accuracy(logits_or_pred: Tensor, y: Tensor) -> float:
    r"""Fraction of correctly classified items.

    Args:
        logits_or_pred (Tensor): Either scores :obj:`[n, C]` (the arg-max is the prediction) or
            predicted class ids :obj:`[n]`.
        y (Tensor): True class ids :obj:`[n]` (an OGB-style :obj:`[n, 1]` is accepted).

    Returns:
        float: Accuracy in :obj:`[0, 1]`.

    Raises:
        ValueError: If the shapes do not match or there is nothing to score.
    """
    pred = torch.as_tensor(logits_or_pred)
    y = torch.as_tensor(y)
    if y.dim() == 2 and y.size(1) == 1:
        y = y.view(-1)
    if pred.dim() == 2:
        pred = pred.argmax(dim=-1)
    if pred.dim() != 1 or y.dim() != 1 or pred.numel() != y.numel():
        raise ValueError(
            f"accuracy: expected predictions [n] or logits [n, C] and labels [n], got "
            f"{tuple(torch.as_tensor(logits_or_pred).shape)} and {tuple(y.shape)}"
        )
    if y.numel() == 0:
        raise ValueError("accuracy: no items to score")
    return float((pred.to(y.device).long() == y.long()).sum()) / y.numel()
