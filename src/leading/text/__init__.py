r"""Node texts to vectors: the LM encoder (:mod:`~leading.text.encoder`), its LoRA adapters
(:mod:`~leading.text.lora`), tokenization with an on-disk cache (:mod:`~leading.text.tokens`),
model aliases (:mod:`~leading.text.models`), the LM's precision
(:mod:`~leading.text.precision`) and the shallow TF-IDF / bag-of-words features
(:mod:`~leading.text.shallow`)."""

from leading.text.encoder import TextEncoder, merged_model, pool
from leading.text.lora import (
    DEFAULT_TARGET_MODULES,
    apply_lora,
    default_target_modules,
    is_lora,
    maybe_apply_lora,
    merge_lora,
    save_encoder,
    trainable_fraction,
)
from leading.text.models import ALIASES, is_decoder_only, resolve_model
from leading.text.precision import native_bf16, resolve_precision
from leading.text.shallow import SHALLOW_KINDS, shallow_features
from leading.text.tokens import TokenizedTexts, cache_dir, tokenize, tokenizer_fingerprint

__all__ = [
    "ALIASES",
    "DEFAULT_TARGET_MODULES",
    "SHALLOW_KINDS",
    "TextEncoder",
    "TokenizedTexts",
    "apply_lora",
    "cache_dir",
    "default_target_modules",
    "is_decoder_only",
    "is_lora",
    "maybe_apply_lora",
    "merge_lora",
    "merged_model",
    "native_bf16",
    "pool",
    "resolve_model",
    "resolve_precision",
    "save_encoder",
    "shallow_features",
    "tokenize",
    "tokenizer_fingerprint",
    "trainable_fraction",
]
