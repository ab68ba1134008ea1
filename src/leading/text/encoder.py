r"""The LM text encoder: a :class:`transformers.AutoModel` plus pooling, one vector per node
text."""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from leading.distributed import all_max, is_main
from leading.errors import ModelError
from leading.text.models import is_decoder_only, resolve_model
from leading.text.precision import resolve_precision
from leading.text.tokens import TokenizedTexts, tokenize

__all__ = ["TextEncoder", "merged_model", "pool"]

POOLINGS = ("cls", "mean", "last")


def pool(hidden: Tensor, attention_mask: Tensor, mode: str) -> Tensor:
    r"""Pools token states into one vector per sequence.

    Args:
        hidden (Tensor): Last hidden states :obj:`[B, T, d]`.
        attention_mask (Tensor): :obj:`[B, T]`, 1 for real tokens.
        mode (str): ``"cls"`` (first real token), ``"mean"`` (mean over real tokens), or ``"last"``
            (the last real token, whichever side the padding is on; decoder-only LMs).

    Returns:
        Tensor: :obj:`[B, d]`.
    """
    if mode == "cls":  # the first real token: position 0 unless the batch is left-padded
        first = attention_mask.long().argmax(dim=1)
        return hidden[torch.arange(hidden.size(0), device=hidden.device), first]
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    if mode == "mean":
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
    if mode == "last":
        pos = torch.arange(attention_mask.size(1), device=attention_mask.device)
        last = (attention_mask.bool() * pos).amax(dim=1)
        return hidden[torch.arange(hidden.size(0), device=hidden.device), last]
    raise ValueError(f"unknown pooling {mode!r}; expected one of {POOLINGS}")


def merged_model(model: nn.Module, inplace: bool = False) -> nn.Module:
    r"""The plain :mod:`transformers` model of :obj:`model`: :obj:`model` itself without
    :mod:`peft` adapters, else the base model with the adapters merged into its weights
    (``merge_and_unload``; same outputs, fully trainable as when loaded).

    Args:
        model (nn.Module): A model, wrapped by :mod:`peft` or not.
        inplace (bool): Merge into :obj:`model`'s own weights. Default: into a copy, leaving
            :obj:`model` alone.
    """
    peft = sys.modules.get("peft")  # never imported: no model can be a peft model
    if peft is None or not isinstance(model, peft.PeftModel):
        return model
    if not inplace:
        model = copy.deepcopy(model)
    with warnings.catch_warnings():
        # peft calls a transformers method that transformers 5 deprecates: not the user's concern
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        merged = model.merge_and_unload()
    merged.requires_grad_(True)
    return merged


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _accepts(model: nn.Module, arg: str) -> bool:
    if hasattr(model, "get_base_model"):  # a peft wrapper forwards **kwargs to the base model
        model = model.get_base_model()
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False
    return arg in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class TextEncoder(nn.Module):
    r"""Encodes node texts with a pretrained LM.

    Args:
        model (nn.Module): A :mod:`transformers` base model (``AutoModel``).
        tokenizer: Its tokenizer.
        pooling (str, optional): ``"cls"``, ``"mean"`` or ``"last"``; default ``"last"`` for
            decoder-only models and ``"mean"`` otherwise.
        max_length (int): Truncation length in tokens.
        bf16 (bool or str): Run the LM under bfloat16 autocast; a precision name
            (``"auto"``, ``"fp32"``, ``"bf16"``) is resolved for the model's device by
            :func:`~leading.text.precision.resolve_precision`.
        name (str): Name for logs and results.
        precision_reason (str, optional): Why :obj:`bf16` was chosen, for logs (default:
            ``"set explicitly"``, or the reason :func:`resolve_precision` gives for a name).

    Attributes:
        precision (str): ``"bf16"`` or ``"fp32"``, what the LM runs in.
        precision_reason (str): Why, e.g. ``"auto: CPU without AVX-512-BF16/AMX"``.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        pooling: str | None = None,
        max_length: int = 256,
        bf16: bool | str = False,
        name: str = "lm",
        precision_reason: str | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.decoder_only = is_decoder_only(model.config)
        if self.decoder_only:
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            if getattr(model.config, "pad_token_id", None) is None:
                model.config.pad_token_id = tokenizer.pad_token_id
        self.pooling = pooling or ("last" if self.decoder_only else "mean")
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; expected one of {POOLINGS}")
        self.max_length = int(max_length)
        if isinstance(bf16, str):
            used, reason = resolve_precision(bf16, _model_device(model))
            bf16, precision_reason = used == "bf16", precision_reason or reason
        self.bf16 = bool(bf16)
        self.precision_reason = precision_reason or "set explicitly"
        self.name = name
        #: Whether the LM is sharded over the ranks (:func:`leading.fsdp.shard_lm`).
        self.sharded = False

    @classmethod
    def from_pretrained(
        cls,
        name: str | os.PathLike,
        pooling: str | None = None,
        max_length: int = 256,
        precision: str | bool = "fp32",
        device: torch.device | str = "cpu",
        *,
        bf16: bool | None = None,
    ) -> TextEncoder:
        r"""Loads a model by local path, alias (``minilm``) or hub name onto :obj:`device`.

        Args:
            precision (str or bool): ``"auto"`` (bf16 autocast where :obj:`device` runs bf16
                natively, else fp32: :func:`~leading.text.precision.resolve_precision`),
                ``"fp32"`` or ``"bf16"``; a bool is bf16 (:obj:`True`) or fp32.
            bf16 (bool, optional): The former name of :obj:`precision` (bool only); given, it
                wins.
        """
        from transformers import AutoModel, AutoTokenizer

        if bf16 is not None:
            precision = bool(bf16)
        if isinstance(precision, bool):
            precision = "bf16" if precision else "fp32"
        used, reason = resolve_precision(precision, device)  # before loading: fails fast
        source = resolve_model(name)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModel.from_pretrained(source)
        except Exception as e:  # a damaged directory fails in many ways inside transformers
            raise ModelError(
                f"could not load model {str(name)!r} from {source} ({type(e).__name__}: {e}); "
                "a model directory needs config.json, the weights (model.safetensors or "
                "pytorch_model.bin) and the tokenizer files, as save_pretrained writes them"
            ) from None
        model.to(device)
        return cls(model, tokenizer, pooling, max_length, used == "bf16", name=str(name),
                   precision_reason=reason)

    @property
    def precision(self) -> str:
        r"""``"bf16"`` (bfloat16 autocast) or ``"fp32"``."""
        return "bf16" if self.bf16 else "fp32"

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, texts: Sequence[str], cache: str | Path | None | bool = None):
        r"""Tokenizes texts for this encoder (cached on disk, see :func:`tokenize`)."""
        return tokenize(texts, self.tokenizer, self.max_length, cache=cache)

    def autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        r"""Args:
            input_ids (Tensor): :obj:`[B, T]`.
            attention_mask (Tensor): :obj:`[B, T]`.

        Returns:
            Tensor: float32 embeddings :obj:`[B, d]`.
        """
        kwargs = {}
        if self.decoder_only and _accepts(self.model, "position_ids"):
            # positions count real tokens only, so a left-padded text is encoded exactly as it
            # would be alone (HF decoders number positions 0..T-1 whatever the padding)
            kwargs["position_ids"] = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)
        with self.autocast():
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
            hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
            return pool(hidden, attention_mask, self.pooling).float()

    def encode(self, tokens: TokenizedTexts, node_ids: Tensor) -> Tensor:
        r"""Encodes the texts of :obj:`node_ids` in one batch (gradients as the caller's mode)."""
        input_ids, mask = tokens.batch(node_ids)
        dev = self.device
        return self(input_ids.to(dev), mask.to(dev))

    @torch.no_grad()
    def encode_all(
        self,
        tokens: TokenizedTexts,
        node_ids: Tensor | None = None,
        batch_size: int = 64,
        progress: bool = True,
        desc: str = "encode",
    ) -> Tensor:
        r"""Encodes many texts without gradient, in batches sorted by length (little padding).

        Returns:
            Tensor: :obj:`[len(node_ids), d]` in the order of :obj:`node_ids` (all nodes if
            :obj:`None`).
        """
        if node_ids is None:
            node_ids = torch.arange(len(tokens))
        node_ids = torch.as_tensor(node_ids, dtype=torch.long)
        was_training = self.training
        self.eval()
        order = torch.argsort(tokens.lengths[node_ids], descending=True, stable=True)
        out = torch.empty(node_ids.numel(), self.hidden_size)
        bar = tqdm(
            total=tokens.num_tokens(node_ids),
            desc=desc,
            unit="tok",
            unit_scale=True,
            disable=not progress,
            leave=False,
        )
        batches = order.split(batch_size)
        for sel in batches:
            out[sel] = self.encode(tokens, node_ids[sel]).cpu()
            bar.update(tokens.num_tokens(node_ids[sel]))
        if self.sharded:  # FSDP: every rank runs the LM as often as the others (leading.fsdp)
            for _ in range(all_max(len(batches)) - len(batches)):
                self.encode(tokens, torch.zeros(1, dtype=torch.long))  # thrown away
        bar.close()
        self.train(was_training)
        return out

    def save_pretrained(self, path: str | Path) -> None:
        r"""Saves the LM and tokenizer so that ``AutoModel.from_pretrained(path)`` loads them
        (LoRA adapters merged into a copy of the weights; see :mod:`leading.text.lora`). A
        sharded LM (FSDP) is gathered onto rank 0, which writes it; every rank must call this."""
        if self.sharded:
            from leading.fsdp import full_state_dict

            state = full_state_dict(self.model)
            if is_main():
                self.model.save_pretrained(path, state_dict=state)
                self.tokenizer.save_pretrained(path)
            return
        merged_model(self.model).save_pretrained(path)
        self.tokenizer.save_pretrained(path)

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.model.parameters())
        return (
            f"{self.__class__.__name__}({self.name!r}, type={self.model.config.model_type}, "
            f"params={n / 1e6:.1f}M, dim={self.hidden_size}, pooling={self.pooling!r}, "
            f"max_length={self.max_length}, precision={self.precision!r})"
        )
