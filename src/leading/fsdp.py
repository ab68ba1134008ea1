r"""FSDP for an LM that does not fit one device: ``--fsdp`` under several processes.

With ``--fsdp`` (and :math:`W > 1` processes) the LM's parameters, gradients and AdamW state
are sharded over the ranks by PyTorch's FSDP2 (:func:`torch.distributed.fsdp.fully_shard`):
each transformer block (the model's ``_no_split_modules``) is one unit, gathered for its
forward and backward and freed after, so a rank holds about :math:`1/W` of the LM plus one
block. The graph head stays replicated (:func:`~leading.distributed.average_gradients`), and so
does the memory bank (or ``--memory-layout sharded``).

FSDP asks every rank to run the LM the same number of times (each forward gathers the
blocks), so :meth:`~leading.text.encoder.TextEncoder.encode_all` pads a rank that has fewer
batches with throw-away ones (:func:`~leading.distributed.all_max`). Checkpoints hold the full
(unsharded) LM and optimizer state, written by rank 0 and loaded by every rank, which keeps
them independent of how the LM was sharded.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from leading.distributed import is_main, is_sharded, world_size
from leading.errors import ConfigError

__all__ = ["FullState", "clip_grad_norm", "full_state_dict", "load_module_state", "shard_lm",
           "to_full"]


def shard_lm(encoder: nn.Module, lora: bool = False) -> None:
    r"""Shards :obj:`encoder`'s LM over the ranks in place (FSDP2): each block named in the
    model's ``_no_split_modules`` (``BertLayer``, ``LlamaDecoderLayer``, ...) is one unit, the
    rest (the root) another. Sets ``encoder.sharded``.

    Args:
        encoder (TextEncoder): The encoder; its parameters become ``DTensor`` shards, so build
            the optimizer after this call.
        lora (bool): Whether LoRA adapters are on (not supported with FSDP yet).

    Raises:
        ConfigError: for one process, or with LoRA.
    """
    if lora:
        raise ConfigError("--fsdp with LoRA (--lora-r > 0) is not supported; LoRA already "
                          "keeps the trainable state small: drop one of the two")
    if world_size() < 2:
        raise ConfigError("--fsdp shards the LM over several processes; launch with "
                          "--nproc N (or torchrun --nproc-per-node N) with N > 1, or drop --fsdp")
    from torch.distributed.fsdp import fully_shard

    model = encoder.model
    blocks = set(getattr(model, "_no_split_modules", None) or ())
    for module in model.modules():
        if module is not model and type(module).__name__ in blocks:
            fully_shard(module)
    # the root too is freed after its forward (FSDP keeps it gathered by default), so that
    # no-grad encoding leaves nothing gathered and the state-dict calls see the shards
    fully_shard(model, reshard_after_forward=True)
    encoder.sharded = True


@torch.no_grad()
def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> Tensor:
    r"""Clips the gradients of :obj:`params` to a total 2-norm of :obj:`max_norm` and returns
    the norm before clipping, as :func:`torch.nn.utils.clip_grad_norm_`, which it is when no
    parameter is sharded. With FSDP shards (each rank holds a part of those gradients) the
    norm is over the whole gradients, every rank's parts, plus the replicated ones.

    Args:
        params (list[Parameter]): Parameters, sharded or not.
        max_norm (float): The largest norm (``inf``: no clipping).
    """
    sharded = [p.grad for p in params if p.grad is not None and is_sharded(p.grad)]
    if not sharded:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    plain = [p.grad for p in params if p.grad is not None and not is_sharded(p.grad)]
    total = torch.nn.utils.get_total_norm(sharded).full_tensor() ** 2
    if plain:
        total = total + torch.nn.utils.get_total_norm(plain).to(total.device) ** 2
    total = total.sqrt()
    coef = float(max_norm) / (float(total) + 1e-6)
    if coef < 1.0:
        for g in (*sharded, *plain):
            g.mul_(coef)
    return total


def to_full(state: dict[str, Any]) -> dict[str, Any]:
    r""":obj:`state` (a module's ``state_dict``) with every sharded tensor gathered into a full
    CPU tensor; every rank must call it (one all-gather per sharded tensor, in key order)."""
    return {k: v.full_tensor().cpu() if is_sharded(v) else v for k, v in state.items()}


def full_state_dict(module: nn.Module) -> dict[str, Tensor]:
    r"""The full (unsharded) ``state_dict`` of :obj:`module` on the CPU of rank 0, an empty
    dict on the other ranks; every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(
        module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_module_state(module: nn.Module, state: dict[str, Tensor]) -> None:
    r"""Loads :obj:`state` into :obj:`module`: its own ``state_dict`` (shards included), or a
    full one (:func:`to_full`, a checkpoint's) into a sharded module, every rank taking its
    part."""
    if not any(is_sharded(p) for p in module.parameters()) or any(
            is_sharded(v) for v in state.values()):
        module.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(module, state, options=StateDictOptions(full_state_dict=True))


class FullState:
    r"""The checkpoint entry of a sharded LM, the modules trained with it and their optimizer:
    ``state_dict()`` gathers the full model and optimizer state onto rank 0 (every rank calls
    it; the others get empty dicts), ``load_state_dict()`` gives every rank its shards of it.

    Args:
        modules (nn.Module): Every module whose parameters :obj:`optimizer` updates (e.g. a
            :class:`~torch.nn.ModuleDict` of the encoder and the head).
        optimizer (Optimizer): Their optimizer.
    """

    def __init__(self, modules: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.modules, self.optimizer = modules, optimizer

    def state_dict(self) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_optimizer_state_dict,
        )

        model = full_state_dict(self.modules)
        optim = get_optimizer_state_dict(self.modules, self.optimizer, options=StateDictOptions(
            full_state_dict=True, cpu_offload=True))
        return {"model": model, "optimizer": optim} if is_main() else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        set_model_state_dict(self.modules, state["model"],
                             options=StateDictOptions(full_state_dict=True))
        # parameters that never had a gradient (an unused pooler) have no optimizer state
        set_optimizer_state_dict(self.modules, self.optimizer, state["optimizer"],
                                 options=StateDictOptions(full_state_dict=True, strict=False))
