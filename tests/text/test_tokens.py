import copy

import pytest
import torch
from transformers import AutoTokenizer

from leading.text.tokens import TokenizedTexts, cache_dir, tokenize, tokenizer_fingerprint


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
