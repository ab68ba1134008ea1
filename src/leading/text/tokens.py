r"""Tokenize every node text once and keep the token ids on disk.

Token ids of all nodes live in one ragged store (:class:`TokenizedTexts`: a flat id tensor plus
offsets). The ids are stored compactly, as ``uint16`` when the tokenizer's vocabulary fits in
16 bits (BERT-style vocabularies of ~30k, GPT-2's ~50k) and ``int32`` otherwise; only the ids of
one batch are ever widened to ``int64`` (:meth:`TokenizedTexts.batch`). At ogbn-products scale
(2.45M nodes, 128 tokens) that is 0.63 GB instead of 2.5 GB.

The store is cached under a key that hashes the texts, the tokenizer (its full serialized form and
special tokens) and :obj:`max_length`. Changing any of them gives a new key, so a stale cache is
never read. The cache entry is built once in a streaming pass (chunk by chunk, each chunk's ids
appended to a file on disk, with a progress bar), moved into place atomically (an interrupted
build leaves no entry behind) and memory-mapped on this and every later call (privately: the
file is never written), so the ids are paged in from disk on demand instead of being held in
the process's memory. No step holds all ids as ``int64``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

__all__ = ["TokenizedTexts", "tokenize", "tokenizer_fingerprint", "cache_dir", "storage_dtype"]

#: Bumped whenever the layout of a cache entry changes (part of the cache key).
_FORMAT = "tokens-v2"

# torch.uint16 exists from torch 2.3 on; before that the compact dtype is int32.
_UINT16 = getattr(torch, "uint16", None)
_NUMPY_DTYPE = {torch.int32: np.int32, torch.int64: np.int64}
if _UINT16 is not None:
    _NUMPY_DTYPE[_UINT16] = np.uint16


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
        ids (Tensor): All token ids concatenated, :obj:`[sum_i len_i]`, of any integer dtype
            (``uint16`` or ``int32`` from :func:`tokenize`; possibly memory-mapped from disk).
        offsets (Tensor): :obj:`[N + 1]`; text :obj:`i` is :obj:`ids[offsets[i]:offsets[i+1]]`.
        pad_id (int): Padding token id.
        padding_side (str): ``"right"`` (encoders) or ``"left"`` (decoder-only LMs).
    """

    ids: Tensor
    offsets: Tensor
    pad_id: int
    padding_side: str = "right"

    def __post_init__(self):
        if isinstance(self.ids, np.ndarray):
            self.ids = torch.from_numpy(self.ids)
        if isinstance(self.offsets, np.ndarray):
            self.offsets = torch.from_numpy(self.offsets)
        self.offsets = self.offsets.long()

    def __len__(self) -> int:
        return self.offsets.numel() - 1

    @property
    def lengths(self) -> Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    @property
    def dtype(self) -> torch.dtype:
        r"""The storage dtype of the ids (batches are always ``int64``)."""
        return self.ids.dtype

    @property
    def nbytes(self) -> int:
        r"""Bytes taken by the stored ids and offsets."""
        return (
            self.ids.numel() * self.ids.element_size()
            + self.offsets.numel() * self.offsets.element_size()
        )

    def _lengths_of(self, node_ids: Tensor) -> Tensor:
        return self.offsets[node_ids + 1] - self.offsets[node_ids]

    def batch(self, node_ids: Tensor | Sequence[int]) -> tuple[Tensor, Tensor]:
        r"""Pads the texts of :obj:`node_ids` to their longest length. Only the gathered ids are
        widened to ``int64``.

        Returns:
            (Tensor, Tensor): :obj:`input_ids` and :obj:`attention_mask`, both :obj:`[B, T]`
            and ``int64``.
        """
        node_ids = torch.as_tensor(node_ids, dtype=torch.long).view(-1)
        starts, lens = self.offsets[node_ids], self._lengths_of(node_ids)
        width = int(lens.max()) if lens.numel() else 0
        pos = torch.arange(width).unsqueeze(0)
        mask = pos < lens.unsqueeze(1)
        if self.padding_side == "left":
            mask = mask.flip(1)
            src = starts.unsqueeze(1) + pos - (width - lens).unsqueeze(1)
        else:
            src = starts.unsqueeze(1) + pos
        input_ids = torch.full((node_ids.numel(), width), self.pad_id, dtype=torch.long)
        input_ids[mask] = self.ids[src[mask]].long()
        return input_ids, mask.long()

    def num_tokens(self, node_ids: Tensor | None = None) -> int:
        if node_ids is None:
            return int(self.offsets[-1] - self.offsets[0])
        return int(self._lengths_of(torch.as_tensor(node_ids, dtype=torch.long)).sum())


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


def storage_dtype(tokenizer) -> torch.dtype:
    r"""The dtype token ids of :obj:`tokenizer` are stored in: ``uint16`` when every id is below
    65536 (``len(tokenizer)``, which counts added tokens, is at most 65536), else ``int32``.

    :func:`tokenize` still checks the ids it sees and widens to ``int32`` if one does not fit."""
    try:
        size = len(tokenizer)
    except TypeError:
        size = getattr(tokenizer, "vocab_size", None)
    if _UINT16 is not None and isinstance(size, int) and 0 < size <= 1 << 16:
        return _UINT16
    return torch.int32


def _texts_hash(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def _fits(dtype: torch.dtype, lo: int, hi: int) -> bool:
    info = np.iinfo(_NUMPY_DTYPE[dtype])
    return info.min <= lo and hi <= info.max


class _IdSink:
    r"""Where :func:`tokenize` appends each chunk's ids: a raw file on disk (:obj:`path` given)
    or a list of compact in-memory arrays. Widens the ids written so far to ``int32`` if a chunk
    has an id the current dtype cannot hold."""

    def __init__(self, dtype: torch.dtype, path: str | Path | None):
        self.dtype, self.count = dtype, 0
        self.path = Path(path) if path is not None else None
        self.chunks: list[np.ndarray] = []
        self.file = open(path, "xb") if path is not None else None

    def append(self, flat: np.ndarray) -> None:
        if flat.size and not _fits(self.dtype, int(flat.min()), int(flat.max())):
            self._widen()
        flat = flat.astype(_NUMPY_DTYPE[self.dtype], copy=False)
        if self.file is not None:
            flat.tofile(self.file)
        else:
            self.chunks.append(flat)
        self.count += flat.size

    def _widen(self, block: int = 1 << 22) -> None:
        old, self.dtype = _NUMPY_DTYPE[self.dtype], torch.int32
        if self.file is None:
            self.chunks = [c.astype(np.int32) for c in self.chunks]
            return
        self.file.close()
        wide = self.path.with_name(self.path.name + ".wide")
        try:
            with open(wide, "wb") as out:
                if self.count:
                    narrow = np.memmap(self.path, dtype=old, mode="r", shape=(self.count,))
                    for start in range(0, self.count, block):
                        narrow[start : start + block].astype(np.int32).tofile(out)
                    del narrow
            os.replace(wide, self.path)
        finally:
            wide.unlink(missing_ok=True)
        self.file = open(self.path, "ab")

    def finish(self) -> Tensor:
        r"""The ids: memory-mapped from the file, or the chunks concatenated."""
        if self.file is None:
            flat = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int32)
            self.chunks = []
            return torch.from_numpy(flat.astype(_NUMPY_DTYPE[self.dtype], copy=False))
        self.file.close()
        if not self.count:
            return torch.zeros(0, dtype=self.dtype)
        return torch.from_file(str(self.path), shared=False, size=self.count, dtype=self.dtype)

    def close(self) -> None:
        if self.file is not None and not self.file.closed:
            self.file.close()


def _load(path: Path, num_texts: int) -> tuple[Tensor, Tensor]:
    r"""Memory-maps a cache entry; raises if it is unreadable or inconsistent."""
    stored = torch.load(path, mmap=True, weights_only=True, map_location="cpu")
    ids, offsets = stored["ids"], stored["offsets"]
    if (
        ids.dim() != 1
        or ids.dtype not in _NUMPY_DTYPE
        or offsets.dtype != torch.long
        or offsets.shape != (num_texts + 1,)
        or int(offsets[0]) != 0
        or int(offsets[-1]) != ids.numel()
        or not bool((offsets[1:] >= offsets[:-1]).all())
    ):
        raise ValueError(f"inconsistent token cache entry {path}")
    return ids, offsets


def tokenize(
    texts: Sequence[str],
    tokenizer,
    max_length: int,
    cache: str | Path | None | bool = None,
    padding_side: str | None = None,
    chunk_size: int = 10_000,
    progress: bool = True,
) -> TokenizedTexts:
    r"""Tokenizes :obj:`texts` (truncating to :obj:`max_length`, with special tokens) or reads
    the result from the on-disk cache.

    The ids are stored as :func:`storage_dtype` (``uint16`` or ``int32``). With a cache, they are
    written to disk chunk by chunk as they are tokenized and then memory-mapped, both on this
    first call and on every later one; no array of all ids is ever held in memory. Without one
    (:obj:`cache=False`) the compact ids are kept in memory.

    Args:
        texts (Sequence[str]): Node texts.
        tokenizer: A :mod:`transformers` tokenizer.
        max_length (int): Truncation length in tokens.
        cache (str or Path or bool, optional): Cache directory; :obj:`False` disables caching;
            :obj:`None` uses :func:`cache_dir`.
        padding_side (str, optional): Overrides the tokenizer's padding side.
        chunk_size (int): Texts tokenized per call of the tokenizer.
        progress (bool): Show a progress bar (texts per second and time left) when tokenizing
            takes more than a couple of seconds.
    """
    side = padding_side or getattr(tokenizer, "padding_side", "right") or "right"
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        raise ValueError("tokenizer has no pad token; set one (e.g. the EOS token) first")
    path = None
    if cache is not False:
        key = hashlib.sha256(
            f"{_FORMAT}|{_texts_hash(texts)}|{tokenizer_fingerprint(tokenizer)}|{max_length}"
            .encode()
        ).hexdigest()[:32]
        path = cache_dir(cache if cache not in (None, True) else None) / f"{key}.pt"
        if path.exists():
            try:
                return TokenizedTexts(*_load(path, len(texts)), pad_id, side)
            except Exception:  # unreadable cache entry: recompute and overwrite
                pass
        path.parent.mkdir(parents=True, exist_ok=True)

    # temporary files next to the entry (same file system, so os.replace is atomic); their
    # names never match an entry, and they are removed whatever happens
    raw = tmp = None
    if path is not None:
        unique = f"{os.getpid()}.{secrets.token_hex(4)}"
        raw = path.with_name(f"{path.stem}.{unique}.ids.tmp")
        tmp = path.with_name(f"{path.stem}.{unique}.pt.tmp")
    sink = _IdSink(storage_dtype(tokenizer), raw)
    try:
        offsets = _stream(texts, tokenizer, max_length, chunk_size, sink, progress)
        ids = sink.finish()
        if path is None:
            return TokenizedTexts(ids, offsets, pad_id, side)
        torch.save({"ids": ids, "offsets": offsets}, tmp)
        del ids
        os.replace(tmp, path)
        tmp = None
    finally:
        sink.close()
        for leftover in (raw, tmp):
            if leftover is not None:
                Path(leftover).unlink(missing_ok=True)
    return TokenizedTexts(*_load(path, len(texts)), pad_id, side)


def _stream(texts, tokenizer, max_length, chunk_size, sink: _IdSink, progress: bool) -> Tensor:
    r"""Tokenizes :obj:`texts` chunk by chunk into :obj:`sink`; returns the offsets."""
    offsets = torch.zeros(len(texts) + 1, dtype=torch.long)
    bar = tqdm(total=len(texts), desc="tokenizing", unit="text", disable=not progress, delay=2.0)
    with bar:
        for start in range(0, len(texts), chunk_size):
            chunk = list(texts[start : start + chunk_size])
            enc = tokenizer(
                chunk,
                truncation=True,
                max_length=max_length,
                add_special_tokens=True,
                return_attention_mask=False,  # only the ids are kept
                return_token_type_ids=False,
            )["input_ids"]
            if len(enc) != len(chunk):
                raise RuntimeError(f"the tokenizer returned {len(enc)} rows for {len(chunk)}")
            lens = np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))
            flat = itertools.chain.from_iterable(enc)
            sink.append(np.fromiter(flat, dtype=np.int64, count=int(lens.sum())))
            end = start + len(chunk)
            offsets[start + 1 : end + 1] = offsets[start] + torch.from_numpy(lens).cumsum(0)
            bar.update(len(chunk))
    return offsets
