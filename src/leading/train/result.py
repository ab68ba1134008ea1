r"""What a fine-tuning run returns, and the cost figures it reports."""

from __future__ import annotations

import resource
import statistics
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from leading.text.encoder import TextEncoder

__all__ = ["TrainResult", "cost_stats", "peak_rss_mb"]


def peak_rss_mb() -> float:
    r"""Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cost_stats(trainer: Any) -> dict[str, Any]:
    r"""The cost figures of a finished :class:`~leading.train.trainer.Trainer` run, per LM epoch:
    time (the epoch, and the median step: sampling, encoding, head, backward, optimiser,
    pipeline 2; the epoch also holds its set-up, pseudo-labels and the target draw), peak RSS,
    LM encodings per target and per node, pipeline 2's size, processes and bytes sent."""
    epochs = max(1, len(trainer.epoch_times))
    enc = sum(trainer.epoch_encodings) / epochs
    grad = sum(trainer.epoch_grad_encodings) / epochs
    steps = trainer.step_times
    return {
        "epoch_time_s": sum(trainer.epoch_times) / epochs,
        "step_time_s": statistics.median(steps) if steps else None,
        "peak_rss_mb": peak_rss_mb(),
        **trainer.task.stats(enc, grad),
        "encodings_per_node_per_epoch": enc / trainer.task.num_nodes,
        "refresh_batch_size": trainer.refresh_size,
        "steps_per_epoch": trainer.steps_per_epoch,
        "lm_epochs_run": len(trainer.epoch_times),
        "processes": trainer.world,
        "comm_bytes_per_step": getattr(trainer, "comm_bytes_per_step", 0.0),
    }


@dataclass
class TrainResult:
    r"""What a fine-tuning run returns.

    Args:
        encoder (TextEncoder): The LM at the best epoch.
        embeddings (Tensor): Every node encoded by that LM, :obj:`[N, d]`.
        best_epoch (int): Best epoch by the validation metric (0 = before any LM update).
        history (list[dict]): One row of metrics per epoch.
        stats (dict): Cost figures (time per epoch, peak RSS, LM encodings per node / target).
        e2e (dict): Metrics of the end-to-end model's own outputs over :obj:`embeddings` (after
            the head is refit on them, ``refit_head``), per part.
    """

    encoder: TextEncoder
    embeddings: Tensor
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    e2e: dict = field(default_factory=dict)
