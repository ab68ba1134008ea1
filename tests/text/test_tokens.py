import copy
import hashlib
import os
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

import leading.text.tokens as tokens_module
from leading.text.tokens import (
    TokenizedTexts,
    cache_dir,
    storage_dtype,
    tokenize,
    tokenizer_fingerprint,
)


def cached_files(root):
    return sorted(p.name for p in (root / "tokens").glob("*.pt"))


def forbid_tokenizer_calls(monkeypatch, tokenizer):
    def fail(*args, **kwargs):
        raise AssertionError("the tokenizer was called although the cache should have been hit")

    monkeypatch.setattr(type(tokenizer), "__call__", fail)


def test_cache_dir_follows_env(cache_root, tmp_path, monkeypatch):
    assert cache_dir() == cache_root / "tokens"
    assert cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("LEADING_CACHE_DIR")
    assert cache_dir().parts[-3:] == (".cache", "leading", "tokens")


def test_tokenize_matches_tokenizer_and_truncates(bert_tokenizer, texts):
    tok = tokenize(texts, bert_tokenizer, max_length=8, cache=False)
    ref = bert_tokenizer(texts, truncation=True, max_length=8)["input_ids"]
    assert len(tok) == len(texts)
    assert tok.lengths.tolist() == [len(r) for r in ref]
    for i, r in enumerate(ref):
        assert tok.ids[tok.offsets[i] : tok.offsets[i + 1]].tolist() == r
    assert max(tok.lengths.tolist()) == 8  # the long texts were truncated ...
    assert tok.ids[tok.offsets[3] - 1] == bert_tokenizer.sep_token_id  # ... keeping [SEP]
    assert tok.num_tokens() == sum(len(r) for r in ref)
    assert tok.num_tokens(torch.tensor([0, 1])) == len(ref[0]) + len(ref[1])
    assert tok.pad_id == bert_tokenizer.pad_token_id and tok.padding_side == "right"


def test_small_chunks_give_the_same_result(bert_tokenizer, texts):
    a = tokenize(texts, bert_tokenizer, 16, cache=False)
    b = tokenize(texts, bert_tokenizer, 16, cache=False, chunk_size=2)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.offsets, b.offsets)


def test_cache_hit_reads_from_disk(bert_tokenizer, texts, cache_root, monkeypatch):
    first = tokenize(texts, bert_tokenizer, 16)
    files = cached_files(cache_root)
    assert len(files) == 1
    mtime = (cache_root / "tokens" / files[0]).stat().st_mtime_ns
    forbid_tokenizer_calls(monkeypatch, bert_tokenizer)
    second = tokenize(list(texts), bert_tokenizer, 16)
    assert torch.equal(first.ids, second.ids) and torch.equal(first.offsets, second.offsets)
    assert cached_files(cache_root) == files
    assert (cache_root / "tokens" / files[0]).stat().st_mtime_ns == mtime
    # the padding side is applied at load time, not stored in the cache
    third = tokenize(texts, bert_tokenizer, 16, padding_side="left")
    assert third.padding_side == "left" and torch.equal(third.ids, first.ids)


def test_cache_false_writes_nothing_and_explicit_dir(bert_tokenizer, texts, cache_root, tmp_path):
    tokenize(texts, bert_tokenizer, 16, cache=False)
    assert not (cache_root / "tokens").exists()
    tokenize(texts, bert_tokenizer, 16, cache=tmp_path / "mine")
    assert len(list((tmp_path / "mine").glob("*.pt"))) == 1
    assert not (cache_root / "tokens").exists()


def test_cache_invalidated_by_max_length(bert_tokenizer, texts, cache_root):
    a = tokenize(texts, bert_tokenizer, 16)
    b = tokenize(texts, bert_tokenizer, 6)
    assert len(cached_files(cache_root)) == 2
    assert int(b.lengths.max()) == 6 and int(a.lengths.max()) > 6


def test_cache_invalidated_by_texts(bert_tokenizer, texts, cache_root):
    a = tokenize(texts, bert_tokenizer, 16)
    changed = texts[:-1] + ["a different last text"]
    b = tokenize(changed, bert_tokenizer, 16)
    assert len(cached_files(cache_root)) == 2
    assert a.lengths[-1] != b.lengths[-1]
    # splitting texts differently at the boundary is a different input, not a hit
    tokenize(["ab", "c"], bert_tokenizer, 16)
    tokenize(["a", "bc"], bert_tokenizer, 16)
    assert len(cached_files(cache_root)) == 4


def test_cache_invalidated_by_added_token(bert_tokenizer, cache_root, monkeypatch):
    texts = ["zzqq is a new word", "plain words"]
    a = tokenize(texts, bert_tokenizer, 16)
    other = copy.deepcopy(bert_tokenizer)
    other.add_tokens(["zzqq"])
    assert tokenizer_fingerprint(other) != tokenizer_fingerprint(bert_tokenizer)
    b = tokenize(texts, other, 16)
    assert len(cached_files(cache_root)) == 2
    assert other.convert_tokens_to_ids("zzqq") in b.ids.tolist()
    assert not torch.equal(a.ids, b.ids)


def test_cache_invalidated_by_lowercasing(minilm_path, bert_tokenizer, cache_root):
    cased = AutoTokenizer.from_pretrained(minilm_path, do_lower_case=False)
    texts = ["Graph Neural Networks", "Hello World"]
    a = tokenize(texts, bert_tokenizer, 16)
    b = tokenize(texts, cased, 16)
    assert len(cached_files(cache_root)) == 2
    assert not torch.equal(a.ids, b.ids)


def test_fingerprint_ignores_call_time_state(bert_tokenizer, minilm_path):
    fresh = AutoTokenizer.from_pretrained(minilm_path)
    before = tokenizer_fingerprint(bert_tokenizer)
    assert before == tokenizer_fingerprint(fresh)
    bert_tokenizer(["x " * 50], truncation=True, max_length=5, padding="max_length")
    bert_tokenizer.padding_side = "left"
    assert tokenizer_fingerprint(bert_tokenizer) == before


def test_corrupt_cache_entry_is_recomputed(bert_tokenizer, texts, cache_root):
    a = tokenize(texts, bert_tokenizer, 16)
    (path,) = (cache_root / "tokens").glob("*.pt")
    # a new file in its place: `a` memory-maps the old one, which must not change under it
    path.unlink()
    path.write_bytes(b"not a torch file")
    b = tokenize(texts, bert_tokenizer, 16)
    assert torch.equal(a.ids, b.ids)
    assert torch.load(path, weights_only=True)["offsets"].tolist() == a.offsets.tolist()


def test_tokenizer_without_pad_token(gpt2_tokenizer):
    assert gpt2_tokenizer.pad_token is None
    with pytest.raises(ValueError, match="no pad token"):
        tokenize(["a"], gpt2_tokenizer, 8, cache=False)


# ------------------------------------------------------------------ batches
@pytest.mark.parametrize("side", ["right", "left"])
def test_batch_equals_tokenizer_padding(bert_tokenizer, texts, side):
    bert_tokenizer.padding_side = side
    tok = tokenize(texts, bert_tokenizer, 12, cache=False)
    assert tok.padding_side == side
    order = [3, 0, 1]
    input_ids, mask = tok.batch(torch.tensor(order))
    ref = bert_tokenizer(
        [texts[i] for i in order], truncation=True, max_length=12, padding=True,
        return_tensors="pt",
    )
    assert torch.equal(input_ids, ref["input_ids"])
    assert torch.equal(mask, ref["attention_mask"])


def test_dynamic_padding_to_the_longest_in_batch(bert_tokenizer, texts):
    tok = tokenize(texts, bert_tokenizer, 64, cache=False)
    lens = tok.lengths
    ids, mask = tok.batch([0, 1, 3])
    width = int(lens[[0, 1, 3]].max())
    assert ids.shape == mask.shape == (3, width)
    assert width < int(lens.max())  # not padded to the global longest, nor to max_length
    assert mask.sum(1).tolist() == lens[[0, 1, 3]].tolist()
    ids, mask = tok.batch([1])
    assert ids.shape == (1, int(lens[1])) and bool(mask.all())


def test_right_and_left_padding_content():
    # hand-made ragged store: texts [5, 6, 7], [8], [9, 10]
    tok = TokenizedTexts(torch.tensor([5, 6, 7, 8, 9, 10]), torch.tensor([0, 3, 4, 6]), pad_id=0)
    ids, mask = tok.batch([1, 0, 2])
    assert ids.tolist() == [[8, 0, 0], [5, 6, 7], [9, 10, 0]]
    assert mask.tolist() == [[1, 0, 0], [1, 1, 1], [1, 1, 0]]
    left = TokenizedTexts(tok.ids, tok.offsets, pad_id=-1, padding_side="left")
    ids, mask = left.batch(torch.tensor([1, 0, 2]))
    assert ids.tolist() == [[-1, -1, 8], [5, 6, 7], [-1, 9, 10]]
    assert mask.tolist() == [[0, 0, 1], [1, 1, 1], [0, 1, 1]]
    assert mask.dtype == torch.long
    ids, mask = left.batch([])
    assert ids.shape == (0, 0)


# ------------------------------------------------------------------ compact storage
def old_batch(tok, node_ids):
    r"""The implementation of :meth:`TokenizedTexts.batch` before the compact store (int64 ids),
    kept as the reference the current one must match exactly."""
    ids = tok.ids.long()
    lengths = tok.offsets[1:] - tok.offsets[:-1]
    node_ids = torch.as_tensor(node_ids, dtype=torch.long).view(-1)
    starts, lens = tok.offsets[node_ids], lengths[node_ids]
    width = int(lens.max()) if lens.numel() else 0
    pos = torch.arange(width).unsqueeze(0)
    mask = pos < lens.unsqueeze(1)
    if tok.padding_side == "left":
        mask = mask.flip(1)
        src = starts.unsqueeze(1) + pos - (width - lens).unsqueeze(1)
    else:
        src = starts.unsqueeze(1) + pos
    input_ids = torch.full((node_ids.numel(), width), tok.pad_id, dtype=torch.long)
    input_ids[mask] = ids[src[mask]]
    return input_ids, mask.long()


def word_tokenizer(size: int, lie_about_size: bool = False):
    r"""A word-level tokenizer whose vocabulary is ``[PAD] [UNK] w2 ... w{size-1}``; with
    :obj:`lie_about_size`, ``len()`` claims 100 tokens while the ids go up to :obj:`size`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, **{f"w{i}": i for i in range(2, size)}}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()

    class Lying(PreTrainedTokenizerFast):
        def __len__(self):
            return 100

    cls = Lying if lie_about_size else PreTrainedTokenizerFast
    return cls(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")


def mapped_file(tensor) -> str | None:
    r"""The file whose memory mapping holds :obj:`tensor`'s data, from ``/proc/self/maps``."""
    ptr = tensor.data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        if lo <= ptr < hi:
            return fields[5] if len(fields) == 6 else None
    return None


def count_tokenizer_calls(monkeypatch, tokenizer, fail_at: int | None = None) -> list[int]:
    r"""Counts the tokenizer's calls; with :obj:`fail_at`, that call (1-based) raises."""
    calls, call = [], type(tokenizer).__call__

    def spy(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == fail_at:
            raise KeyboardInterrupt("interrupted")
        return call(self, *args, **kwargs)

    monkeypatch.setattr(type(tokenizer), "__call__", spy)
    return calls


def all_files(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_storage_dtype_follows_the_vocabulary(bert_tokenizer, texts):
    assert len(bert_tokenizer) == 30522
    assert storage_dtype(bert_tokenizer) == torch.uint16
    tok = tokenize(texts, bert_tokenizer, 16, cache=False)
    assert tok.dtype == tok.ids.dtype == torch.uint16
    assert tokenize(texts, bert_tokenizer, 16).dtype == torch.uint16  # cached path too
    assert storage_dtype(word_tokenizer(1 << 16)) == torch.uint16  # ids 0 .. 65535 fit
    big = word_tokenizer(70_000)
    assert storage_dtype(big) == torch.int32
    words = ["w2 w65535 w65536 w69999", "w69998", "w3 w4"]
    ref = big(words)["input_ids"]
    assert max(max(r) for r in ref) == 69_999
    for cache in (False, None):
        tok = tokenize(words, big, 8, cache=cache)
        assert tok.dtype == torch.int32
        assert tok.batch([0, 1, 2])[0].tolist() == [r + [0] * (4 - len(r)) for r in ref]


@pytest.mark.parametrize("cache", [False, None])
def test_ids_beyond_the_announced_vocabulary_widen_the_store(cache):
    lying = word_tokenizer(70_000, lie_about_size=True)
    assert storage_dtype(lying) == torch.uint16
    words = ["w2 w3", "w4", "w5 w69999 w6", "w7"]  # the large id comes in the 3rd chunk
    tok = tokenize(words, lying, 8, cache=cache, chunk_size=1)
    assert tok.dtype == torch.int32
    ref = lying(words)["input_ids"]
    assert tok.ids.tolist() == [i for r in ref for i in r]
    assert tok.lengths.tolist() == [len(r) for r in ref]


def test_nbytes_is_two_bytes_per_token_for_uint16(bert_tokenizer, texts):
    tok = tokenize(texts * 20, bert_tokenizer, 32, cache=False)
    assert tok.nbytes == 2 * tok.num_tokens() + 8 * (len(tok) + 1)
    wide = TokenizedTexts(tok.ids.long(), tok.offsets, tok.pad_id)
    assert wide.dtype == torch.long and wide.nbytes == 8 * tok.num_tokens() + 8 * (len(tok) + 1)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("dtype", [torch.uint16, torch.int32, torch.int64])
def test_batch_matches_the_old_implementation(side, dtype):
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(0, 40, (300,), generator=gen)
    lengths[[5, 17]] = 0  # empty texts
    offsets = torch.zeros(301, dtype=torch.long)
    offsets[1:] = lengths.cumsum(0)
    ids = torch.randint(0, 65536, (int(offsets[-1]),), generator=gen).to(dtype)
    tok = TokenizedTexts(ids, offsets, pad_id=7, padding_side=side)
    batches = [torch.randperm(300, generator=gen)[:64] for _ in range(5)]
    batches += [torch.tensor([5, 17]), torch.tensor([3, 3, 5, 299]), torch.zeros(0).long()]
    for node_ids in batches:
        got, want = tok.batch(node_ids), old_batch(tok, node_ids)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == torch.long and torch.equal(g, w)
        assert tok.num_tokens(node_ids) == int(lengths[node_ids].sum())
    assert tok.num_tokens() == int(lengths.sum())
    # numpy arrays work as well (e.g. np.memmap)
    from_numpy = TokenizedTexts(ids.numpy(), offsets.numpy(), pad_id=7, padding_side=side)
    assert torch.equal(from_numpy.batch(batches[0])[0], tok.batch(batches[0])[0])


def test_cache_entry_is_memory_mapped_and_reused(bert_tokenizer, texts, cache_root, monkeypatch):
    many = [f"{t} {i}" for i in range(7) for t in texts]
    memory = tokenize(many, bert_tokenizer, 12, cache=False)
    calls = count_tokenizer_calls(monkeypatch, bert_tokenizer)
    built = tokenize(many, bert_tokenizer, 12, chunk_size=4, progress=False)
    assert len(calls) == 9
    (path,) = (cache_root / "tokens").glob("*.pt")
    assert all_files(cache_root) == [path.name]  # no temporary file left
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    reused = tokenize(many, bert_tokenizer, 12)
    assert len(calls) == 9  # the tokenizer was not called again
    for tok in (built, reused):
        assert tok.dtype == torch.uint16
        if os.path.exists("/proc/self/maps"):
            assert mapped_file(tok.ids) == str(path)
            assert mapped_file(tok.offsets) == str(path)
        assert torch.equal(tok.ids, memory.ids) and torch.equal(tok.offsets, memory.offsets)
        for side in ("right", "left"):
            tok.padding_side = memory.padding_side = side
            for node_ids in ([0, 34, 3, 3], torch.arange(len(many)).flip(0), [1]):
                for a, b in zip(tok.batch(node_ids), memory.batch(node_ids), strict=True):
                    assert torch.equal(a, b)
    reused.ids[0] = 999  # the mapping is private: the file on disk never changes
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert int(built.ids[0]) == 101


def test_interrupted_build_leaves_no_entry(bert_tokenizer, texts, cache_root, monkeypatch):
    calls = count_tokenizer_calls(monkeypatch, bert_tokenizer, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        tokenize(texts, bert_tokenizer, 16, chunk_size=2)
    assert all_files(cache_root) == []  # neither an entry nor a temporary file
    tok = tokenize(texts, bert_tokenizer, 16, chunk_size=2)
    assert len(calls) == 2 + 3
    assert len(cached_files(cache_root)) == 1
    ref = tokenize(texts, bert_tokenizer, 16, cache=False)
    assert torch.equal(tok.ids, ref.ids) and torch.equal(tok.offsets, ref.offsets)
    tokenize(texts, bert_tokenizer, 16)
    assert len(calls) == 5 + 1  # only the cache=False call


@pytest.mark.parametrize("damage", ["truncated", "inconsistent"])
def test_damaged_cache_entry_is_rebuilt(bert_tokenizer, texts, cache_root, monkeypatch, damage):
    ref = tokenize(texts, bert_tokenizer, 16)
    (path,) = (cache_root / "tokens").glob("*.pt")
    data = path.read_bytes()
    path.unlink()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # a readable entry for other texts: one text too few
        torch.save({"ids": ref.ids.clone(), "offsets": ref.offsets[:-1].clone()}, path)
    calls = count_tokenizer_calls(monkeypatch, bert_tokenizer)
    tok = tokenize(texts, bert_tokenizer, 16)
    assert len(calls) == 1
    assert torch.equal(tok.ids, ref.ids) and torch.equal(tok.offsets, ref.offsets)
    assert all_files(cache_root) == [path.name]
    tokenize(texts, bert_tokenizer, 16)
    assert len(calls) == 1


def test_progress_bar_counts_texts(bert_tokenizer, texts, monkeypatch, capsys):
    bars = []

    class Recorder:
        def __init__(self, **kwargs):
            self.kwargs, self.n = kwargs, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            self.n += n

    monkeypatch.setattr(tokens_module, "tqdm", Recorder)
    tokenize(texts, bert_tokenizer, 16, cache=False, chunk_size=2)
    tokenize(texts, bert_tokenizer, 16, cache=False, progress=False)
    assert [(b.kwargs["total"], b.n, b.kwargs["disable"]) for b in bars] == [
        (5, 5, False),
        (5, 5, True),
    ]
    monkeypatch.undo()
    tokenize(texts, bert_tokenizer, 16, cache=False, progress=False)
    assert capsys.readouterr().err == ""


def test_empty_texts(bert_tokenizer, cache_root):
    for cache in (False, None, None):
        tok = tokenize([], bert_tokenizer, 16, cache=cache)
        assert len(tok) == 0 and tok.num_tokens() == 0 and tok.batch([])[0].shape == (0, 0)
    assert len(cached_files(cache_root)) == 1
