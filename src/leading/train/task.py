r"""What a task supplies to the two-pipeline :class:`~leading.train.trainer.Trainer`.

The trainer owns the loop (prefill, head warm-up, LM epochs with pipeline 2, optimiser,
validation, model selection, early stopping, checkpoints, metrics); a :class:`Task` owns what
differs between tasks: which items an epoch visits and how they are batched, which nodes a batch
encodes with gradient, the loss on the head's outputs at those nodes, and the validation metrics.
Node classification (:class:`~leading.train.node.NodeTask`) and link prediction
(:class:`~leading.train.link.LinkTask`) are the two implementations.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["Task"]


class Task:
    r"""The task-specific hooks of the trainer.

    Attributes:
        name (str): Shown on the progress bar.
        select_metric (str): Validation metric of model selection (``valid_{select_metric}``).
        eval_parts (tuple[str, ...]): Parts reported after every epoch.
        edge_index (Tensor): The message-passing graph :obj:`[2, E]` of the head.
        num_nodes (int): Nodes :math:`N` of the graph.
        out_channels (int): Output size of the graph head.
    """

    name: str = "task"
    select_metric: str = "acc"
    eval_parts: tuple[str, ...] = ("valid", "test")
    edge_index: Tensor
    num_nodes: int
    out_channels: int

    @property
    def select_key(self) -> str:
        r"""The row key of model selection, e.g. ``"valid_acc"``."""
        return f"valid_{self.select_metric}"

    def build_modules(self, cfg: Any) -> dict[str, nn.Module]:
        r"""Trainable modules besides the graph head (built right after it, so that parameter
        initialisation draws in a fixed order), e.g. a link decoder."""
        return {}

    def setup(self, trainer: Any) -> None:
        r"""Called once the :class:`~leading.train.trainer.Trainer` (:obj:`trainer`) is built,
        before any training; the hooks below receive it too."""

    def set_epoch_budget(self, targets: int | None) -> None:
        r"""At most :obj:`targets` targets per LM epoch (:obj:`None`: all); a task with its own
        cap (link prediction's edges per epoch) ignores it."""

    def num_items(self) -> int:
        r"""Items (target nodes, training edges) one LM epoch visits."""
        raise NotImplementedError

    def warmup_batch(self) -> Any:
        r"""The full batch of one head warm-up step (LM frozen)."""
        raise NotImplementedError

    def epoch_batches(self, generator: torch.Generator, batch_size: int) -> list[Any]:
        r"""The batches of one LM epoch, in order."""
        raise NotImplementedError

    def batch_targets(self, batch: Any, generator: torch.Generator) -> tuple[Tensor, Any]:
        r"""The distinct node ids :obj:`[T]` a batch encodes with gradient (pipeline 1) and what
        :meth:`loss` needs besides the head's outputs at them (random choices, such as negative
        samples, from :obj:`generator`)."""
        raise NotImplementedError

    def loss(self, out: Tensor, info: Any, model: nn.ModuleDict) -> Tensor:
        r"""The loss from the head's outputs :obj:`[T, out_channels]` at the targets."""
        raise NotImplementedError

    def metrics(self, out: Tensor, parts: tuple[str, ...], model: nn.ModuleDict) -> dict:
        r"""``{part}_{metric}`` of the head's outputs :obj:`[N, out_channels]` over every node."""
        raise NotImplementedError

    def reencode_ids(self, head_kind: str) -> Tensor | None:
        r"""Nodes re-encoded for validation with ``eval_reencode`` (:obj:`None`: every node)."""
        return None

    def after_warmup(self, trainer: Any) -> None:
        r"""After the head warm-up, before the first LM epoch (and not on resume)."""

    def before_epoch(self, trainer: Any) -> None:
        r"""Before every LM epoch."""

    def record(self, staleness: Tensor) -> dict[str, float]:
        r"""Extra columns of an epoch's metrics row, from each memory row's staleness."""
        return {}

    def stats(self, encodings: float, grad_encodings: float) -> dict:
        r"""Task-specific cost figures from the mean LM encodings of an epoch."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
