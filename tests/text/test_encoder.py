import json

import pytest
import torch
import torch.nn.functional as F

import leading.text.precision as precision_module
from leading.errors import ModelError
from leading.text.encoder import TextEncoder, pool
from leading.text.models import is_decoder_only
from leading.text.precision import resolve_precision
from leading.text.tokens import tokenize

MAX_LEN = 12


@torch.no_grad()
def reference(model, tokenizer, texts, pooling):
    r"""Slow reference: every text alone, unpadded, pooled by hand."""
    rows = []
    for t in texts:
        ids = tokenizer(t, truncation=True, max_length=MAX_LEN)["input_ids"]
        h = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
        rows.append({"cls": h[0], "mean": h.mean(0), "last": h[-1]}[pooling])
    return torch.stack(rows).float()


# ------------------------------------------------------------------ pool()
def test_pool_by_hand():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float).view(2, 4, 1)  # values 0..7
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    left = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])
    assert pool(hidden, right, "cls").view(-1).tolist() == [0, 4]
    assert pool(hidden, right, "mean").view(-1).tolist() == [1, 4.5]
    assert pool(hidden, right, "last").view(-1).tolist() == [2, 5]
    assert pool(hidden, left, "cls").view(-1).tolist() == [1, 6]
    assert pool(hidden, left, "mean").view(-1).tolist() == [2, 6.5]
    assert pool(hidden, left, "last").view(-1).tolist() == [3, 7]
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        pool(hidden, right, "max")


# ------------------------------------------------------------------ BERT
@pytest.mark.parametrize("pooling", ["cls", "mean", "last"])
def test_bert_poolings_equal_unpadded_reference(tiny_bert, bert_tokenizer, texts, pooling):
    enc = TextEncoder(tiny_bert, bert_tokenizer, pooling=pooling, max_length=MAX_LEN, bf16=False)
    assert not enc.decoder_only and bert_tokenizer.padding_side == "right"
    tokens = enc.tokenize(texts, cache=False)
    ids, mask = tokens.batch(torch.arange(len(texts)))
    assert not bool(mask.all())  # the batch really is padded
    out = enc.encode(tokens, torch.arange(len(texts)))
    assert out.dtype == torch.float32 and out.shape == (len(texts), 32)
    ref = reference(tiny_bert, bert_tokenizer, texts, pooling)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)


def test_cls_is_position_zero_for_right_padding(tiny_bert, bert_tokenizer, texts):
    enc = TextEncoder(tiny_bert, bert_tokenizer, pooling="cls", max_length=MAX_LEN)
    tokens = enc.tokenize(texts, cache=False)
    ids, mask = tokens.batch(torch.arange(5))
    assert (ids[:, 0] == bert_tokenizer.cls_token_id).all()
    with torch.no_grad():
        hidden = tiny_bert(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(enc(ids, mask), hidden[:, 0].float())


def test_default_pooling_and_bad_pooling(tiny_bert, bert_tokenizer, tiny_gpt2, gpt2_tokenizer):
    assert TextEncoder(tiny_bert, bert_tokenizer).pooling == "mean"
    assert TextEncoder(tiny_gpt2, gpt2_tokenizer).pooling == "last"
    with pytest.raises(ValueError, match="unknown pooling 'first'"):
        TextEncoder(tiny_bert, bert_tokenizer, pooling="first")


# ------------------------------------------------------------------ GPT-2
def test_decoder_only_detection_sets_left_padding_and_pad_token(tiny_gpt2, gpt2_tokenizer):
    assert gpt2_tokenizer.pad_token is None and gpt2_tokenizer.padding_side == "right"
    assert tiny_gpt2.config.pad_token_id is None
    enc = TextEncoder(tiny_gpt2, gpt2_tokenizer)
    assert enc.decoder_only
    assert gpt2_tokenizer.padding_side == "left"
    assert gpt2_tokenizer.pad_token == gpt2_tokenizer.eos_token == "<eos>"
    assert tiny_gpt2.config.pad_token_id == gpt2_tokenizer.eos_token_id
    assert enc.tokenize(["a b"], cache=False).padding_side == "left"


def test_decoder_only_keeps_an_existing_pad_token(tiny_gpt2, bert_tokenizer):
    enc = TextEncoder(tiny_gpt2, bert_tokenizer)
    assert enc.decoder_only and bert_tokenizer.padding_side == "left"
    assert bert_tokenizer.pad_token == "[PAD]"


@pytest.mark.parametrize("pooling", ["cls", "mean", "last"])
def test_gpt2_left_padding_equals_unpadded_reference(tiny_gpt2, gpt2_tokenizer, texts, pooling):
    enc = TextEncoder(tiny_gpt2, gpt2_tokenizer, pooling=pooling, max_length=MAX_LEN)
    tokens = enc.tokenize(texts, cache=False)
    ids, mask = tokens.batch(torch.arange(len(texts)))
    assert not bool(mask[:, 0].all()) and bool(mask[:, -1].all())  # padded on the left
    out = enc.encode(tokens, torch.arange(len(texts)))
    ref = reference(tiny_gpt2, gpt2_tokenizer, texts, pooling)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["cls", "mean", "last"])
def test_gpt2_right_padding_equals_unpadded_reference(tiny_gpt2, gpt2_tokenizer, texts, pooling):
    enc = TextEncoder(tiny_gpt2, gpt2_tokenizer, pooling=pooling, max_length=MAX_LEN)
    tokens = tokenize(texts, gpt2_tokenizer, MAX_LEN, cache=False, padding_side="right")
    ids, mask = tokens.batch(torch.arange(len(texts)))
    assert bool(mask[:, 0].all()) and not bool(mask[:, -1].all())  # padded on the right
    out = enc.encode(tokens, torch.arange(len(texts)))
    ref = reference(tiny_gpt2, gpt2_tokenizer, texts, pooling)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)


def test_is_decoder_only():
    from transformers import BertConfig, GPT2Config, LlamaConfig, T5Config

    assert is_decoder_only(GPT2Config())
    assert is_decoder_only(LlamaConfig())
    assert not is_decoder_only(BertConfig())
    assert not is_decoder_only(T5Config())
    custom = BertConfig(architectures=["MyNewForCausalLM"])
    assert is_decoder_only(custom)


# ------------------------------------------------------------------ encode_all
@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_encode_all_returns_node_order(request, texts, model):
    lm = request.getfixturevalue(f"tiny_{model}")
    tokenizer = request.getfixturevalue(f"{model}_tokenizer")
    enc = TextEncoder(lm, tokenizer, max_length=MAX_LEN)
    tokens = enc.tokenize(texts, cache=False)
    assert not torch.equal(
        torch.argsort(tokens.lengths, descending=True, stable=True), torch.arange(len(texts))
    )  # length sorting does reorder these texts
    enc.train()
    full = enc.encode_all(tokens, batch_size=2, progress=False)
    assert enc.training  # mode restored
    assert full.shape == (len(texts), 32) and not full.requires_grad
    enc.eval()
    with torch.no_grad():
        per_node = torch.cat([enc.encode(tokens, torch.tensor([i])) for i in range(len(texts))])
        one_batch = enc.encode(tokens, torch.arange(len(texts)))
    torch.testing.assert_close(full, per_node, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(full, one_batch, atol=1e-6, rtol=1e-5)
    subset = torch.tensor([4, 0, 2])
    part = enc.encode_all(tokens, subset, batch_size=2, progress=False)
    torch.testing.assert_close(part, full[subset], atol=1e-6, rtol=1e-5)


def test_encode_has_gradients_in_train_mode(tiny_bert, bert_tokenizer, texts):
    enc = TextEncoder(tiny_bert, bert_tokenizer, max_length=MAX_LEN).train()
    out = enc.encode(enc.tokenize(texts, cache=False), torch.tensor([0, 2]))
    out.sum().backward()
    assert tiny_bert.embeddings.word_embeddings.weight.grad is not None


def test_bf16_autocast_returns_float32(make_bert, bert_tokenizer, texts):
    model = make_bert(len(bert_tokenizer), dtype=torch.float32)
    fp32 = TextEncoder(model, bert_tokenizer, max_length=MAX_LEN, bf16=False)
    bf16 = TextEncoder(model, bert_tokenizer, max_length=MAX_LEN, bf16=True)
    tokens = fp32.tokenize(texts, cache=False)
    a = fp32.encode_all(tokens, progress=False)
    b = bf16.encode_all(tokens, progress=False)
    assert b.dtype == torch.float32
    assert not torch.equal(a, b)  # bf16 really was used ...
    torch.testing.assert_close(a, b, atol=0.1, rtol=0.05)  # ... and is close


@pytest.mark.parametrize("bf16", [False, True])
def test_precision_and_reason_of_an_explicit_setting(tiny_bert, bert_tokenizer, bf16):
    enc = TextEncoder(tiny_bert, bert_tokenizer, max_length=MAX_LEN, bf16=bf16)
    assert enc.precision == ("bf16" if bf16 else "fp32") and enc.bf16 is bf16
    assert enc.precision_reason == "set explicitly"
    assert f"precision={enc.precision!r}" in repr(enc)


@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16"])
def test_a_precision_name_is_resolved_for_the_model_device(tiny_bert, bert_tokenizer, precision):
    enc = TextEncoder(tiny_bert, bert_tokenizer, max_length=MAX_LEN, bf16=precision)
    assert (enc.precision, enc.precision_reason) == resolve_precision(precision, "cpu")


def test_from_pretrained_resolves_auto_like_every_entry_point(tiny_bert, bert_tokenizer, tmp_path):
    tiny_bert.float().save_pretrained(tmp_path / "lm")
    bert_tokenizer.save_pretrained(tmp_path / "lm")
    enc = TextEncoder.from_pretrained(tmp_path / "lm", max_length=MAX_LEN, precision="auto")
    used, reason = resolve_precision("auto", "cpu")
    assert (enc.precision, enc.precision_reason) == (used, reason)
    assert enc.bf16 is (used == "bf16") and reason.startswith("auto: CPU")
    # fp32 by default (as before), explicit settings kept, the former bf16 flag still read
    assert TextEncoder.from_pretrained(tmp_path / "lm").precision == "fp32"
    assert TextEncoder.from_pretrained(tmp_path / "lm", precision="bf16").precision == "bf16"
    assert TextEncoder.from_pretrained(tmp_path / "lm", precision=True).precision == "bf16"
    assert TextEncoder.from_pretrained(tmp_path / "lm", bf16=False).precision == "fp32"
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        TextEncoder.from_pretrained(tmp_path / "lm", precision="fp16")


def test_auto_on_a_cpu_without_native_bf16_is_plain_fp32(tiny_bert, bert_tokenizer, texts,
                                                         monkeypatch):
    monkeypatch.setattr(precision_module, "_proc_cpuinfo", lambda: "flags : fpu sse2 avx2")
    auto = TextEncoder(tiny_bert, bert_tokenizer, max_length=MAX_LEN, bf16="auto")
    assert auto.precision == "fp32" and not auto.bf16
    plain = TextEncoder(tiny_bert, bert_tokenizer, max_length=MAX_LEN, bf16=False)
    tokens = plain.tokenize(texts, cache=False)
    torch.testing.assert_close(auto.encode_all(tokens, progress=False),
                               plain.encode_all(tokens, progress=False), atol=0, rtol=0)
    monkeypatch.setattr(precision_module, "_proc_cpuinfo", lambda: "flags : avx2 amx_bf16")
    assert TextEncoder(tiny_bert, bert_tokenizer, bf16="auto").precision == "bf16"


# ------------------------------------------------------------------ loading
def test_save_and_load_round_trip(tiny_bert, bert_tokenizer, texts, tmp_path):
    enc = TextEncoder(tiny_bert.float(), bert_tokenizer, pooling="cls", max_length=MAX_LEN)
    enc.save_pretrained(tmp_path / "lm")
    assert (tmp_path / "lm" / "config.json").exists()
    back = TextEncoder.from_pretrained(tmp_path / "lm", pooling="cls", max_length=MAX_LEN)
    assert back.hidden_size == 32 and back.pooling == "cls" and not back.decoder_only
    tokens = enc.tokenize(texts, cache=False)
    torch.testing.assert_close(
        back.encode_all(tokens, progress=False), enc.encode_all(tokens, progress=False)
    )
    assert "dim=32" in repr(back) and "pooling='cls'" in repr(back)


def test_from_pretrained_of_incomplete_directory(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match="could not load model"):
        TextEncoder.from_pretrained(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="needs a config.json"):
        TextEncoder.from_pretrained(tmp_path / "empty")


@pytest.mark.slow
def test_minilm_embeds_related_titles_closer():
    enc = TextEncoder.from_pretrained("minilm", max_length=64)
    assert enc.pooling == "mean" and enc.hidden_size == 384
    titles = [
        "Training deep neural networks with stochastic gradient descent",
        "Backpropagation and learning rates for training neural networks",
        "Rhyme and meter in medieval French troubadour poetry",
    ]
    x = enc.encode_all(enc.tokenize(titles), progress=False)
    related = F.cosine_similarity(x[0], x[1], dim=0)
    assert related > F.cosine_similarity(x[0], x[2], dim=0) + 0.1
    assert related > F.cosine_similarity(x[1], x[2], dim=0) + 0.1


@pytest.mark.parametrize("damage", ["truncated_weights", "bad_config_json"])
def test_from_pretrained_of_damaged_directory_names_it(tiny_bert, bert_tokenizer, tmp_path,
                                                       damage):
    TextEncoder(tiny_bert, bert_tokenizer, "mean", MAX_LEN).save_pretrained(tmp_path / "lm")
    if damage == "truncated_weights":
        (weights,) = (tmp_path / "lm").glob("*.safetensors")
        weights.write_bytes(weights.read_bytes()[:100])
    else:
        (tmp_path / "lm" / "config.json").write_text('{"model_type": ')
    with pytest.raises(ModelError, match=rf"could not load model .* from {tmp_path / 'lm'} "
                                         r"\(.+\); a model directory needs config.json"):
        TextEncoder.from_pretrained(tmp_path / "lm")
