r"""Parameter-efficient fine-tuning of the text encoder with LoRA adapters (:mod:`peft`).

With ``--lora-r R`` (``R > 0``) the LM's weights stay frozen and only low-rank adapters
:math:`\Delta W = \frac{\alpha}{r} B A` on its attention and feed-forward projections are trained;
everything else in LEADING is unchanged (the trainer optimizes whatever requires gradient). The
fine-tuned encoder is saved twice: the adapter alone (``adapter/``, :mod:`peft` format) and the LM
with the adapter merged into its weights (``model/``, loadable by ``transformers.AutoModel``).

.. code-block:: python

    enc = TextEncoder.from_pretrained("minilm")
    apply_lora(enc, r=8, alpha=16.0)        # enc.model is now a peft.PeftModel
    trainable_fraction(enc)                 # (trainable, total, trainable / total)
    plain = merge_lora(enc)                 # a TextEncoder around the merged transformers model
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from leading.errors import ModelError
from leading.text.encoder import TextEncoder, merged_model

__all__ = [
    "DEFAULT_TARGET_MODULES",
    "apply_lora",
    "default_target_modules",
    "is_lora",
    "maybe_apply_lora",
    "merge_lora",
    "save_encoder",
    "trainable_fraction",
]

_BERT = ["query", "key", "value", "dense"]
_LLAMA = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

#: LoRA target modules (suffixes of module names) per ``config.model_type``: the attention
#: projections and the feed-forward layers. Other architectures fall back to :mod:`peft`'s own
#: defaults, if it has any, else ``--lora-target-modules`` must be given.
DEFAULT_TARGET_MODULES: dict[str, list[str]] = {
    **{t: _BERT for t in ("bert", "roberta", "xlm-roberta", "camembert", "electra")},
    "distilbert": ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"],
    "deberta": ["in_proj", "dense"],
    "deberta-v2": ["query_proj", "key_proj", "value_proj", "dense"],
    "mpnet": ["q", "k", "v", "o", "dense"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    **{t: _LLAMA for t in ("llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2")},
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
}


def is_lora(model: nn.Module | TextEncoder) -> bool:
    r"""Whether :obj:`model` (or a :class:`TextEncoder`'s model) is wrapped by :mod:`peft`.

    Args:
        model (nn.Module or TextEncoder): A model or an encoder.
    """
    if isinstance(model, TextEncoder):
        model = model.model
    peft = sys.modules.get("peft")  # never imported: no model can be a peft model
    return peft is not None and isinstance(model, peft.PeftModel)


def _module_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def _matches(name: str, target: str) -> bool:
    return name == target or name.endswith("." + target)


def default_target_modules(model: nn.Module) -> list[str]:
    r"""The LoRA target modules of :obj:`model`'s architecture.

    Args:
        model (nn.Module): A :mod:`transformers` model (reads ``model.config.model_type``).

    Raises:
        ModelError: for an architecture without known defaults.
    """
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type in DEFAULT_TARGET_MODULES:
        return list(DEFAULT_TARGET_MODULES[model_type])
    try:
        from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as peft_defaults
    except ImportError:  # pragma: no cover
        peft_defaults = {}
    if peft_defaults.get(model_type):
        return list(peft_defaults[model_type])
    raise ModelError(
        f"no default LoRA target modules for model type {model_type!r}; pass them with "
        f"--lora-target-modules (Python: lora_target_modules=[...]), e.g. among the linear "
        f"layers of this model: {_linear_names(model)}"
    )


def _linear_names(model: nn.Module) -> list[str]:
    r"""Distinct last components of the names of the model's linear layers."""
    from transformers.pytorch_utils import Conv1D

    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, m in model.named_modules()
            if name and isinstance(m, nn.Linear | Conv1D)
        }
    )


def apply_lora(
    encoder: TextEncoder,
    r: int,
    alpha: float,
    dropout: float = 0.0,
    target_modules: list[str] | None = None,
) -> TextEncoder:
    r"""Wraps :obj:`encoder.model` with LoRA adapters in place (``peft.get_peft_model``): the
    LM's own weights are frozen, the adapters are trainable.

    Args:
        encoder (TextEncoder): The encoder; its :obj:`model` becomes a ``peft.PeftModel``.
        r (int): Rank of the adapters (>= 1).
        alpha (float): LoRA scaling numerator (the update is scaled by :obj:`alpha / r`).
        dropout (float): Dropout on the adapters' input (training mode only).
        target_modules (list[str], optional): Module name suffixes to adapt; default: the
            attention and feed-forward projections of the architecture
            (:data:`DEFAULT_TARGET_MODULES`). The pooler of BERT-like models, whose output the
            encoder never reads, is left out of the defaults.

    Returns:
        TextEncoder: :obj:`encoder` itself.

    Raises:
        ModelError: when the encoder already has adapters, when a target module matches no
            module of the model, or for an architecture without default targets.
    """
    from peft import LoraConfig, get_peft_model

    if r < 1:
        raise ModelError(f"LoRA rank must be >= 1, got {r}")
    model = encoder.model
    if is_lora(model):
        raise ModelError(f"{encoder.name}: the encoder already has LoRA adapters")
    names = _module_names(model)
    exclude: list[str] = []
    if target_modules is None:
        targets = default_target_modules(model)
        exclude = [
            n for n in names if "pooler" in n.split(".") and any(_matches(n, t) for t in targets)
        ]
    else:
        targets = list(target_modules)
        if not targets:
            raise ModelError("lora_target_modules is empty; give at least one module name")
        missing = [t for t in targets if not any(_matches(n, t) for n in names)]
        if missing:
            raise ModelError(
                f"LoRA target module(s) {missing} match no module of {encoder.name} "
                f"({getattr(getattr(model, 'config', None), 'model_type', '?')}); its linear "
                f"layers are named {_linear_names(model)}"
            )
    options: dict[str, Any] = dict(
        r=int(r),
        lora_alpha=float(alpha),
        lora_dropout=float(dropout),
        target_modules=targets,
        bias="none",
    )
    if exclude and "exclude_modules" in LoraConfig.__dataclass_fields__:
        options["exclude_modules"] = exclude
    from transformers.pytorch_utils import Conv1D

    conv1d = any(
        isinstance(m, Conv1D)
        for n, m in model.named_modules()
        if n and any(_matches(n, t) for t in targets)
    )
    if conv1d:  # GPT-2 style layers store their weight transposed
        options["fan_in_fan_out"] = True
    with warnings.catch_warnings():
        # peft calls a transformers method that transformers 5 deprecates: not the user's concern
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        try:
            encoder.model = get_peft_model(model, LoraConfig(**options))
        except ValueError as e:  # peft's NoMatchingPeftModuleError is a ValueError
            raise ModelError(f"cannot add LoRA adapters to {encoder.name}: {e}") from e
    return encoder


def trainable_fraction(module: nn.Module) -> tuple[int, int, float]:
    r"""Counts parameters.

    Args:
        module (nn.Module): Any module (a :class:`TextEncoder` included).

    Returns:
        tuple: ``(trainable, total, trainable / total)``; shared parameters count once.
    """
    trainable = total = 0
    for p in module.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total, trainable / max(1, total)


def merge_lora(encoder: TextEncoder, inplace: bool = False) -> TextEncoder:
    r"""An encoder whose model is the plain :mod:`transformers` model with the adapters merged
    into its weights (``merge_and_unload``): same outputs, no :mod:`peft` needed to load it.

    Args:
        encoder (TextEncoder): An encoder, with or without adapters (without: returned as is).
        inplace (bool): Merge into :obj:`encoder` itself (no copy of the weights; the encoder
            then holds the merged model). Default: merge a copy and leave :obj:`encoder` alone.

    Returns:
        TextEncoder: The merged encoder (:obj:`encoder` itself when :obj:`inplace`).
    """
    if not is_lora(encoder):
        return encoder
    merged = merged_model(encoder.model, inplace=inplace)
    if inplace:
        encoder.model = merged
        return encoder
    return TextEncoder(
        merged, encoder.tokenizer, encoder.pooling, encoder.max_length, encoder.bf16, encoder.name,
        precision_reason=encoder.precision_reason,
    )


def save_encoder(encoder: TextEncoder, directory: str | Path, inplace: bool = False) -> None:
    r"""Saves a fine-tuned encoder: ``directory/model/`` (the LM with any adapters merged, and its
    tokenizer; ``transformers.AutoModel.from_pretrained`` loads it) and, with LoRA,
    ``directory/adapter/`` (``peft.PeftModel.from_pretrained(base_model, path)`` loads it).

    Args:
        encoder (TextEncoder): The encoder.
        directory (str or Path): The parent directory (e.g. a seed's run directory).
        inplace (bool): Merge the adapters into :obj:`encoder` itself rather than into a copy
            (saves memory when the encoder is not trained further; its outputs are unchanged).
    """
    directory = Path(directory)
    if is_lora(encoder):
        encoder.model.save_pretrained(directory / "adapter")
        encoder.tokenizer.save_pretrained(directory / "adapter")
        encoder = merge_lora(encoder, inplace=inplace)
    encoder.save_pretrained(directory / "model")


def maybe_apply_lora(
    encoder: TextEncoder,
    r: int,
    alpha: float = 16.0,
    dropout: float = 0.0,
    target_modules: list[str] | None = None,
    seed: int | None = None,
    log: bool = True,
) -> dict[str, Any]:
    r"""Adds LoRA adapters when :obj:`r > 0` (see :func:`apply_lora`), prints the share of
    trainable parameters, and returns the counts for a run's results.

    Args:
        encoder (TextEncoder): The encoder to fine-tune (wrapped in place). An encoder that
            already has adapters is left as is.
        r (int): Rank of the adapters; :obj:`0` adds none (full fine-tuning).
        alpha (float): LoRA scaling numerator. (default: :obj:`16.0`)
        dropout (float): Dropout on the adapters' input. (default: :obj:`0.0`)
        target_modules (list[str], optional): Module name suffixes to adapt; default: the
            architecture's (:data:`DEFAULT_TARGET_MODULES`).
        seed (int, optional): Seed of the adapters' random initialization (the global random
            state is left untouched); default: the current random state.
        log (bool): Print one line about the adapters.

    Returns:
        dict: ``lora_r``, ``trainable``, ``total`` and ``fraction`` of the encoder's parameters.
    """
    if r > 0 and not is_lora(encoder):
        with torch.random.fork_rng(enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            apply_lora(encoder, r, alpha, dropout, target_modules)
    trainable, total, fraction = trainable_fraction(encoder)
    if log and r > 0:
        print(
            f"LoRA r={r}: {100 * fraction:.2f}% of {total / 1e6:.1f}M parameters "
            f"trainable ({trainable:,})"
        )
    return {"lora_r": r, "trainable": trainable, "total": total, "fraction": fraction}
