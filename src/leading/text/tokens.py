r"""Tokenize every node text once and keep the token ids on disk.

Token ids of all nodes live in one ragged store (:class:`TokenizedTexts`: a flat id tensor plus
offsets), cached under a key that hashes the texts, the tokenizer (its full serialized form and
special tokens) and :obj:`max_length`. Changing any of them gives a new key, so a stale cache is
never read. Batches are padded to their own longest sequence (:meth:`TokenizedTexts.batch`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["TokenizedTexts", "tokenize", "tokenizer_fingerprint", "cache_dir"]


def cache_dir(explicit: str | Path | None = None) -> Path:
    r"""Token cache directory: :obj:`explicit`, else ``$LEADING_CACHE_DIR/tokens``, else
    ``~/.cache/leading/tokens``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("LEADING_CACHE_DIR")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "leading"
    return root / "tokens"


@dataclass
class TokenizedTexts:
    r"""Token ids of :obj:`N` texts in ragged form.

    Args:
        ids (Tensor): All token ids concatenated, :obj:`[sum_i len_i]`.
        offsets (Tensor): :obj:`[N + 1]`; text :obj:`i` is :obj:`ids[offsets[i]:offsets[i+1]]`.
        pad_id (int): Padding token id.
        padding_side (str): ``"right"`` (encoders) or ``"left"`` (decoder-only LMs).
    """

    ids: Tensor
    offsets: Tensor
    pad_id: int
    padding_side: str = "right"

    def __len__(self) -> int:
        return self.offsets.numel() - 1

    @property
    def lengths(self) -> Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def batch(self, node_ids: Tensor | Sequence[int]) -> tuple[Tensor, Tensor]:
        r"""Pads the texts of :obj:`node_ids` to their longest length.

        Returns:
            (Tensor, Tensor): :obj:`input_ids` and :obj:`attention_mask`, both :obj:`[B, T]`.
        """
        node_ids = torch.as_tensor(node_ids, dtype=torch.long).view(-1)
        starts, lens = self.offsets[node_ids], self.lengths[node_ids]
        width = int(lens.max()) if lens.numel() else 0
        pos = torch.arange(width).unsqueeze(0)
        mask = pos < lens.unsqueeze(1)
        if self.padding_side == "left":
            mask = mask.flip(1)
            src = starts.unsqueeze(1) + pos - (width - lens).unsqueeze(1)
        else:
            src = starts.unsqueeze(1) + pos
        input_ids = torch.full((node_ids.numel(), width), self.pad_id, dtype=torch.long)
        input_ids[mask] = self.ids[src[mask]]
        return input_ids, mask.long()

    def num_tokens(self, node_ids: Tensor | None = None) -> int:
        lens = self.lengths if node_ids is None else self.lengths[node_ids]
        return int(lens.sum())


def tokenizer_fingerprint(tokenizer) -> str:
    r"""A hash that changes whenever the tokenizer would map text to different ids."""
    h = hashlib.sha256()
    h.update(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # truncation/padding are call-time state that the tokenizer writes into its backend
        state = json.loads(backend.to_str())
        state.pop("truncation", None)
        state.pop("padding", None)
        h.update(json.dumps(state, sort_keys=True).encode())
    else:  # slow tokenizer: fall back to its vocabulary
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    h.update(json.dumps(tokenizer.all_special_tokens).encode())
    h.update(str(getattr(tokenizer, "model_max_length", "")).encode())
    return h.hexdigest()


def _texts_hash(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def tokenize(
    texts: Sequence[str],
    tokenizer,
    max_length: int,
    cache: str | Path | None | bool = None,
    padding_side: str | None = None,
    chunk_size: int = 10_000,
) -> TokenizedTexts:
    r"""Tokenizes :obj:`texts` (truncating to :obj:`max_length`, with special tokens) or reads
    the result from the on-disk cache.

    Args:
        texts (Sequence[str]): Node texts.
        tokenizer: A :mod:`transformers` tokenizer.
        max_length (int): Truncation length in tokens.
        cache (str or Path or bool, optional): Cache directory; :obj:`False` disables caching;
            :obj:`None` uses :func:`cache_dir`.
        padding_side (str, optional): Overrides the tokenizer's padding side.
    """
    side = padding_side or getattr(tokenizer, "padding_side", "right") or "right"
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        raise ValueError("tokenizer has no pad token; set one (e.g. the EOS token) first")
    path = None
    if cache is not False:
        key = hashlib.sha256(
            f"{_texts_hash(texts)}|{tokenizer_fingerprint(tokenizer)}|{max_length}".encode()
        ).hexdigest()[:32]
        path = cache_dir(cache if cache not in (None, True) else None) / f"{key}.pt"
        if path.exists():
            try:
                stored = torch.load(path, weights_only=True)
                return TokenizedTexts(stored["ids"], stored["offsets"], pad_id, side)
            except Exception:  # unreadable cache entry: recompute and overwrite
                pass
    pieces: list[Tensor] = []
    lengths: list[int] = []
    for start in range(0, len(texts), chunk_size):
        enc = tokenizer(
            list(texts[start : start + chunk_size]),
            truncation=True,
            max_length=max_length,
            add_special_tokens=True,
        )["input_ids"]
        for row in enc:
            pieces.append(torch.tensor(row, dtype=torch.int32))
            lengths.append(len(row))
    ids = torch.cat(pieces).long() if pieces else torch.zeros(0, dtype=torch.long)
    offsets = torch.zeros(len(lengths) + 1, dtype=torch.long)
    offsets[1:] = torch.tensor(lengths, dtype=torch.long).cumsum(0)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"ids": ids, "offsets": offsets}, tmp)
        os.replace(tmp, path)
    return TokenizedTexts(ids, offsets, pad_id, side)
