r"""Seeded blocks that leave the caller's random state alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["seeded"]


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    r"""Runs the block with torch's CPU generator, and the generator of :obj:`device` when it
    is a CUDA device, seeded with :obj:`seed`; both are restored afterwards, so the block draws
    the same numbers wherever it runs and the caller's own sequence (a training run that is
    resumed from a checkpoint, say) does not move.

    Unlike :func:`torch.manual_seed`, other CUDA devices are neither seeded nor touched.

    Args:
        seed (int): The seed.
        device (torch.device or str, optional): The device the block computes on (default: CPU).
    """
    device = torch.device(device if device is not None else "cpu")
    cuda = device.type == "cuda"
    index = None
    if cuda:
        index = device.index if device.index is not None else torch.cuda.current_device()
    with torch.random.fork_rng(devices=[index] if cuda else []):
        torch.default_generator.manual_seed(int(seed))
        if cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(int(seed))
        yield
