r"""The optimizer and learning-rate schedule shared by the fine-tuning trainers."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["build_optimizer"]


def build_optimizer(
    lm_params: Iterable[nn.Parameter],
    head_params: Iterable[nn.Parameter],
    cfg,
    steps_per_epoch: int,
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    r"""AdamW with two parameter groups, the LM's (``lr_lm``, ``weight_decay``) and the head's
    (``lr_head_finetune``, ``head_weight_decay``), and a schedule that warms the LM's learning
    rate up linearly over the first ``warmup_ratio`` of the optimizer steps of ``epochs`` epochs
    and then decays it linearly to 0; the head's stays constant.

    Returns:
        tuple: The optimizer (group 0: LM, group 1: head) and its scheduler.
    """
    optimizer = torch.optim.AdamW(
        [
            {"params": list(lm_params), "lr": cfg.lr_lm, "weight_decay": cfg.weight_decay},
            {
                "params": list(head_params),
                "lr": cfg.lr_head_finetune,
                "weight_decay": cfg.head_weight_decay,
            },
        ]
    )
    total = max(1, cfg.lm_epochs * math.ceil(steps_per_epoch / cfg.grad_accum))
    warm = max(1, int(cfg.warmup_ratio * total))

    def lm_lambda(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [lm_lambda, lambda _: 1.0])
    return optimizer, scheduler
