r"""Decoder-only LMs (GPT-2, Llama) as LEADING text encoders: left padding, last-token pooling,
a pad token for tokenizers without one, and the two-pipeline trainer (with and without LoRA), with
tiny randomly initialised models."""

from __future__ import annotations

import pytest
import torch

from leading.data.graph import TextAttributedGraph
from leading.text.encoder import TextEncoder
from leading.train import LeadingTrainer

MAX_LEN = 16




@pytest.fixture
def make_decoder(request, gpt2_tokenizer, make_llama):
    r"""``make(arch, dtype)``: a fresh (model, tokenizer) pair, ``arch`` ``gpt2`` or ``llama``;
    the tokenizer has an EOS token and no pad token."""

    def make(arch: str, dtype: torch.dtype = torch.float64):
        if arch == "gpt2":
            model = request.getfixturevalue("tiny_gpt2").to(dtype)
        else:
            model = make_llama(len(gpt2_tokenizer), gpt2_tokenizer.eos_token_id, dtype=dtype)
        return model, gpt2_tokenizer

    return make


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_tokenizer_without_pad_token_gets_one(make_decoder, arch):
    model, tok = make_decoder(arch)
    assert tok.pad_token is None and model.config.pad_token_id is None
    enc = TextEncoder(model, tok)
    assert enc.decoder_only and enc.pooling == "last"
    assert tok.padding_side == "left"
    assert tok.pad_token == tok.eos_token and tok.pad_token_id == tok.eos_token_id
    assert model.config.pad_token_id == tok.eos_token_id


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_last_token_pooling_with_left_padding_equals_unpadded(make_decoder, texts, arch):
    model, tok = make_decoder(arch)
    enc = TextEncoder(model, tok, pooling="last", max_length=MAX_LEN, bf16=False)
    tokens = enc.tokenize(texts, cache=False)
    ids, mask = tokens.batch(torch.arange(len(texts)))
    assert not bool(mask[:, 0].all()) and bool(mask[:, -1].all())  # padded, on the left
    batched = enc.encode(tokens, torch.arange(len(texts)))
    assert torch.isfinite(batched).all()
    with torch.no_grad():
        for i, text in enumerate(texts):
            alone = tok(text, truncation=True, max_length=MAX_LEN)["input_ids"]
            hidden = model(input_ids=torch.tensor([alone])).last_hidden_state[0, -1]
            torch.testing.assert_close(batched[i], hidden.float(), atol=1e-6, rtol=1e-5)


def decoder_graph(texts: list[str], n: int = 20) -> TextAttributedGraph:
    r"""A ring of :obj:`n` nodes with texts from the tokenizer's vocabulary and 2 classes."""
    node_texts = [" ".join(texts[i % len(texts)].split()[: 2 + i % 4]) for i in range(n)]
    src = torch.arange(n)
    edge_index = torch.stack([src, (src + 2) % n])
    return TextAttributedGraph(node_texts, edge_index, src % 2, ["even", "odd"], name="ring")


@pytest.mark.parametrize("arch, lora_r", [("gpt2", 0), ("llama", 0), ("llama", 2)])
def test_two_pipeline_training_updates_the_decoder(make_decoder, tiny_config, texts, arch, lora_r):
    from leading.text.lora import maybe_apply_lora

    model, tok = make_decoder(arch, torch.float32)
    enc = TextEncoder(model, tok, max_length=MAX_LEN, bf16=False, name=arch)
    graph = decoder_graph(texts)
    splits = {
        "train": torch.arange(0, 8),
        "valid": torch.arange(8, 14),
        "test": torch.arange(14, 20),
    }
    cfg = tiny_config(epochs=1, max_length=MAX_LEN, lora_r=lora_r)
    info = maybe_apply_lora(enc, cfg.lora_r, seed=0, log=False)
    assert (info["fraction"] < 0.5) == (lora_r > 0)
    before = {n: p.detach().clone() for n, p in enc.named_parameters()}
    res = LeadingTrainer(graph, splits, enc, cfg, seed=0).fit()
    assert res.best_epoch == 1 and len(res.history) == 2
    assert res.embeddings.shape == (20, 32) and torch.isfinite(res.embeddings).all()
    after = dict(enc.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    trainable = {n for n, p in after.items() if p.requires_grad}
    assert changed and changed <= trainable
    if lora_r:
        assert all("lora_" in n for n in changed)
    else:  # the transformer blocks themselves were updated
        assert any(".0." in n or ".1." in n for n in changed)
