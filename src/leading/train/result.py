r"""What a fine-tuning run returns, and the cost figures it reports."""

from __future__ import annotations

import resource
from dataclasses import dataclass, field

from torch import Tensor

from leading.text.encoder import TextEncoder

__all__ = ["TrainResult", "peak_rss_mb"]


def peak_rss_mb() -> float:
    r"""Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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
